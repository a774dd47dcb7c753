"""The ``agentmem`` command line: each command group is a module of this package.

A module here exposes ``register(subparsers)``, which adds its sub-command(s) with a
``func(args) -> int`` default. Add a module's name to ``COMMAND_MODULES`` to enable it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from agentmem._errors import AgentMemError, UserError

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

COMMAND_MODULES = [
    "demo",
    "chat",
    "memories",
    "policies",
    "thoughts",
    "symbolic",
    "eval",
    "migrate",
    "serve",
    "mcp",
]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every registered command."""
    parser = argparse.ArgumentParser(
        prog="agentmem", description="Long-term memory for LLM agents, offline by default."
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more (-v: info, -vv: debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"agentmem.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"agentmem: error: {exc}", file=sys.stderr)
        return 2
    except AgentMemError as exc:
        print(f"agentmem: failed: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file where a folder should be, no permission, a full disk
        print(f"agentmem: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("agentmem: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
