"""The audit log: every change to memory, with its reason, in SQLite.

The log can have a file of its own, or live in a store's own database and share its
connection (:meth:`AuditLog.sharing`): then an event recorded inside the store's
transaction commits together with the change it describes, or not at all. Either way a
change is never committed before its event: ``Memory`` records events inside the
store's transaction, so with a separate file the event commits first.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from agentmem._db import connect, immediate, retrying
from agentmem._dialect import SQLITE, event_where, row_event
from agentmem._errors import ClosedError, StoreError
from agentmem._models import EventOp, MemoryEvent
from agentmem._sql import chunks
from agentmem._time import to_micros

__all__ = ["AuditLog"]

_T = TypeVar("_T")
_ERASED = "erased on request"

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
        self.owner: object | None = None  # the store whose database holds the log, if any
        self._lock: threading.RLock = threading.RLock()
        self._owned = True
        try:
            self._conn: sqlite3.Connection | None = connect(target)
            with retrying(f"open the audit log at {target}"):
                if path is not None:
                    self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._setup(self._conn)
        except sqlite3.DatabaseError as exc:
            msg = f"cannot open the audit log at {target}: {exc}"
            raise StoreError(msg) from exc

    @classmethod
    def sharing(
        cls, connection: sqlite3.Connection, lock: threading.RLock, *, owner: object = None
    ) -> AuditLog:
        """A log kept in the database of ``connection`` (a store's), guarded by ``lock``.

        Events recorded while the connection is inside a transaction are part of it: they
        commit with the store's change or roll back with it. ``close`` leaves the
        connection to its owner (``owner``: the store, so ``Memory`` knows the events
        commit with that store's changes).
        """
        log = cls.__new__(cls)
        log.owner = owner
        log._lock = lock
        log._owned = False
        log._conn = connection
        with lock, retrying("create the audit tables"):
            if connection.in_transaction:
                log._setup(connection)
            else:
                with immediate(connection, "create the audit tables"):
                    log._setup(connection)
        return log

    @staticmethod
    def _setup(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA foreign_keys=ON")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            msg = "this audit log is closed"
            raise ClosedError(msg)
        return self._conn

    def _write(self, what: str, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` in the caller's open transaction, or in one of its own."""
        with self._lock:
            db = self._db
            if db.in_transaction:
                return work(db)
            with immediate(db, what):
                return work(db)

    def record(self, events: Sequence[MemoryEvent]) -> list[MemoryEvent]:
        """Append events in one transaction (the caller's, if one is open); set their ids."""
        if not events:
            return []

        def work(db: sqlite3.Connection) -> range:
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
            return ids

        ids = self._write("record audit events", work)
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
        where, params = event_where(SQLITE, user_id=user_id, since=since, ops=ops)
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

        def work(db: sqlite3.Connection) -> int:
            cursor = db.execute("DELETE FROM events WHERE user_id = ?", (user_id,))
            db.execute("DELETE FROM event_items WHERE event_id NOT IN (SELECT id FROM events)")
            return cursor.rowcount

        return self._write("erase a user's audit events", work)

    def erase_items(self, item_ids: Sequence[str]) -> int:
        """Keep only ids, ops and a hash in the events that touched these memories.

        For an erasure asked for by a user: each such event's before/after values and
        reason are replaced by a SHA-256 of what they held, so the log still shows what
        happened, when and to which ids, but no text. Returns how many events changed.
        """
        if not item_ids:
            return 0

        def work(db: sqlite3.Connection) -> int:
            changed = 0
            for chunk, qs in chunks(item_ids):
                rows = db.execute(
                    "SELECT DISTINCT e.id, e.reason, e.before, e.after FROM event_items AS i "
                    "JOIN events AS e ON e.id = i.event_id "
                    f"WHERE i.item_id IN ({qs})",
                    chunk,
                ).fetchall()
                for event_id, reason, before, after in rows:
                    if reason == _ERASED and before is None:
                        continue
                    digest = hashlib.sha256(
                        json.dumps([reason, before, after]).encode("utf-8", "surrogatepass")
                    ).hexdigest()
                    db.execute(
                        "UPDATE events SET reason = ?, before = NULL, after = ? WHERE id = ?",
                        (_ERASED, json.dumps({"sha256": digest}), event_id),
                    )
                    changed += 1
            return changed

        return self._write("erase audit text", work)

    def close(self) -> None:
        """Close the log (idempotent); a shared connection is left to its owner."""
        with self._lock:
            if self._conn is not None:
                if self._owned:
                    self._conn.close()
                self._conn = None


def _dump(value: dict[str, object] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def _event(row: tuple[object, ...]) -> MemoryEvent:
    return row_event(SQLITE, row)
