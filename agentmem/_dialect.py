"""The two SQL dialects (SQLite, the default, and PostgreSQL): one WHERE builder, one row mapping.

Scope, validity, filters and audit-event filters mean the same on every backend
(``Filters.matches`` is the reference), and an item row holds the same columns; what
differs between dialects is small: the parameter mark, how a time and JSON are stored,
how a value list and a metadata key are matched. A :class:`Dialect` holds those few
differences, and :func:`item_where`, :func:`event_where` and :func:`row_item` do the
rest once. :data:`SQLITE` is defined here; the PostgreSQL
dialect lives with the PostgreSQL store (``agentmem.stores._pg_items``), which knows how
to bind JSON there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agentmem._errors import InvalidInputError
from agentmem._models import EventOp, Filters, Kind, MemoryEvent, MemoryItem, Scope
from agentmem._sql import marks
from agentmem._time import from_micros, to_micros

__all__ = [
    "ITEM_COLUMNS",
    "SQLITE",
    "Dialect",
    "event_where",
    "item_where",
    "row_event",
    "row_item",
]

Clause = tuple[str, list[Any]]

ITEM_COLUMNS = (
    "id, user_id, agent_id, session_id, kind, text, created_at, recorded_at, valid_from, "
    "valid_to, importance, strength, access_count, last_accessed_at, source_ids, metadata"
)
"""An item's columns, in the order :func:`row_item` reads them (both dialects)."""
_N = len(ITEM_COLUMNS.split(","))


@dataclass(frozen=True)
class Dialect:
    """How one SQL dialect spells what the builders need.

    Args:
        mark: the parameter placeholder (``?`` or ``%s``).
        always: a condition that always holds (for an empty ``WHERE``).
        moment: a time as the dialect's columns store it.
        one_of: ``(column, values)`` -> the condition "column is one of values".
        metadata_is: ``(key, value)`` -> the condition "metadata[key] equals value"
            (``None``: the key is missing or null).
        time_out: a stored time as a datetime.
        json_out: a stored JSON value as Python data.
    """

    mark: str
    always: str
    moment: Callable[[datetime], Any]
    one_of: Callable[[str, Sequence[Any]], Clause]
    metadata_is: Callable[[str, Any], Clause]
    time_out: Callable[[Any], datetime]
    json_out: Callable[[Any], Any]


def _sqlite_one_of(column: str, values: Sequence[Any]) -> Clause:
    if not values:
        return "0", []
    return f"{column} IN ({marks(len(values))})", list(values)


def _sqlite_metadata_is(key: str, value: Any) -> Clause:
    if not key or any(ch in key for ch in "\"'\\") or not key.isprintable():
        msg = f"metadata filter keys must be plain printable names, got {key!r}"
        raise InvalidInputError(msg)
    path = '$."' + key + '"'
    if value is None:
        return "json_extract(metadata, ?) IS NULL", [path]
    return "json_extract(metadata, ?) = ?", [path, value]


def _sqlite_json_out(text: str) -> Any:
    if text == "[]":
        return []
    return {} if text == "{}" else json.loads(text)


SQLITE = Dialect(
    mark="?",
    always="1",
    moment=to_micros,
    one_of=_sqlite_one_of,
    metadata_is=_sqlite_metadata_is,
    time_out=from_micros,
    json_out=_sqlite_json_out,
)
"""SQLite: times as integer microseconds, metadata as JSON text."""


