"""Structured facts with validity intervals, no LLM needed: ``subject.attribute = value``.

An update closes the previous value (``valid_to = at``) instead of overwriting it, so
``as_of`` answers for any moment and ``history`` is complete. Updates may arrive out of
order: a value dated between two others is fitted into the timeline.

:class:`FactTimeline` holds that logic once, over either SQL dialect
(:mod:`agentmem._dialect`); :class:`FactTable` keeps it in SQLite, and PostgreSQL's table
(``PostgresStore.facts``) is the same timeline in the store's database and transactions.
A memory of kind ``fact`` whose metadata names ``subject``, ``attribute`` and ``value``
(what ``Agent`` writes) states a fact: :func:`item_fact` reads it, so a store can keep
its structured table in step with its items.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentmem._clock import Clock, SystemClock, as_utc
from agentmem._db import connect, immediate
from agentmem._dialect import SQLITE, Dialect
from agentmem._errors import ClosedError, InvalidInputError
from agentmem._models import Kind, MemoryItem
from agentmem._validation import normalize_id

__all__ = [
    "FACTS_SCHEMA",
    "FactRecord",
    "FactTable",
    "FactTimeline",
    "FactValue",
    "follow_items",
    "item_fact",
]

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
    recorded_at INTEGER NOT NULL,
    item_id TEXT
);
CREATE INDEX IF NOT EXISTS facts_key ON facts (user_id, subject, attribute, valid_from);
"""
FACTS_SCHEMA = _SCHEMA
"""The SQLite facts table (``item_id``: the memory a fact was drawn from, if any)."""


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


Run = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]
"""Runs one statement (``dialect.mark`` placeholders) and returns its rows."""


