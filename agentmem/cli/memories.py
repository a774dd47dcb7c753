"""``agentmem memories list|show|history|forget --db PATH|URL``: look into a memory."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from agentmem._errors import NotFoundError, UserError
from agentmem.cli._common import add_db_argument, open_memory

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``memories`` command group."""
    parser = sub.add_parser("memories", help="list, show, trace or forget stored memories")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        add_db_argument(p)

    p = actions.add_parser("list", help="list memories, newest last")
    common(p)
    p.add_argument("--user", help="only this user's memories")
    p.add_argument("--all", action="store_true", help="include closed (superseded) memories")
    p.add_argument("--json", action="store_true", help="print JSON lines")
    p.set_defaults(func=_list)

    p = actions.add_parser("show", help="show one memory in full")
    common(p)
    p.add_argument("id")
    p.set_defaults(func=_show)

    p = actions.add_parser("history", help="every change to one memory, with reasons")
    common(p)
    p.add_argument("id")
    p.set_defaults(func=_history)

    p = actions.add_parser("forget", help="delete memories for good")
    common(p)
    p.add_argument("--user", required=True, help="whose memories")
    p.add_argument("ids", nargs="*", help="the memories to forget (default: all of the user's)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=_forget)


def _open(args: argparse.Namespace) -> Any:
    from agentmem.cli._confirm import check_db, stored_embedder

    return open_memory(check_db(args.db), embedder=stored_embedder(args.db))


def _list(args: argparse.Namespace) -> int:
    with _open(args) as memory:
        items = memory.items(user_id=args.user, include_closed=args.all)
        for item in items:
            if args.json:
                print(item.model_dump_json())
                continue
            state = "" if item.valid_to is None else f"  [closed {item.valid_to:%Y-%m-%d}]"
            print(
                f"{item.id}  {item.created_at:%Y-%m-%d %H:%M}  {item.scope.user_id:<10} "
                f"{item.kind.value:<8} {item.text[:70]}{state}"
            )
        print(f"{len(items)} memories", file=sys.stderr)
    return 0


def _show(args: argparse.Namespace) -> int:
    with _open(args) as memory:
        print(json.dumps(memory.get(args.id).model_dump(mode="json"), indent=2))
    return 0


def _history(args: argparse.Namespace) -> int:
    with _open(args) as memory:
        events = memory.history(args.id)
        if not events:
            msg = f"no history for {args.id!r} in {args.db} (see `agentmem memories list`)"
            raise UserError(msg)
        print(f"{'event':>6}  {'time (UTC)':<16}  {'op':<7} {'by':<12} reason")
        for event in events:
            print(
                f"{event.id:>6}  {event.at:%Y-%m-%d %H:%M}  {event.op.value:<7} "
                f"{event.policy or '-':<12} {event.reason}"
            )
            if event.before:
                print(f"{'':>8}before: {json.dumps(event.before, default=str)[:300]}")
            if event.after:
                print(f"{'':>8}after:  {json.dumps(event.after, default=str)[:300]}")
        try:
            memory.get(args.id)
        except NotFoundError:
            print("(this memory no longer exists; undo its forget event to restore it)")
        print(f"undo a change: agentmem policies undo --db {args.db} EVENT", file=sys.stderr)
    return 0


def _forget(args: argparse.Namespace) -> int:
    from agentmem.cli._confirm import confirm

    with _open(args) as memory:
        what = f"{len(args.ids)} memories" if args.ids else f"ALL memories of {args.user}"
        if not confirm(f"Forget {what} for good?", yes=args.yes):
            print("nothing forgotten")
            return 1
        removed = memory.forget(user_id=args.user, ids=args.ids or None)
        print(f"forgot {removed} memories")
    return 0
