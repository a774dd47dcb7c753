"""Structured facts in PostgreSQL: the FactTable timeline, in the store's own database.

The logic is :class:`~agentmem.stores.facts.FactTimeline`'s (the same statements as
SQLite's, in PostgreSQL's dialect); every read and write runs in a transaction of the
store's pool acting for the table's user, and joins one already open (``with
store.transaction():``), so a fact commits or rolls back with the memory change and the
audit event written beside it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from agentmem._clock import Clock
from agentmem.stores._pg_db import PgDatabase
from agentmem.stores._pg_items import POSTGRES
from agentmem.stores.facts import FactTimeline, Run

__all__ = ["PgFactTable", "runner"]


def runner(conn: Any) -> Run:
    """Run statements on ``conn`` (the caller's transaction), returning rows (or none)."""

    def run(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        cursor = conn.execute(sql, tuple(params))
        return list(cursor.fetchall()) if cursor.description is not None else []

    return run


class PgFactTable(FactTimeline):
    """A user's structured facts in a PostgreSQL memory (``PostgresStore.facts(user)``)."""

    dialect = POSTGRES

    def __init__(self, db: PgDatabase, *, user_id: str, clock: Clock | None = None) -> None:
        super().__init__(user_id=user_id, clock=clock)
        self._db = db

    def for_user(self, user_id: str) -> PgFactTable:
        """The same table, seen as another user's facts."""
        return PgFactTable(self._db, user_id=user_id, clock=self.clock)

    def close(self) -> None:
        """Nothing to close: the store owns the connections."""

    @contextmanager
    def _reading(self, everyone: bool = False) -> Iterator[Run]:
        self._db.ensure_open()
        with self._db.transaction(None if everyone else self.user_id) as conn:
            yield runner(conn)

    def _writing(self) -> AbstractContextManager[Run]:
        return self._reading()  # one transaction either way; it joins the caller's, if any
