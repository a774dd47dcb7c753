"""The audit log: every change to memory, with its reason, in SQLite."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from agentmem._errors import ClosedError, StoreError
from agentmem._models import EventOp, MemoryEvent
from agentmem._time import from_micros, to_micros

__all__ = ["AuditLog"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    op TEXT NOT NULL,
    user_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    policy TEXT,
    item_ids TEXT NOT NULL,
    before TEXT,
    after TEXT
);
CREATE INDEX IF NOT EXISTS events_user ON events (user_id, at);
CREATE TABLE IF NOT EXISTS event_items (
    item_id TEXT NOT NULL,
    event_id INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS event_items_item ON event_items (item_id, event_id);
"""


class AuditLog:
    """An append-only log of :class:`MemoryEvent` rows.

    Args:
        path: the SQLite file, or ``None`` for an in-memory log.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        target = ":memory:" if path is None else str(Path(path).expanduser())
        self._lock = threading.RLock()
        try:
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                target, check_same_thread=False, isolation_level=None
            )
            if path is not None:
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            msg = f"cannot open the audit log at {target}: {exc}"
            raise StoreError(msg) from exc

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            msg = "this audit log is closed"
            raise ClosedError(msg)
        return self._conn

    def record(self, events: Sequence[MemoryEvent]) -> list[MemoryEvent]:
        """Append events in one transaction; return them with their ids set."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                # Ids are given, not read back one insert at a time: a tick may log 70k.
                (last,) = db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()
                ids = range(int(last) + 1, int(last) + 1 + len(events))
                db.executemany(
                    "INSERT INTO events (id, op, user_id, at, reason, policy, item_ids, before, "
                    "after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            event_id,
                            event.op.value,
                            event.user_id,
                            to_micros(event.at),
                            event.reason,
                            event.policy,
                            json.dumps(event.item_ids),
                            _dump(event.before),
                            _dump(event.after),
                        )
                        for event_id, event in zip(ids, events, strict=True)
                    ],
                )
                db.executemany(
                    "INSERT INTO event_items (item_id, event_id) VALUES (?, ?)",
                    [
                        (item_id, event_id)
                        for event_id, event in zip(ids, events, strict=True)
                        for item_id in dict.fromkeys(event.item_ids)
                    ],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return [
            event.model_copy(update={"id": event_id})
            for event_id, event in zip(ids, events, strict=True)
        ]

    def history(self, item_id: str) -> list[MemoryEvent]:
        """Every event that touched ``item_id``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT e.id, e.op, e.user_id, e.at, e.reason, e.policy, e.item_ids, e.before, "
                "e.after FROM event_items AS i JOIN events AS e ON e.id = i.event_id "
                "WHERE i.item_id = ? ORDER BY e.id",
                (item_id,),
            ).fetchall()
        return [_event(row) for row in rows]

    def get(self, event_id: int) -> MemoryEvent | None:
        """The event with this id, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, op, user_id, at, reason, policy, item_ids, before, after FROM events "
                "WHERE id = ?",
                (event_id,),
            ).fetchone()
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
        parts: list[str] = []
        params: list[object] = []
        if user_id is not None:
            parts.append("user_id = ?")
            params.append(user_id)
        if since is not None:
            parts.append("at >= ?")
            params.append(to_micros(since))
        if ops is not None:
            parts.append(f"op IN ({', '.join('?' * len(ops))})")
            params += [EventOp(op).value for op in ops]
        where = " AND ".join(parts) or "1"
        tail = "" if limit is None else f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._db.execute(
                "SELECT id, op, user_id, at, reason, policy, item_ids, before, after FROM events "
                f"WHERE {where} ORDER BY id{tail}",
                params,
            ).fetchall()
        return [_event(row) for row in rows]

    def forget_user(self, user_id: str) -> int:
        """Erase a user's events (for ``Memory.forget``: gone for good means the log too)."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                cursor = db.execute("DELETE FROM events WHERE user_id = ?", (user_id,))
                db.execute("DELETE FROM event_items WHERE event_id NOT IN (SELECT id FROM events)")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return cursor.rowcount

    def close(self) -> None:
        """Close the log (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _dump(value: dict[str, object] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def _event(row: tuple[object, ...]) -> MemoryEvent:
    id_, op, user_id, at, reason, policy, item_ids, before, after = row
    return MemoryEvent(
        id=int(str(id_)),
        op=EventOp(str(op)),
        user_id=str(user_id),
        at=from_micros(int(str(at))),
        reason=str(reason),
        policy=None if policy is None else str(policy),
        item_ids=json.loads(str(item_ids)),
        before=None if before is None else json.loads(str(before)),
        after=None if after is None else json.loads(str(after)),
    )
