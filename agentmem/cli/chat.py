"""``agentmem chat --db PATH|URL --user NAME``: talk to an agent that remembers across runs."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from agentmem.cli._common import DB_HELP, add_db_argument, open_memory

__all__ = ["register"]

_HELP = """commands: /memories (list what is remembered), /forget (forget everything of you),
          /quit (or Ctrl-D)"""


def register(sub: Any) -> None:
    """Add the ``chat`` command."""
    parser = sub.add_parser("chat", help="an interactive chat whose memory persists across runs")
    add_db_argument(parser, help=f"{DB_HELP} (created if missing)")
    parser.add_argument("--user", required=True, help="who is talking")
    parser.add_argument("--session", help="session id (default: one per run)")
    parser.add_argument("--base-url", help="an OpenAI-compatible server instead of the local model")
    parser.add_argument("--model", default="default", help="model name for --base-url")
    parser.add_argument(
        "--show-memory",
        action="store_true",
        help="print what was recalled, written and updated each turn",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import uuid

    from agentmem import Agent
    from agentmem.cli._confirm import check_db
    from agentmem.cli._status import status
    from agentmem.llms import LocalLLM, OpenAICompatibleLLM

    session = args.session or uuid.uuid4().hex[:8]
    db = check_db(args.db)  # a file given as --db: one clear line, before anything loads
    local = not args.base_url
    with status(
        "loading the offline models" + (" (the first run prepares them: ~20 s)" if local else ""),
        done="ready",
    ):
        llm: Any = LocalLLM() if local else OpenAICompatibleLLM(args.base_url, args.model)
        memory = open_memory(db, must_exist=False)
        load = getattr(llm, "load", None)
        if callable(load):
            load()
        memory.search("hello", user_id=args.user, k=1)  # loads the embedding model now
    with memory:
        agent = Agent(llm=llm, memory=memory)
        print(f"agentmem chat: {memory.count(user_id=args.user)} memories of {args.user}. " + _HELP)
        while True:
            try:
                message = input(f"{args.user}> ").strip()
            except EOFError:
                print()
                return 0
            if not message:
                continue
            if message in {"/quit", "/exit"}:
                return 0
            if message == "/memories":
                for item in memory.items(user_id=args.user):
                    print(f"  [{item.kind.value}] {item.created_at:%Y-%m-%d} {item.text}")
                continue
            if message == "/forget":
                count = memory.count(user_id=args.user)
                try:  # the chat reads its answers from stdin, so a piped "y" works too
                    answer = input(f"  Forget all {count} memories of {args.user}? [y/N] ")
                except EOFError:
                    answer = ""
                if answer.strip().lower() in {"y", "yes"}:
                    print(f"  forgot {memory.forget(user_id=args.user)} memories")
                else:
                    print("  nothing forgotten")
                continue
            print("agent> ", end="", flush=True)
            reply = agent.chat(
                message,
                user_id=args.user,
                session_id=session,
                on_text=lambda piece: print(piece, end="", flush=True),
            )
            print()
            if args.show_memory:
                for hit in reply.recalled:
                    print(f"  recalled {hit.score:.2f}: {hit.item.text}", file=sys.stderr)
                for item in reply.written:
                    print(f"  wrote [{item.kind.value}]: {item.text}", file=sys.stderr)
                for item in reply.updated:
                    print(f"  updated: {item.text}", file=sys.stderr)