class FactTimeline:
    """A user's structured facts, kept as a timeline per (subject, attribute), in SQL.

    The backend-neutral part of a fact table: subclasses say how to read (``_reading``)
    and how to write in one transaction (``_writing``); the statements are the same on
    every dialect but for the parameter mark and how times are stored.
    """

    dialect: Dialect = SQLITE

    def __init__(self, *, user_id: str, clock: Clock | None) -> None:
        if not user_id or not isinstance(user_id, str):
            msg = "user_id must be a non-empty string"
            raise InvalidInputError(msg)
        self.user_id = normalize_id(user_id)  # one tenant whatever the Unicode form
        self.clock: Clock = clock or SystemClock()

    def _reading(self, everyone: bool = False) -> AbstractContextManager[Run]:
        """A transaction to read in (``everyone``: over all users, e.g. to list them)."""
        raise NotImplementedError

    def _writing(self) -> AbstractContextManager[Run]:
        raise NotImplementedError

    def _sql(self, text: str) -> str:
        return text.replace("?", self.dialect.mark)

    # -- writing ---------------------------------------------------------------------------
    def upsert(
        self, subject: str, attribute: str, value: FactValue, *, at: datetime | None = None
    ) -> FactRecord:
        """Set ``subject.attribute = value`` from ``at`` on (default: the clock's now).

        The value that held at ``at`` is closed at ``at`` (kept in history); the new one
        holds until the next later value, if any. Setting the value it already has is a
        no-op that returns the existing record.
        """
        with self._writing() as run:
            return self._upsert(run, subject, attribute, value, at, None)

    def _upsert(
        self,
        run: Run,
        subject: str,
        attribute: str,
        value: FactValue,
        at: datetime | None,
        item_id: str | None,
    ) -> FactRecord:
        subject, attribute = _key(subject, "subject"), _key(attribute, "attribute")
        moment = self.dialect.moment
        when = moment(as_utc(at) if at is not None else self.clock.now())
        encoded = _encode(value)
        now = moment(self.clock.now())
        sql = self._sql
        key = (self.user_id, subject, attribute)
        rows = run(
            sql(
                "SELECT id, value, valid_from, valid_to FROM facts WHERE user_id = ? AND "
                "subject = ? AND attribute = ? AND valid_from <= ? AND "
                "(valid_to IS NULL OR valid_to > ?) ORDER BY valid_from DESC, id DESC LIMIT 1"
            ),
            (*key, when, when),
        )
        current = rows[0] if rows else None
        if current is not None and current[1] == encoded:
            fact_id = int(current[0])
        else:
            if current is not None:
                until = current[3]
                run(sql("UPDATE facts SET valid_to = ? WHERE id = ?"), (when, current[0]))
            else:
                until = run(
                    sql(
                        "SELECT min(valid_from) FROM facts WHERE user_id = ? AND subject = ? "
                        "AND attribute = ? AND valid_from > ?"
                    ),
                    (*key, when),
                )[0][0]
            fact_id = int(
                run(
                    sql(
                        "INSERT INTO facts (user_id, subject, attribute, value, valid_from, "
                        "valid_to, recorded_at, item_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                        "RETURNING id"
                    ),
                    (*key, encoded, when, until, now, item_id),
                )[0][0]
            )
        found = run(sql(f"SELECT {_FIELDS} FROM facts WHERE id = ?"), (fact_id,))
        return self._row(found[0])

    def retract(self, subject: str, attribute: str, *, at: datetime | None = None) -> bool:
        """Close the open value of ``subject.attribute`` at ``at``; return whether one was open."""
        subject, attribute = _key(subject, "subject"), _key(attribute, "attribute")
        when = self.dialect.moment(as_utc(at) if at is not None else self.clock.now())
        with self._writing() as run:
            closed = run(
                self._sql(
                    "UPDATE facts SET valid_to = CASE WHEN valid_from > ? THEN valid_from "
                    "ELSE ? END WHERE user_id = ? AND subject = ? AND attribute = ? AND "
                    "valid_to IS NULL RETURNING id"
                ),
                (when, when, self.user_id, subject, attribute),
            )
        return bool(closed)

    def _close_item(self, run: Run, item_id: str, at: datetime) -> int:
        """Close the open value the memory ``item_id`` set, at ``at``; return 1 if one was."""
        when = self.dialect.moment(as_utc(at))
        closed = run(
            self._sql(
                "UPDATE facts SET valid_to = CASE WHEN valid_from > ? THEN valid_from ELSE ? "
                "END WHERE user_id = ? AND item_id = ? AND valid_to IS NULL RETURNING id"
            ),
            (when, when, self.user_id, item_id),
        )
        return len(closed)

    # -- reading ---------------------------------------------------------------------------
    def current(self, subject: str) -> dict[str, FactValue]:
        """Every attribute of ``subject`` that holds now (open values), by attribute."""
        rows = self._query(
            "subject = ? AND valid_to IS NULL ORDER BY attribute", _key(subject, "subject")
        )
        return {r.attribute: r.value for r in rows}

    def as_of(self, subject: str, when: datetime) -> dict[str, FactValue]:
        """Every attribute of ``subject`` as it was at ``when``."""
        moment = self.dialect.moment(as_utc(when))
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
        with self._reading() as run:
            rows = run(
                self._sql("SELECT DISTINCT subject FROM facts WHERE user_id = ? ORDER BY subject"),
                (self.user_id,),
            )
        return [str(r[0]) for r in rows]

    def users(self) -> list[str]:
        """Every user with at least one fact in this table."""
        with self._reading(everyone=True) as run:
            rows = run("SELECT DISTINCT user_id FROM facts ORDER BY user_id", ())
        return [str(r[0]) for r in rows]

    def set_directly(self) -> list[FactRecord]:
        """This user's values set by ``upsert``, not drawn from a fact memory, oldest first."""
        return self._query("item_id IS NULL ORDER BY subject, attribute, valid_from, id")

    def restore(self, records: Sequence[FactRecord]) -> int:
        """Store ``records`` as they are (times and all) unless already here; return how many.

        For copying a table: records already present (same subject, attribute, value and
        start) are skipped, so a copy can be run again.
        """
        done = 0
        moment = self.dialect.moment
        with self._writing() as run:
            for r in records:
                key = (self.user_id, r.subject, r.attribute, _encode(r.value), moment(r.valid_from))
                there = run(
                    self._sql(
                        "SELECT 1 FROM facts WHERE user_id = ? AND subject = ? AND "
                        "attribute = ? AND value = ? AND valid_from = ?"
                    ),
                    key,
                )
                if there:
                    continue
                until = None if r.valid_to is None else moment(r.valid_to)
                run(
                    self._sql(
                        "INSERT INTO facts (user_id, subject, attribute, value, valid_from, "
                        "valid_to, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    ),
                    (*key, until, moment(r.recorded_at)),
                )
                done += 1
        return done

    def _query(self, where: str, *params: Any) -> list[FactRecord]:
        with self._reading() as run:
            rows = run(
                self._sql(f"SELECT {_FIELDS} FROM facts WHERE user_id = ? AND {where}"),
                (self.user_id, *params),
            )
        return [self._row(r) for r in rows]

    def _row(self, row: Sequence[Any]) -> FactRecord:
        subject, attribute, value, valid_from, valid_to, recorded_at = row
        time_out = self.dialect.time_out
        return FactRecord(
            subject=subject,
            attribute=attribute,
            value=json.loads(value),
            valid_from=time_out(valid_from),
            valid_to=None if valid_to is None else time_out(valid_to),
            recorded_at=time_out(recorded_at),
        )


_FIELDS = "subject, attribute, value, valid_from, valid_to, recorded_at"


class FactTable(FactTimeline):
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
        super().__init__(user_id=user_id, clock=clock)
        self._owned = connection is None
        if connection is None:
            target = ":memory:" if path is None else str(Path(path).expanduser())
            connection = connect(target)  # busy timeout, secure_delete
        self._conn: sqlite3.Connection | None = connection
        self._lock = lock or threading.RLock()
        with self._lock:
            connection.executescript(_SCHEMA)
            columns = {row[1] for row in connection.execute("PRAGMA table_info(facts)")}
            if "item_id" not in columns:  # tables made before facts named their memory
                connection.execute("ALTER TABLE facts ADD COLUMN item_id TEXT")

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

    @contextmanager
    def _reading(self, everyone: bool = False) -> Iterator[Run]:
        with self._lock:
            db = self.db
            yield lambda sql, params: db.execute(sql, tuple(params)).fetchall()

    @contextmanager
    def _writing(self) -> Iterator[Run]:
        with self._lock:
            db = self.db
            with immediate(db, "record a fact"):
                yield lambda sql, params: db.execute(sql, tuple(params)).fetchall()


def item_fact(item: MemoryItem) -> tuple[str, str, FactValue] | None:
    """The ``(subject, attribute, value)`` a fact memory states, or None.

    A memory states a fact when it is of kind ``fact`` and its metadata holds a
    ``subject``, an ``attribute`` and a scalar ``value`` (as ``Agent`` writes them); a
    multi-valued one (``metadata["multi"]``, e.g. several pets) is no single timeline
    and states none here.
    """
    if item.kind is not Kind.FACT or item.metadata.get("multi"):
        return None
    subject, attribute = item.metadata.get("subject"), item.metadata.get("attribute")
    value = item.metadata.get("value")
    if not isinstance(subject, str) or not subject.strip():
        return None
    if not isinstance(attribute, str) or not attribute.strip():
        return None
    if value is not None and not isinstance(value, str | int | float | bool):
        return None
    return subject, attribute, value


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


def follow_items(
    table_for: Callable[[str], FactTimeline],
    run: Run,
    items: Sequence[MemoryItem],
    before: Mapping[str, MemoryItem] | None = None,
    *,
    now: datetime,
) -> int:
    """Keep a store's structured facts in step with fact memories being written.

    Call inside the transaction that writes ``items`` (new ones, or new versions of the
    ``before`` items, by id). A new fact memory sets its fact from its ``valid_from``
    (closed again at its ``valid_to`` if it has one); a fact memory being closed closes
    the value it set; reopened or restated, it sets its value again from ``now``.
    Returns how many fact rows were written or closed.
    """
    before = before or {}
    written = 0
    for item in sorted(items, key=lambda i: (i.valid_from or i.created_at, i.id)):
        stated = item_fact(item)
        old = before.get(item.id)
        had = None if old is None else item_fact(old)
        table = table_for(item.scope.user_id)
        if old is not None and had is not None and (had != stated or item.valid_to is not None):
            if old.valid_to is None:
                written += table._close_item(run, item.id, item.valid_to or now)
        if stated is None:
            continue
        if old is None:
            table._upsert(run, *stated, item.valid_from or item.created_at, item.id)
            written += 1
            if item.valid_to is not None:
                written += table._close_item(run, item.id, item.valid_to)
        elif item.valid_to is None and (had != stated or old.valid_to is not None):
            table._upsert(run, *stated, now, item.id)
            written += 1
    return written
