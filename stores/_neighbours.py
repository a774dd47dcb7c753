"""Which stored turns to index again when the turns around them change (both SQL stores).

A conversation turn is indexed with its previous turn of the session (its in-context
texts, :mod:`agentmem.stores._context`). When a turn is deleted, changed, moved or
written between two stored ones, the turn after it has a new previous turn; a batch's
turn with a stored turn between it and the batch's turn before it was indexed after the
wrong one. These queries find them, written once for SQLite and PostgreSQL (a
:class:`~agentmem._dialect.Dialect` spells the differences); each store indexes the
turns found again, in the caller's transaction (:func:`stale`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from agentmem._dialect import Dialect
from agentmem._models import MemoryItem
from agentmem.stores._context import previous_positions
from agentmem.stores.facts import Run

__all__ = ["Place", "Run", "interleaved", "is_turn", "place", "stale"]

Place = tuple[str, str | None, datetime]
"""Where a memory sits in its session: ``(user_id, session_id, created_at)``."""


def place(item: MemoryItem, at: datetime | None = None) -> Place:
    """``item``'s place (at ``at`` rather than its own time, if given)."""
    return (item.scope.user_id, item.scope.session_id, item.created_at if at is None else at)


def is_turn(item: MemoryItem) -> bool:
    """Whether ``item`` is a conversation turn (its metadata names a speaker)."""
    speaker = item.metadata.get("speaker")
    return isinstance(speaker, str) and bool(speaker)


def stale(
    run: Run, dialect: Dialect, places: Sequence[Place], written: Sequence[MemoryItem] = ()
) -> list[str]:
    """The ids of the stored memories to index again after a write, in the transaction.

    The memories right after ``places`` in their sessions (where written, changed or
    deleted memories are, or were), other than ``written`` (just indexed); and those of
    ``written`` indexed after the wrong turn (:func:`misplaced`). The caller indexes the
    conversation turns among them again, each after its previous turn in the table.
    """
    done = {item.id for item in written}
    ids = [i for i in followers(run, dialect, places) if i not in done]
    wrong = misplaced(run, dialect, written, previous_positions(written))
    return ids + [item.id for item in wrong if item.id not in ids]


def followers(run: Run, dialect: Dialect, places: Sequence[Place]) -> list[str]:
    """The ids of the stored memories right after ``places`` in their sessions (ties too)."""
    m = dialect.mark
    sql = (
        f"SELECT id FROM items WHERE user_id = {m} AND session_id = {m} AND created_at = "
        f"(SELECT min(created_at) FROM items WHERE user_id = {m} AND session_id = {m} "
        f"AND created_at > {m})"
    )
    found: list[str] = []
    for user, session, at in places:
        if session is None:
            continue
        rows = run(sql, [user, session, user, session, dialect.moment(at)])
        found += [str(row[0]) for row in rows if str(row[0]) not in found]
    return found


def interleaved(run: Run, dialect: Dialect, items: Sequence[MemoryItem]) -> bool:
    """Whether a stored memory lies at or after a batch's first memory of its session.

    One count per session, run after the batch is written: a batch that only extends its
    sessions (the common case) finds none, and its neighbours need no second look.
    """
    m = dialect.mark
    sql = (
        f"SELECT count(*) FROM items WHERE user_id = {m} AND session_id = {m} AND created_at >= {m}"
    )
    for (user, session), (first, count) in _session_spans(items).items():
        rows = run(sql, [user, session, dialect.moment(first)])
        if int(rows[0][0]) > count:
            return True
    return False


def misplaced(
    run: Run, dialect: Dialect, items: Sequence[MemoryItem], previous: Sequence[int | None]
) -> list[MemoryItem]:
    """The batch's turns indexed after the wrong turn.

    Each was indexed after the batch's turn before it (``previous``: that turn's position
    in ``items``); when a stored turn lies between the two, that one is its previous turn.
    """
    m = dialect.mark
    sql = (
        f"SELECT id FROM items WHERE user_id = {m} AND session_id = {m} AND created_at < {m} "
        "ORDER BY created_at DESC, vid DESC LIMIT 1"
    )
    out = []
    for item, before in zip(items, previous, strict=True):
        if before is None or not is_turn(item):
            continue
        at = dialect.moment(item.created_at)
        rows = run(sql, [item.scope.user_id, item.scope.session_id, at])
        if rows and str(rows[0][0]) != items[before].id:
            out.append(item)
    return out


def _session_spans(items: Sequence[MemoryItem]) -> dict[tuple[str, str], tuple[datetime, int]]:
    """Per ``(user, session)`` of ``items``: the earliest ``created_at`` and how many."""
    spans: dict[tuple[str, str], tuple[datetime, int]] = {}
    for item in items:
        session = item.scope.session_id
        if session is None:
            continue
        key = (item.scope.user_id, session)
        first, count = spans.get(key, (item.created_at, 0))
        spans[key] = (min(first, item.created_at), count + 1)
    return spans
