"""``agentmem symbolic tables|sql|ask|record|facts|set-fact --db PATH``: symbolic memory.

``ask`` and ``record`` need a model (the local one, or ``--base-url`` for an
OpenAI-compatible server); ``tables``, ``sql``, ``facts`` and ``set-fact`` need none.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from agentmem._errors import InvalidInputError, UserError
from agentmem.cli._common import is_postgres

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``symbolic`` command group."""
    parser = sub.add_parser("symbolic", help="SQL records the model reads and writes (ChatDB)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser, *, user: bool = True) -> None:
        p.add_argument("--db", required=True, help="the symbolic store's folder")
        if user:
            p.add_argument("--user", required=True, help="whose records")

    def model(p: argparse.ArgumentParser) -> None:
        p.add_argument("--base-url", help="an OpenAI-compatible server instead of the local model")
        p.add_argument("--model", default="default", help="model name for --base-url")
        p.add_argument("--max-steps", type=int, help="the most SQL steps")
        p.add_argument(
            "--schema-mode",
            choices=["off", "allow"],
            default="off",
            help="allow the model to create a table when none fits (default: off)",
        )

    p = actions.add_parser("tables", help="the record tables and their columns")
    common(p, user=False)
    p.set_defaults(func=_tables)

    p = actions.add_parser("sql", help="run one statement through the sandbox as a user")
    common(p)
    p.add_argument("statement")
    p.add_argument("--params", default="[]", help="JSON list of values for the ? marks")
    p.set_defaults(func=_sql)

    p = actions.add_parser("ask", help="answer a question through a chain of SQL steps")
    common(p)
    model(p)
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    p.set_defaults(func=_ask)

    p = actions.add_parser("record", help="let the model store a statement as rows")
    common(p)
    model(p)
    p.add_argument("text")
    p.set_defaults(func=_record)

    p = actions.add_parser("facts", help="a user's structured facts, now or at a date")
    common(p)
    p.add_argument("--subject", help="only this subject (default: every subject)")
    p.add_argument("--as-of", help="the facts as they were then (ISO date or time, UTC)")
    p.add_argument("--history", metavar="ATTRIBUTE", help="every value of one attribute")
    p.set_defaults(func=_facts)

    p = actions.add_parser("set-fact", help="set subject.attribute = value (closes the old one)")
    common(p)
    p.add_argument("subject")
    p.add_argument("attribute")
    p.add_argument("value")
    p.add_argument("--at", help="when it became true (ISO date or time, UTC; default now)")
    p.set_defaults(func=_set_fact)


def _open(args: argparse.Namespace, *, create: bool = False) -> Any:
    from pathlib import Path

    from agentmem.stores import SymbolicStore

    if is_postgres(args.db):
        msg = "symbolic stores keep their data in SQLite: --db takes a folder here, not a URL"
        raise UserError(msg)
    folder = Path(args.db).expanduser()
    if not create and not (folder / "symbolic.sqlite").exists():
        msg = f"no symbolic store at {folder} (expected {folder / 'symbolic.sqlite'})"
        raise UserError(msg)
    return SymbolicStore(folder)


def _llm(args: argparse.Namespace) -> Any:
    from agentmem.llms import LocalLLM, OpenAICompatibleLLM

    return OpenAICompatibleLLM(args.base_url, args.model) if args.base_url else LocalLLM()


def _when(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        msg = (
            f"{flag} {text!r} is not an ISO date or time; write e.g. 2024-06-01 or 2024-06-01T12:00"
        )
        raise InvalidInputError(msg) from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _tables(args: argparse.Namespace) -> int:
    with _open(args) as store:
        print(store.describe())
    return 0


def _sql(args: argparse.Namespace) -> int:
    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as exc:
        msg = f"--params must be a JSON list, e.g. '[3, \"apple\"]': {exc}"
        raise InvalidInputError(msg) from exc
    with _open(args) as store:
        result, events = store.execute(
            args.statement, params if isinstance(params, list) else [params], user_id=args.user
        )
        print(result.render(store.limits.max_bytes))
        for event in events:
            print(f"  {event.op.value}: {event.reason}")
    return 0


def _ask(args: argparse.Namespace) -> int:
    with _open(args) as store:
        result = store.ask(
            args.question,
            llm=_llm(args),
            user_id=args.user,
            max_steps=args.max_steps,
            schema_mode=args.schema_mode,
        )
        print(result.model_dump_json(indent=2) if args.json else result.cited())
    return 0 if result.answered else 1


def _record(args: argparse.Namespace) -> int:
    with _open(args) as store:
        result = store.record(
            args.text,
            llm=_llm(args),
            user_id=args.user,
            max_steps=args.max_steps,
            schema_mode=args.schema_mode,
        )
        for step in result.steps:
            shown = step.error or (step.result.render(200) if step.result else "")
            print(f"[step {step.index}] {step.sql}\n    {shown}")
        if not result.written:
            print(f"nothing written: {result.reason}")
            return 1
        print(result.note or "(the model wrote no note)")
    return 0


def _facts(args: argparse.Namespace) -> int:
    as_of = _when(args.as_of, "--as-of")
    with _open(args) as store:
        facts = store.facts(args.user)
        if args.history:
            if not args.subject:
                msg = "--history needs --subject"
                raise InvalidInputError(msg)
            for record in facts.history(args.subject, args.history):
                until = "now" if record.valid_to is None else record.valid_to.isoformat()
                print(f"{record.value!r:<24} {record.valid_from.isoformat()} -> {until}")
            return 0
        subjects = [args.subject] if args.subject else facts.subjects()
        for subject in subjects:
            values = facts.current(subject) if as_of is None else facts.as_of(subject, as_of)
            for attribute, value in sorted(values.items()):
                print(f"{subject}.{attribute} = {json.dumps(value)}")
    return 0


def _set_fact(args: argparse.Namespace) -> int:
    at = _when(args.at, "--at")
    try:
        value: Any = json.loads(args.value)
    except json.JSONDecodeError:
        value = args.value
    if isinstance(value, list | dict):
        value = args.value
    with _open(args, create=True) as store:
        record = store.facts(args.user).upsert(args.subject, args.attribute, value, at=at)
        since = record.valid_from.isoformat()
        print(f"{record.subject}.{record.attribute} = {json.dumps(record.value)} from {since}")
    return 0
