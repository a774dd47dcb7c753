"""``agentmem thoughts list|search --db PATH``: look into a thought store (Think-in-Memory)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from agentmem._errors import UserError
from agentmem.cli._common import is_postgres

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``thoughts`` command group."""
    parser = sub.add_parser("thoughts", help="list or search the thoughts an agent keeps")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", required=True, help="the ThoughtStore folder (holds thought.sqlite)")
        p.add_argument("--user", help="only this user's thoughts")

    p = actions.add_parser("list", help="list thoughts with their triples, oldest first")
    common(p)
    p.add_argument("--all", action="store_true", help="include closed (merged) thoughts")
    p.set_defaults(func=_list)

    p = actions.add_parser("search", help="recall the thoughts closest to a query (LSH)")
    common(p)
    p.add_argument("query")
    p.add_argument("-k", type=int, default=5, help="how many thoughts (default 5)")
    p.set_defaults(func=_search)


def _open(args: argparse.Namespace) -> Any:
    from pathlib import Path

    from agentmem.embedders import SentenceTransformerEmbedder
    from agentmem.stores import ThoughtStore

    if is_postgres(args.db):
        msg = "thought stores keep their data in SQLite: --db takes a folder here, not a URL"
        raise UserError(msg)
    folder = Path(args.db).expanduser()
    if not (folder / "thought.sqlite").exists():
        msg = f"no thought store at {folder} (expected {folder / 'thought.sqlite'})"
        raise UserError(msg)
    return ThoughtStore(folder, SentenceTransformerEmbedder())


def _line(item: Any) -> str:
    meta = item.metadata
    triple = (
        f"  [{meta['subject']} | {meta['relation']} | {meta['object']}]"
        if {"subject", "relation", "object"} <= meta.keys()
        else ""
    )
    state = "" if item.valid_to is None else "  (closed)"
    when = f"{item.created_at:%Y-%m-%d}"
    return f"{item.id}  {when}  {item.scope.user_id:<10} {item.text}{triple}{state}"


def _list(args: argparse.Namespace) -> int:
    from agentmem import Filters, Kind, Scope

    store = _open(args)
    try:
        scope = None if args.user is None else Scope(user_id=args.user)
        items = list(
            store.scan(scope=scope, filters=Filters(kinds=(Kind.THOUGHT,)), include_closed=args.all)
        )
        for item in items:
            print(_line(item))
        print(f"{len(items)} thoughts", file=sys.stderr)
    finally:
        store.close()
    return 0


def _search(args: argparse.Namespace) -> int:
    from agentmem import Scope

    if args.user is None:
        msg = "thoughts search needs --user: a search never crosses users"
        raise UserError(msg)
    store = _open(args)
    try:
        for hit in store.search(args.query, scope=Scope(user_id=args.user), k=args.k):
            print(f"{hit.score:.3f}  {_line(hit.item)}")
        print(f"{store.last_scored} similarities computed", file=sys.stderr)
    finally:
        store.close()
    return 0
