"""``agentmem mcp --db PATH [--user NAME]``: a Model Context Protocol server for one user."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from agentmem.cli._common import DB_HELP, add_db_argument

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``mcp`` command."""
    from agentmem.cli.serve import add_embedder_argument

    parser = sub.add_parser(
        "mcp", help="serve one user's memories to an MCP client (remember, recall, forget, list)"
    )
    add_db_argument(parser, help=f"{DB_HELP} (created if missing)")
    parser.add_argument("--user", help="whose memories (default: your login name)")
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1", help="for --transport http")
    parser.add_argument("--port", type=int, default=8766, help="for --transport http (path /mcp)")
    add_embedder_argument(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from agentmem.cli.serve import open_memory
    from agentmem.server.mcp import run_mcp_server

    user = args.user or getpass.getuser()
    with open_memory(args.db, embedder=args.embedder) as memory:
        if args.transport == "http":
            print(
                f"agentmem mcp: {user}'s memories on http://{args.host}:{args.port}/mcp",
                file=sys.stderr,
            )
        run_mcp_server(memory, user, transport=args.transport, host=args.host, port=args.port)
    return 0
