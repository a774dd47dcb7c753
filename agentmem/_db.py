"""SQLite connections shared by every process on one memory folder.

Each connection waits for another process's write lock (a busy timeout) instead of
failing at once, keeps freed pages zeroed (``secure_delete``, so forgotten text does not
linger in the file), and turns a real failure into a :class:`StoreError` that says what
to do, never a raw ``sqlite3.OperationalError``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator

from agentmem._errors import StoreError

__all__ = ["BUSY_TIMEOUT", "connect", "retrying"]

BUSY_TIMEOUT = 30.0
"""Seconds a write waits for another process's write lock before it gives up."""

_BUSY_WORDS = ("database is locked", "database is busy", "database table is locked")


def connect(target: str, *, busy_timeout: float = BUSY_TIMEOUT) -> sqlite3.Connection:
    """An autocommit connection with a busy timeout and ``secure_delete`` on."""
    conn = sqlite3.connect(
        target, check_same_thread=False, isolation_level=None, timeout=busy_timeout
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    conn.execute("PRAGMA secure_delete = ON")
    return conn


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite saying another connection holds a lock."""
    return isinstance(exc, sqlite3.OperationalError) and any(
        word in str(exc) for word in _BUSY_WORDS
    )


@contextlib.contextmanager
def retrying(what: str, busy_timeout: float = BUSY_TIMEOUT) -> Iterator[None]:
    """Translate a lock that outlasted the busy timeout into a StoreError saying what to do.

    SQLite's own busy handler already waits up to ``busy_timeout``; a statement that still
    finds the database locked after that raises here, with advice instead of a raw error.
    """
    start = time.monotonic()
    try:
        yield
    except sqlite3.OperationalError as exc:
        if not is_busy(exc):
            msg = f"could not {what}: {exc}"
            raise StoreError(msg) from exc
        waited = time.monotonic() - start
        msg = (
            f"could not {what}: another process held the database's write lock for "
            f"{waited:.1f} s (busy timeout {busy_timeout:g} s). Retry later, give the store a "
            "longer busy timeout, or split long bulk loads into smaller ones"
        )
        raise StoreError(msg) from exc


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection, what: str = "write") -> Iterator[sqlite3.Connection]:
    """Run the block in one ``BEGIN IMMEDIATE`` transaction: commit on success, else roll back.

    The one place outside ``TableStore.transaction`` that opens a write transaction by
    hand; a lock that outlasts the busy timeout becomes a StoreError (see ``retrying``).
    """
    with retrying(what):
        conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        with retrying(what):
            conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
