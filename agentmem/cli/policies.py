"""``agentmem policies compare|generate-log|preview|undo``: measure and run retention policies."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from agentmem._errors import UserError
from agentmem.cli._common import add_db_argument, open_memory

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``policies`` command group."""
    parser = sub.add_parser("policies", help="compare, preview and undo retention policies")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = actions.add_parser(
        "compare", help="replay a dated log under policy sets; write a table and plots"
    )
    p.add_argument("--log", required=True, help="the JSON-lines log (see agentmem.eval.simulate)")
    p.add_argument(
        "--policy",
        action="append",
        required=True,
        metavar="NAME=SPEC",
        help="a policy set, e.g. decay=update+decay:threshold=0.2 (repeat for each set)",
    )
    p.add_argument("--out", required=True, help="folder for results.md, size.png, accuracy.png")
    p.add_argument("--k", type=int, default=1, help="a probe is right if the top k hold it")
    p.add_argument(
        "--embedder",
        choices=["hash", "default"],
        default="hash",
        help="hash: fast deterministic hashing; default: the bundled MiniLM model",
    )
    p.set_defaults(func=_compare)

    p = actions.add_parser("generate-log", help="write a generated dated log to replay")
    p.add_argument("--out", required=True, help="the JSON-lines file to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sessions", type=int, default=30)
    p.set_defaults(func=_generate)

    p = actions.add_parser("preview", help="show what a policy set would do to a memory now")
    add_db_argument(p)
    p.add_argument("--policy", required=True, metavar="SPEC", help="e.g. decay:threshold=0.2")
    p.add_argument("--apply", action="store_true", help="apply the decisions after showing them")
    p.add_argument("--yes", action="store_true", help="apply without asking (with --apply)")
    _embedder_option(p)
    p.set_defaults(func=_preview)

    p = actions.add_parser("undo", help="reverse one change, read from the audit log")
    add_db_argument(p)
    p.add_argument(
        "event", type=int, nargs="?", help="the audit event id (see --list or `memories history`)"
    )
    p.add_argument("--list", action="store_true", help="list the changes that can be undone")
    p.add_argument("--user", help="with --list: only this user's changes")
    p.add_argument("--limit", type=int, default=20, help="with --list: the most recent N")
    p.add_argument("--yes", action="store_true", help="undo without asking")
    _embedder_option(p)
    p.set_defaults(func=_undo)


def _embedder_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--embedder",
        choices=["default", "hash"],
        default="default",
        help="the embedder the memory was built with: default (the bundled MiniLM model, "
        "loaded only if something must be embedded) or hash (agentmem.testing.HashEmbedder)",
    )


def _sets(pairs: list[str]) -> dict[str, Any]:
    from agentmem.policies import parse_spec

    sets: dict[str, Any] = {}
    for pair in pairs:
        name, eq, spec = pair.partition("=")
        if not eq or not name.strip():
            msg = f"--policy takes NAME=SPEC, e.g. decay=update+decay:threshold=0.2; got {pair!r}"
            raise UserError(msg)
        if name.strip() in sets:
            msg = f"two policy sets are named {name.strip()!r}; give each its own name"
            raise UserError(msg)
        sets[name.strip()] = parse_spec(spec, name=name.strip())
    return sets


def _compare(args: argparse.Namespace) -> int:
    import faiss

    from agentmem import ManualClock, Memory
    from agentmem.eval.simulate import hash_memory_factory, plot_replay, read_log, replay

    # One thread: faiss's OpenMP pool only slows the many tiny searches of a replay.
    faiss.omp_set_num_threads(1)
    sets = _sets(args.policy)
    log_path = Path(args.log)
    if not log_path.is_file():
        msg = f"no log at {log_path}; write one with `agentmem policies generate-log --out FILE`"
        raise UserError(msg)
    factory = hash_memory_factory
    if args.embedder == "default":
        from agentmem.embedders import SentenceTransformerEmbedder
        from agentmem.stores import VectorStore

        embedder = SentenceTransformerEmbedder()

        def factory(policies: Any, clock: ManualClock) -> Memory:
            return Memory([VectorStore(None, embedder)], policies=policies, clock=clock)

    result = replay(read_log(log_path), factory, policies=sets, k=args.k, progress=True)
    result.specs = {pair.partition("=")[0].strip(): pair.partition("=")[2] for pair in args.policy}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = result.table()
    (out / "results.md").write_text(
        f"# Policy comparison on {log_path.name}\n\n{table}", encoding="utf-8"
    )
    (out / "results.json").write_text(result.model_dump_json(indent=1), encoding="utf-8")
    pngs = plot_replay(result, out)
    print(table)
    print(f"wrote {out / 'results.md'}, {', '.join(str(p) for p in pngs)}", file=sys.stderr)
    return 0


