"""Structured facts with validity intervals, no LLM needed: ``subject.attribute = value``.

An update closes the previous value (``valid_to = at``) instead of overwriting it, so
``as_of`` answers for any moment and ``history`` is complete. Updates may arrive out of
order: a value dated between two others is fitted into the timeline.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentmem._clock import Clock, SystemClock, as_utc
from agentmem._db import connect, immediate
from agentmem._errors import ClosedError, InvalidInputError
from agentmem._time import from_micros, to_micros
from agentmem._validation import normalize_id

__all__ = ["FactRecord", "FactTable", "FactValue"]

FactValue = str | int | float | bool | None

_SCHEMA = """
CREATE TABLE IF NOT EXISTS facts (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    attribute TEXT NOT NULL,
    value TEXT NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_to INTEGER,
    recorded_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS facts_key ON facts (user_id, subject, attribute, valid_from);
"""


class FactRecord(BaseModel):
    """One value of one attribute, and when it held: ``[valid_from, valid_to)``."""

    subject: str
    attribute: str
    value: FactValue
    valid_from: datetime
    valid_to: datetime | None = None
    recorded_at: datetime

    def holds_at(self, when: datetime) -> bool:
        """Whether the value held at ``when``."""
        return self.valid_from <= when and (self.valid_to is None or when < self.valid_to)


class FactTable:
    """A user's structured facts in SQLite, kept as a timeline per (subject, attribute).

    Args:
        path: the SQLite file, or ``None`` for an in-memory table.
        user_id: whose facts these are (every query is limited to this user).
        clock: the time ``upsert`` uses when ``at`` is not given.
        connection: share an open connection (and ``lock``) instead of opening ``path``.
        lock: the lock guarding ``connection``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        user_id: str = "default",
        clock: Clock | None = None,
        connection: sqlite3.Connection | None = None,
        lock: threading.RLock | None = None,
    ) -> None:
        if not user_id or not isinstance(user_id, str):
            msg = "user_id must be a non-empty string"
            raise InvalidInputError(msg)
        self.user_id = normalize_id(user_id)  # one tenant whatever the Unicode form
        self.clock: Clock = clock or SystemClock()
        self._owned = connection is None
        if connection is None:
            target = ":memory:" if path is None else str(Path(path).expanduser())
            connection = connect(target)  # busy timeout, secure_delete
        self._conn: sqlite3.Connection | None = connection
        self._lock = lock or threading.RLock()
        with self._lock:
            connection.executescript(_SCHEMA)

    def for_user(self, user_id: str) -> FactTable:
        """The same table, seen as another user's facts."""
        return FactTable(user_id=user_id, clock=self.clock, connection=self.db, lock=self._lock)

    @property
    def db(self) -> sqlite3.Connection:
        """The open connection; raises ClosedError after ``close``."""
        if self._conn is None:
            msg = "this fact table is closed; open a new one"
            raise ClosedError(msg)
        return self._conn

    def close(self) -> None:
        """Close the connection if this table opened it (idempotent)."""
        if self._owned and self._conn is not None:
            self._conn.close()
        self._conn = None

    # -- writing ---------------------------------------------------------------------------
    def upsert(
        self, subject: str, attribute: str, value: FactValue, *, at: datetime | None = None
    ) -> FactRecord:
        """Set ``subject.attribute = value`` from ``at`` on (default: the clock's now).

        The value that held at ``at`` is closed at ``at`` (kept in history); the new one
        holds until the next later value, if any. Setting the value it already has is a
        no-op that returns the existing record.
        """
        subject, attribute = _key(subject, "subject"), _key(attribute, "attribute")
        when = to_micros(as_utc(at) if at is not None else self.clock.now())
        encoded = _encode(value)
        now = to_micros(self.clock.now())
        with self._lock:
            db = self.db
            with immediate(db, "record a fact"):
                current = db.execute(
                    "SELECT id, value, valid_from, valid_to FROM facts WHERE user_id = ? AND "
                    "subject = ? AND attribute = ? AND valid_from <= ? AND "
                    "(valid_to IS NULL OR valid_to > ?) ORDER BY valid_from DESC, id DESC LIMIT 1",
                    (self.user_id, subject, attribute, when, when),
                ).fetchone()
                if current is not None and current[1] == encoded:
                    fact_id = int(current[0])
                else:
                    if current is not None:
                        until = current[3]
                        db.execute("UPDATE facts SET valid_to = ? WHERE id = ?", (when, current[0]))
                    else:
                        later = db.execute(
                            "SELECT min(valid_from) FROM facts WHERE user_id = ? AND subject = ? "
                            "AND attribute = ? AND valid_from > ?",
                            (self.user_id, subject, attribute, when),
                        ).fetchone()
                        until = later[0]
                    cursor = db.execute(
                        "INSERT INTO facts (user_id, subject, attribute, value, valid_from, "
                        "valid_to, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (self.user_id, subject, attribute, encoded, when, until, now),
                    )
                    assert cursor.lastrowid is not None
                    fact_id = cursor.lastrowid
            return self._record(subject, attribute, db, fact_id)

    def retract(self, subject: str, attribute: str, *, at: datetime | None = None) -> bool:
        """Close the open value of ``subject.attribute`` at ``at``; return whether one was open."""
        subject, attribute = _key(subject, "subject"), _key(attribute, "attribute")
        when = to_micros(as_utc(at) if at is not None else self.clock.now())
        with self._lock:
            cursor = self.db.execute(
                "UPDATE facts SET valid_to = max(valid_from, ?) WHERE user_id = ? AND "
                "subject = ? AND attribute = ? AND valid_to IS NULL",
                (when, self.user_id, subject, attribute),
            )
        return cursor.rowcount > 0

    # -- reading ---------------------------------------------------------------------------
    def current(self, subject: str) -> dict[str, FactValue]:
        """Every attribute of ``subject`` that holds now (open values), by attribute."""
        rows = self._query(
            "subject = ? AND valid_to IS NULL ORDER BY attribute", _key(subject, "subject")
        )
        return {r.attribute: r.value for r in rows}

    def as_of(self, subject: str, when: datetime) -> dict[str, FactValue]:
        """Every attribute of ``subject`` as it was at ``when``."""
        moment = to_micros(as_utc(when))
        rows = self._query(
            "subject = ? AND valid_from <= ? AND (valid_to IS NULL OR valid_to > ?) "
            "ORDER BY attribute",
            _key(subject, "subject"),
            moment,
            moment,
        )
        return {r.attribute: r.value for r in rows}

    def history(self, subject: str, attribute: str) -> list[FactRecord]:
        """Every value ``subject.attribute`` ever had, oldest first."""
        return self._query(
            "subject = ? AND attribute = ? ORDER BY valid_from, id",
            _key(subject, "subject"),
            _key(attribute, "attribute"),
        )

    def subjects(self) -> list[str]:
        """Every subject with at least one fact."""
        with self._lock:
            rows = self.db.execute(
                "SELECT DISTINCT subject FROM facts WHERE user_id = ? ORDER BY subject",
                (self.user_id,),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def _query(self, where: str, *params: Any) -> list[FactRecord]:
        with self._lock:
            rows = self.db.execute(
                "SELECT subject, attribute, value, valid_from, valid_to, recorded_at FROM facts "
                f"WHERE user_id = ? AND {where}",
                (self.user_id, *params),
            ).fetchall()
        return [_row(r) for r in rows]

    def _record(
        self, subject: str, attribute: str, db: sqlite3.Connection, row_id: int
    ) -> FactRecord:
        row = db.execute(
            "SELECT subject, attribute, value, valid_from, valid_to, recorded_at FROM facts "
            "WHERE id = ?",
            (row_id,),
        ).fetchone()
        return _row(row)


def _key(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        msg = f"{what} must be a non-empty string, got {value!r}"
        raise InvalidInputError(msg)
    return value.strip()


def _encode(value: FactValue) -> str:
    if value is not None and not isinstance(value, str | int | float | bool):
        msg = f"a fact value must be a string, number, bool or None, got {type(value).__name__}"
        raise InvalidInputError(msg)
    return json.dumps(value)


def _row(row: tuple[Any, ...]) -> FactRecord:
    subject, attribute, value, valid_from, valid_to, recorded_at = row
    return FactRecord(
        subject=subject,
        attribute=attribute,
        value=json.loads(value),
        valid_from=from_micros(valid_from),
        valid_to=None if valid_to is None else from_micros(valid_to),
        recorded_at=from_micros(recorded_at),
    )
