"""``agentmem serve --db PATH --keys KEYS.json``: the HTTP API and the inspector page.

Each uvicorn worker process builds its own application through :func:`app_from_env`
(uvicorn needs an import string to start several workers), reading the settings this
command leaves in the environment variable ``AGENTMEM_SERVE``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from agentmem._errors import MissingDependencyError, UserError
from agentmem.cli._common import DB_HELP, add_db_argument

__all__ = ["app_from_env", "open_memory", "register"]

_ENV = "AGENTMEM_SERVE"


def register(sub: Any) -> None:
    """Add the ``serve`` command."""
    parser = sub.add_parser("serve", help="serve a memory over HTTP, with an inspector page")
    add_db_argument(parser, help=f"{DB_HELP} (created if missing)")
    parser.add_argument("--keys", required=True, help='KEYS.json: {"KEY": ["alice"], "KEY2": "*"}')
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    add_embedder_argument(parser)
    parser.add_argument(
        "--policy", help="retention policies, e.g. update+decay:threshold=0.2 (default: update)"
    )
    parser.add_argument("--llm-url", help="an OpenAI-compatible server for POST /v1/chat")
    parser.add_argument("--llm-model", default="default", help="the model name for --llm-url")
    parser.add_argument(
        "--local-llm", action="store_true", help="answer POST /v1/chat with the bundled local model"
    )
    parser.add_argument("--max-body-bytes", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s per key (0: off)")
    parser.add_argument(
        "--burst", type=int, help="requests a key may make at once (default 2x rate)"
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.set_defaults(func=_run)


def add_embedder_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--embedder`` option shared by ``serve`` and ``mcp``."""
    parser.add_argument(
        "--embedder",
        choices=["default", "hash"],
        default="default",
        help="default: the bundled MiniLM model; hash: agentmem.testing.HashEmbedder (no model, "
        "for tests and demos; a memory keeps the embedder it was built with)",
    )


def open_memory(db: str, *, embedder: str = "default", policy: str | None = None) -> Any:
    """Open (or create) the memory at ``db`` (a folder or URL) the way ``serve`` and ``mcp`` do."""
    from agentmem.cli._common import open_memory as open_db

    options: dict[str, Any] = {}
    if policy is not None:
        from agentmem.policies import parse_spec

        options["policies"] = [parse_spec(policy)]
    return open_db(db, must_exist=False, embedder=embedder, **options)


def _llm(config: dict[str, Any]) -> Any:
    if config.get("llm_url"):
        from agentmem.llms import OpenAICompatibleLLM

        return OpenAICompatibleLLM(config["llm_url"], config.get("llm_model") or "default")
    if config.get("local_llm"):
        from agentmem.llms import LocalLLM

        return LocalLLM()
    return None


def app_from_env() -> Any:
    """Build the application from the settings ``agentmem serve`` put in ``AGENTMEM_SERVE``."""
    from agentmem import Agent
    from agentmem.server import Keys, create_app

    raw = os.environ.get(_ENV)
    if not raw:
        msg = f"{_ENV} is not set; start the server with `agentmem serve`"
        raise UserError(msg)
    config = json.loads(raw)
    memory = open_memory(config["db"], embedder=config["embedder"], policy=config["policy"])
    llm = _llm(config)
    return create_app(
        memory,
        Keys.load(config["keys"]),
        agent=None if llm is None else Agent(llm=llm, memory=memory),
        max_body_bytes=config["max_body_bytes"],
        rate=config["rate"],
        burst=config["burst"],
        close_memory=True,
    )


def _run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from agentmem.server import Keys
    except ImportError as exc:
        raise MissingDependencyError.for_extra(
            exc.name or "fastapi", "server", "agentmem serve"
        ) from exc
    if args.workers < 1:
        msg = f"--workers must be at least 1, got {args.workers}"
        raise UserError(msg)
    keys = Keys.load(args.keys)
    # Open once here: bad paths and options fail before any worker starts, and the folder
    # exists before several workers open it at once.
    open_memory(args.db, embedder=args.embedder, policy=args.policy).close()
    config = {
        "db": args.db,
        "keys": str(Path(args.keys).expanduser().resolve()),
        "embedder": args.embedder,
        "policy": args.policy,
        "llm_url": args.llm_url,
        "llm_model": args.llm_model,
        "local_llm": args.local_llm,
        "max_body_bytes": args.max_body_bytes,
        "rate": args.rate,
        "burst": args.burst,
    }
    os.environ[_ENV] = json.dumps(config)
    print(
        f"agentmem serve: {args.db} on http://{args.host}:{args.port} "
        f"({len(keys)} keys, {args.workers} workers); inspector at /, API docs at /docs",
        file=sys.stderr,
    )
    uvicorn.run(
        "agentmem.cli.serve:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
    )
    return 0