def item_where(
    dialect: Dialect,
    scope: Scope | None,
    filters: Filters | None,
    *,
    as_of: datetime | None = None,
    open_only: bool = False,
) -> Clause:
    """``WHERE`` text and parameters over memory items: scope, validity, filters.

    ``as_of`` keeps the items valid at that moment; otherwise ``open_only`` keeps the
    items still open (no ``valid_to``).
    """
    q = dialect.mark
    parts: list[str] = []
    params: list[Any] = []
    if scope is not None:
        parts.append(f"user_id = {q}")
        params.append(scope.user_id)
        if scope.agent_id is not None:
            parts.append(f"agent_id = {q}")
            params.append(scope.agent_id)
        if scope.session_id is not None:
            parts.append(f"session_id = {q}")
            params.append(scope.session_id)
    if as_of is not None:
        parts.append(f"valid_from <= {q} AND (valid_to IS NULL OR valid_to > {q})")
        moment = dialect.moment(as_of)
        params += [moment, moment]
    elif open_only:
        parts.append("valid_to IS NULL")
    if filters is not None:
        if filters.kinds is not None:
            sql, values = dialect.one_of("kind", [kind.value for kind in filters.kinds])
            parts.append(sql)
            params += values
        if filters.created_after is not None:
            parts.append(f"created_at >= {q}")
            params.append(dialect.moment(filters.created_after))
        if filters.created_before is not None:
            parts.append(f"created_at < {q}")
            params.append(dialect.moment(filters.created_before))
        for key, value in filters.metadata.items():
            if not isinstance(key, str) or not key:
                msg = f"metadata filter keys must be non-empty strings, got {key!r}"
                raise InvalidInputError(msg)
            sql, values = dialect.metadata_is(key, value)
            parts.append(sql)
            params += values
    return (" AND ".join(parts) or dialect.always), params


def event_where(
    dialect: Dialect,
    *,
    user_id: str | None = None,
    since: datetime | None = None,
    ops: Sequence[EventOp] | None = None,
) -> Clause:
    """``WHERE`` text and parameters over audit events: one user, since a time, some ops."""
    q = dialect.mark
    parts: list[str] = []
    params: list[Any] = []
    if user_id is not None:
        parts.append(f"user_id = {q}")
        params.append(user_id)
    if since is not None:
        parts.append(f"at >= {q}")
        params.append(dialect.moment(since))
    if ops is not None:
        sql, values = dialect.one_of("op", [EventOp(op).value for op in ops])
        parts.append(sql)
        params += values
    return (" AND ".join(parts) or dialect.always), params


def row_item(dialect: Dialect, row: Sequence[Any]) -> MemoryItem:
    """The item in a row selected as :data:`ITEM_COLUMNS` (extra columns after are ignored)."""
    (
        id_,
        user_id,
        agent_id,
        session_id,
        kind,
        text,
        created_at,
        recorded_at,
        valid_from,
        valid_to,
        importance,
        strength,
        access_count,
        last_accessed_at,
        source_ids,
        metadata,
    ) = tuple(row)[:_N]
    time_out = dialect.time_out
    return MemoryItem.model_construct(
        id=id_,
        text=text,
        kind=Kind(kind),
        scope=Scope.model_construct(user_id=user_id, agent_id=agent_id, session_id=session_id),
        created_at=time_out(created_at),
        recorded_at=time_out(recorded_at),
        valid_from=time_out(valid_from),
        valid_to=None if valid_to is None else time_out(valid_to),
        importance=float(importance),
        strength=float(strength),
        access_count=int(access_count),
        last_accessed_at=None if last_accessed_at is None else time_out(last_accessed_at),
        source_ids=list(dialect.json_out(source_ids)),
        metadata=dict(dialect.json_out(metadata)),
    )


def row_event(dialect: Dialect, row: Sequence[Any]) -> MemoryEvent:
    """The audit event in a row of an ``events`` table (both dialects hold the same).

    The row's columns: ``id, op, user_id, at, reason, policy, item_ids, before, after``.
    """
    id_, op, user_id, at, reason, policy, item_ids, before, after = row
    return MemoryEvent(
        id=int(id_),
        op=EventOp(str(op)),
        user_id=str(user_id),
        at=dialect.time_out(at),
        reason=str(reason),
        policy=None if policy is None else str(policy),
        item_ids=list(dialect.json_out(item_ids)),
        before=None if before is None else dialect.json_out(before),
        after=None if after is None else dialect.json_out(after),
    )
