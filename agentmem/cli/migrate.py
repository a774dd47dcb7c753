"""``agentmem migrate --from PATH --to postgresql://...``: copy a memory to another backend."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from agentmem.cli._common import DB_HELP, open_memory

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``migrate`` command."""
    parser = sub.add_parser(
        "migrate",
        help="copy memories, embeddings, facts and audit history to another backend (resumable)",
        description="Copy every memory, its embedding, structured facts and the audit history "
        "from one memory "
        "into another, e.g. a folder into PostgreSQL. Interrupted? Run the same command again: "
        "it skips what is already there. It ends with a count check.",
    )
    parser.add_argument("--from", dest="source", required=True, metavar="PATH|URL", help=DB_HELP)
    parser.add_argument("--to", dest="target", required=True, metavar="PATH|URL", help=DB_HELP)
    parser.add_argument("--batch", type=int, default=500, help="memories per committed batch")
    parser.add_argument(
        "--embedder",
        choices=["default", "hash"],
        default="default",
        help="the embedder the source was built with (hash: agentmem.testing.HashEmbedder)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from agentmem import copy_memory

    with open_memory(args.source, embedder=args.embedder, policies=[]) as source:
        embedder = source.embedder
        with open_memory(args.target, must_exist=False, embedder=embedder, policies=[]) as target:
            report = copy_memory(source, target, batch=args.batch, progress=not args.quiet)
    print(
        f"copied {report.memories_copied} memories ({report.memories_already_there} were "
        f"already there; {report.embeddings_copied} embeddings reused) and "
        f"{report.events_copied} audit events"
    )
    print(
        f"count check: {report.memories_in_source} memories and {report.events_in_source} "
        "events in the source, all present in the target",
        file=sys.stderr,
    )
    return 0
