"""The audit log in PostgreSQL, beside the memories it describes.

It shares its :class:`~agentmem.stores._pg_db.PgDatabase` with a
:class:`~agentmem.stores.PostgresStore`, so inside ``store.transaction()`` an item change
and its events commit together or not at all. The API is :class:`agentmem.AuditLog`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from agentmem._dialect import event_where, row_event
from agentmem._models import EventOp, MemoryEvent
from agentmem.stores._pg_db import PgDatabase
from agentmem.stores._pg_items import POSTGRES

__all__ = ["PostgresAuditLog"]

_ERASED = "erased on request"
_SELECT = "SELECT id, op, user_id, at, reason, policy, item_ids, before, after FROM events"


class PostgresAuditLog:
    """An append-only log of :class:`~agentmem.MemoryEvent` rows in PostgreSQL.

    Args:
        db: the database (usually the store's, so that both share transactions).
        owns: whether ``close`` closes ``db`` too.
    """

    def __init__(self, db: PgDatabase, *, owns: bool = False) -> None:
        self._db = db
        self._owns = owns

    def record(self, events: Sequence[MemoryEvent]) -> list[MemoryEvent]:
        """Append events in the open transaction (or a new one); return them with ids."""
        if not events:
            return []
        from psycopg.types.json import Jsonb

        users = {event.user_id for event in events}
        with self._db.transaction(next(iter(users)) if len(users) == 1 else None) as conn:
            ids = [
                int(row[0])
                for row in conn.execute(
                    "SELECT nextval(pg_get_serial_sequence('events', 'id')) "
                    "FROM generate_series(1, %s)",
                    (len(events),),
                ).fetchall()
            ]
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO events (id, op, user_id, at, reason, policy, item_ids, before, "
                    "after) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (
                            event_id,
                            event.op.value,
                            event.user_id,
                            event.at,
                            event.reason,
                            event.policy,
                            Jsonb(list(event.item_ids)),
                            _json(event.before),
                            _json(event.after),
                        )
                        for event_id, event in zip(ids, events, strict=True)
                    ],
                )
                cur.executemany(
                    "INSERT INTO event_items (item_id, event_id, user_id) VALUES (%s, %s, %s)",
                    [
                        (item_id, event_id, event.user_id)
                        for event_id, event in zip(ids, events, strict=True)
                        for item_id in dict.fromkeys(event.item_ids)
                    ],
                )
        return [
            event.model_copy(update={"id": event_id})
            for event_id, event in zip(ids, events, strict=True)
        ]

    def import_events(self, events: Sequence[MemoryEvent]) -> int:
        """Copy events in with their own ids (from another log); ids already here are skipped.

        Idempotent, so an interrupted copy can simply run again. Returns how many were new.
        """
        if not events or any(event.id is None for event in events):
            if events:
                msg = "import_events needs events with ids (read from another audit log)"
                raise ValueError(msg)
            return 0
        with self._db.transaction() as conn:
            rows = conn.execute(
                "INSERT INTO events (id, op, user_id, at, reason, policy, item_ids, before, after) "
                "SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[], "
                "%s::text[], %s::text[], %s::jsonb[], %s::jsonb[], %s::jsonb[]) "
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                (
                    [event.id for event in events],
                    [event.op.value for event in events],
                    [event.user_id for event in events],
                    [event.at for event in events],
                    [event.reason for event in events],
                    [event.policy for event in events],
                    [_json(list(event.item_ids)) for event in events],
                    [_json(event.before) for event in events],
                    [_json(event.after) for event in events],
                ),
            ).fetchall()
            new = {int(r[0]) for r in rows}
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO event_items (item_id, event_id, user_id) VALUES (%s, %s, %s)",
                    [
                        (item_id, event.id, event.user_id)
                        for event in events
                        if event.id in new
                        for item_id in dict.fromkeys(event.item_ids)
                    ],
                )
            conn.execute(
                "SELECT setval(pg_get_serial_sequence('events', 'id'), "
                "greatest((SELECT max(id) FROM events), 1))"
            )
        return len(new)

    def history(self, item_id: str) -> list[MemoryEvent]:
        """Every event that touched ``item_id``, oldest first."""
        with self._db.transaction() as conn:
            rows = conn.execute(
                "SELECT e.id, e.op, e.user_id, e.at, e.reason, e.policy, e.item_ids, e.before, "
                "e.after FROM event_items AS i JOIN events AS e ON e.id = i.event_id "
                "WHERE i.item_id = %s ORDER BY e.id",
                (item_id,),
            ).fetchall()
        return [_event(row) for row in rows]

    def get(self, event_id: int) -> MemoryEvent | None:
        """The event with this id, or None."""
        with self._db.transaction() as conn:
            row = conn.execute(f"{_SELECT} WHERE id = %s", (event_id,)).fetchone()
        return None if row is None else _event(row)

    def events(
        self,
        *,
        user_id: str | None = None,
        since: datetime | None = None,
        ops: Sequence[EventOp] | None = None,
        limit: int | None = None,
    ) -> list[MemoryEvent]:
        """Events, oldest first, optionally for one user, since a time, of some ops."""
        where, params = event_where(POSTGRES, user_id=user_id, since=since, ops=ops)
        tail = "" if limit is None else f" LIMIT {int(limit)}"
        with self._db.transaction(user_id) as conn:
            rows = conn.execute(f"{_SELECT} WHERE {where} ORDER BY id{tail}", params).fetchall()
        return [_event(row) for row in rows]

    def events_after(self, last_id: int, *, limit: int = 1000) -> list[MemoryEvent]:
        """Up to ``limit`` events with ids above ``last_id``, in id order (for copying)."""
        with self._db.transaction() as conn:
            rows = conn.execute(
                f"{_SELECT} WHERE id > %s ORDER BY id LIMIT %s", (last_id, limit)
            ).fetchall()
        return [_event(row) for row in rows]

    def forget_user(self, user_id: str) -> int:
        """Erase a user's events (for ``Memory.forget``: gone for good means the log too)."""
        with self._db.transaction(user_id) as conn:
            conn.execute("DELETE FROM event_items WHERE user_id = %s", (user_id,))
            cursor = conn.execute("DELETE FROM events WHERE user_id = %s", (user_id,))
            return int(cursor.rowcount)

    def erase_items(self, item_ids: Sequence[str]) -> int:
        """Keep only ids, ops and a hash in the events that touched these memories.

        For an erasure asked for by a user: each such event's before/after values and
        reason are replaced by a SHA-256 of what they held, so the log still shows what
        happened, when and to which ids, but no text. Returns how many events changed.
        """
        if not item_ids:
            return 0
        with self._db.transaction() as conn:
            rows = conn.execute(
                "UPDATE events AS e SET reason = %s, before = NULL, "
                "after = jsonb_build_object('sha256', encode(sha256(convert_to("
                "jsonb_build_array(e.reason, e.before, e.after)::text, 'UTF8')), 'hex')) "
                "WHERE e.id IN (SELECT event_id FROM event_items WHERE item_id = ANY(%s)) "
                "AND NOT (e.reason = %s AND e.before IS NULL) RETURNING e.id",
                (_ERASED, list(item_ids), _ERASED),
            ).fetchall()
        return len(rows)

    def count(self) -> int:
        """How many events the log holds."""
        with self._db.transaction() as conn:
            (found,) = conn.execute("SELECT count(*) FROM events").fetchone() or (0,)
        return int(found)

    def close(self) -> None:
        """Close the log (and its database, if it owns it); idempotent."""
        if self._owns:
            self._db.close()


def _json(value: dict[str, Any] | list[Any] | None) -> Any:
    from psycopg.types.json import Jsonb

    return None if value is None else Jsonb(value, dumps=_dumps)


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, default=str)


def _event(row: tuple[Any, ...]) -> MemoryEvent:
    return row_event(POSTGRES, row)