def _generate(args: argparse.Namespace) -> int:
    from agentmem.eval.simulate import generate_log, write_log

    events = generate_log(args.seed, sessions=args.sessions)
    write_log(events, args.out)
    print(f"wrote {len(events)} events to {args.out}", file=sys.stderr)
    return 0


def _open(path: str, embedder: str = "default") -> Any:
    from agentmem.cli._confirm import check_db

    return open_memory(check_db(path), embedder=embedder)


def _preview(args: argparse.Namespace) -> int:
    from agentmem.cli._confirm import confirm
    from agentmem.policies import parse_spec

    policy = parse_spec(args.policy)
    with _open(args.db, args.embedder) as memory:
        decisions = memory.preview(policy)
        for decision in decisions:
            count = len(decision.item_ids)
            print(f"{decision.action.value} {count} by {decision.policy}: {decision.reason}")
            for item_id in decision.item_ids:
                print(f"    {item_id}  {_text(memory, item_id)}{_change(decision)}")
            if decision.merged is not None:
                print(f"    -> merged into: {_clip(decision.merged.text)}")
        changed = sum(len(d.item_ids) for d in decisions)
        print(f"{len(decisions)} decisions, {changed} memories", file=sys.stderr)
        if not (args.apply and decisions):
            return 0
        if not confirm(f"Apply these {len(decisions)} decisions?", yes=args.yes):
            print("nothing applied")
            return 1
        changes = memory.apply(decisions)
        ids = [event.id for event in changes.events]
        flag = "" if args.embedder == "default" else f" --embedder {args.embedder}"
        print(
            f"applied: {len(changes.updated)} updated, {len(changes.forgotten)} forgotten "
            f"(events {min(ids)}-{max(ids)}); undo any with "
            f"`agentmem policies undo --db {args.db}{flag} EVENT`"
        )
    return 0


def _clip(text: str, limit: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _text(memory: Any, item_id: str) -> str:
    from agentmem._errors import NotFoundError

    try:
        return repr(_clip(memory.get(item_id).text))
    except NotFoundError:
        return "(gone)"


def _change(decision: Any) -> str:
    shown = {k: v for k, v in decision.changes.items() if k in ("strength", "importance")}
    if "valid_to" in decision.changes:
        shown["valid_to"] = "closed"
    if not shown:
        return ""
    parts = ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()
    )
    return f"  ({parts})"


_UNDO_EFFECT = {
    "add": "forget the memory it added",
    "forget": "restore the forgotten memory",
    "update": "put back the old values",
    "decay": "put back the old strength",
    "merge": "delete the merged memory and reopen its sources",
}


def _undoable(event: Any) -> bool:
    """Whether ``Memory.undo`` can reverse this event (the same rules)."""
    op = event.op.value
    if op == "add":
        return True
    if op in ("forget", "merge"):
        return event.before is not None and bool(event.item_ids)
    return op in ("update", "decay") and event.before is not None


def _describe(memory: Any, event: Any) -> str:
    by = f" by {event.policy}" if event.policy else ""
    text = ""
    if event.item_ids:
        text = _text(memory, event.item_ids[0])
        if text == "(gone)" and event.before and "text" in event.before:
            text = repr(_clip(str(event.before["text"])))
    more = f" (+{len(event.item_ids) - 1} more)" if len(event.item_ids) > 1 else ""
    return (
        f"event {event.id} ({event.at:%Y-%m-%d %H:%M}, {event.op.value}{by}): {event.reason}\n"
        f"    memory: {text}{more}"
    )


def _undo(args: argparse.Namespace) -> int:
    from agentmem.cli._confirm import confirm

    with _open(args.db, args.embedder) as memory:
        if args.list:
            events = [e for e in memory.events(user_id=args.user) if _undoable(e)]
            for event in events[-args.limit :]:
                print(_describe(memory, event))
                print(f"    undo: {_UNDO_EFFECT[event.op.value]}")
            print(f"{len(events)} changes can be undone", file=sys.stderr)
            return 0
        if args.event is None:
            msg = "give the EVENT id to undo, or --list to see the changes that can be undone"
            raise UserError(msg)
        event = memory.audit.get(args.event)
        if event is None:
            msg = f"no audit event {args.event}; list them with `agentmem policies undo --list`"
            raise UserError(msg)
        if not _undoable(event):
            msg = f"event {args.event} ({event.op.value}) cannot be undone"
            raise UserError(msg)
        print(_describe(memory, event))
        if not confirm(f"Undo it ({_UNDO_EFFECT[event.op.value]})?", yes=args.yes):
            print("nothing undone")
            return 1
        changes = memory.undo(args.event)
        print(
            f"undid event {args.event}: {len(changes.written)} restored, "
            f"{len(changes.updated)} updated, {len(changes.forgotten)} removed"
        )
    return 0
