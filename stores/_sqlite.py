"""SQLite as the source of truth for memory items: schema, row mapping and scoped queries.

Every store that keeps items in SQLite shares this module, so scoping, validity and
filters mean the same thing everywhere. Times are stored as integer microseconds since
the Unix epoch (exact, and comparable in SQL). It is over 500 lines because the SQL that
defines scope, validity, the change log and transactions stays in one place; the
search-side parts live in their own modules (``_fts``, ``_index``, ``_retrieval``).
"""

from __future__ import annotations

import contextlib
import json
import operator
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agentmem._audit import AuditLog
from agentmem._columns import FRAME_COLUMNS
from agentmem._db import BUSY_TIMEOUT, connect, immediate, retrying
from agentmem._dialect import ITEM_COLUMNS, SQLITE, item_where
from agentmem._dialect import row_item as dialect_row_item
from agentmem._errors import ClosedError, InvalidInputError, NotFoundError, StoreError, UserError
from agentmem._models import Filters, Hit, MemoryItem, Scope
from agentmem._protocols import Embedder
from agentmem._sql import chunks
from agentmem._time import from_micros, opt_micros, to_micros

__all__ = [
    "FRAME_COLUMNS",
    "ColumnReads",
    "EmbeddedTableStore",
    "ItemTable",
    "TableStore",
    "check_k",
    "open_folder",
    "open_table",
    "from_micros",
    "to_micros",
]

_COLUMNS = ITEM_COLUMNS

_EXTRA_COLUMNS = frozenset({"text", "metadata", "valid_to", "embedding"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    vid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    agent_id TEXT,
    session_id TEXT,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_to INTEGER,
    importance REAL NOT NULL,
    strength REAL NOT NULL,
    access_count INTEGER NOT NULL,
    last_accessed_at INTEGER,
    source_ids TEXT NOT NULL,
    metadata TEXT NOT NULL,
    embedding BLOB
);
CREATE INDEX IF NOT EXISTS items_scope ON items (user_id, agent_id, session_id);
CREATE INDEX IF NOT EXISTS items_created ON items (user_id, created_at);
CREATE INDEX IF NOT EXISTS items_order ON items (created_at, vid);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# Every committed change to what an index holds (a row, its owner, kind, times or
# embedding), in commit order: each process's in-memory index catches up on it before it
# searches. Only row ids are kept (no text). Access counts are not indexed, not logged.
_CHANGES = """
CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, vid INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS items_added AFTER INSERT ON items
BEGIN INSERT INTO changes (vid) VALUES (new.vid); END;
CREATE TRIGGER IF NOT EXISTS items_removed AFTER DELETE ON items
BEGIN INSERT INTO changes (vid) VALUES (old.vid); END;
CREATE TRIGGER IF NOT EXISTS items_changed AFTER UPDATE OF
    user_id, kind, created_at, valid_from, valid_to, embedding ON items
BEGIN INSERT INTO changes (vid) VALUES (new.vid); END;
"""


def _never_reuse_ids(conn: sqlite3.Connection) -> None:
    """Give a table made before ids were AUTOINCREMENT the never-reused row ids.

    A reused row id would let a process whose index still maps that id to a forgotten
    memory return another memory in its place. The table is copied once, ids kept, and
    the write counter bumped so any index saved before is rebuilt.
    """
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'items'").fetchone()
    if row is None or "AUTOINCREMENT" in str(row[0]).upper():
        return
    with immediate(conn, "migrate the items table"):
        again = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'items'").fetchone()
        if "AUTOINCREMENT" not in str(again[0]).upper():
            conn.execute("ALTER TABLE items RENAME TO items_before_autoincrement")
            for index in ("items_scope", "items_created", "items_order", "items_session"):
                conn.execute(f"DROP INDEX IF EXISTS {index}")
            for statement in _SCHEMA.split(";"):
                if statement.strip() and "EXISTS meta " not in statement:
                    conn.execute(statement)
            conn.execute("INSERT INTO items SELECT * FROM items_before_autoincrement")
            conn.execute("DROP TABLE items_before_autoincrement")
            conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'")


def item_row(item: MemoryItem) -> tuple[Any, ...]:
    """The column values of ``item``, in ``_COLUMNS`` order."""
    valid_from = item.valid_from or item.created_at
    return (
        item.id,
        item.scope.user_id,
        item.scope.agent_id,
        item.scope.session_id,
        item.kind.value,
        item.text,
        to_micros(item.created_at),
        to_micros(item.recorded_at),
        to_micros(valid_from),
        opt_micros(item.valid_to),
        item.importance,
        item.strength,
        item.access_count,
        opt_micros(item.last_accessed_at),
        json.dumps(item.source_ids),
        json.dumps(item.metadata, sort_keys=True, default=str),
    )


def row_item(row: sqlite3.Row | tuple[Any, ...]) -> MemoryItem:
    """Build a MemoryItem from a row selected as ``_COLUMNS``."""
    return dialect_row_item(SQLITE, row)


def where_clause(
    scope: Scope | None,
    filters: Filters | None,
    *,
    as_of: datetime | None = None,
    open_only: bool = False,
) -> tuple[str, list[Any]]:
    """SQL ``WHERE`` text and parameters for a scope, filters and validity (SQLite)."""
    return item_where(SQLITE, scope, filters, as_of=as_of, open_only=open_only)


_DURABLE = frozenset({"FULL", "EXTRA"})


class ItemTable:
    """A thread-safe SQLite table of memory items (plus a ``meta`` key-value table).

    Args:
        path: the database file, or ``None`` for a private in-memory database.
        synchronous: SQLite's ``synchronous`` setting. ``FULL`` (the default) survives
            power loss; ``NORMAL`` survives a crashed or killed process and is faster.
    """

    def __init__(
        self, path: Path | None, *, synchronous: str = "FULL", busy_timeout: float = BUSY_TIMEOUT
    ) -> None:
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            msg = f"synchronous must be OFF, NORMAL, FULL or EXTRA, got {synchronous!r}"
            raise InvalidInputError(msg)
        self.path = path
        self.lock = threading.RLock()
        self._depth = 0
        self._synchronous = synchronous.upper()
        self.busy_timeout = busy_timeout
        target = ":memory:" if path is None else str(path)
        try:
            self._conn: sqlite3.Connection | None = connect(target, busy_timeout=busy_timeout)
            conn = self._conn
            with retrying(f"open the memory database at {target}", busy_timeout):
                if path is not None:
                    conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
                conn.executescript(_SCHEMA)
                _never_reuse_ids(conn)
                conn.executescript(_CHANGES)
        except sqlite3.DatabaseError as exc:
            msg = f"cannot open the memory database at {target}: {exc}"
            raise StoreError(msg) from exc

    @property
    def conn(self) -> sqlite3.Connection:
        """The open connection; raises ClosedError after ``close``."""
        if self._conn is None:
            msg = "this store is closed; open a new one"
            raise ClosedError(msg)
        return self._conn

    def ensure_open(self) -> None:
        """Raise ClosedError if the table was closed."""
        _ = self.conn

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._conn is None

    # -- transactions -----------------------------------------------------------------
    @contextlib.contextmanager
    def lazy_commit(self) -> Iterator[None]:
        """A block whose outermost transaction commits without an fsync (``synchronous=NORMAL``).

        In WAL mode such a commit survives a crashed or killed process; on power loss it
        may roll back whole, unless a later durable commit flushed the log first. Inside a
        transaction already open (same thread) it changes nothing: the outer commit
        decides. The table's lock is held throughout, so no other thread's write commits
        lazily meanwhile.
        """
        with self.lock:
            relax = self._depth == 0 and self.path is not None and self._synchronous in _DURABLE
            if not relax:
                yield
                return
            conn = self.conn
            conn.execute("PRAGMA synchronous=NORMAL")
            try:
                yield
            finally:
                if self._conn is not None:
                    self._conn.execute(f"PRAGMA synchronous={self._synchronous}")

    def transaction(self) -> _Transaction:
        """A ``with`` block that commits on success and rolls back on any error.

        Re-entrant: a transaction opened inside another (same thread) is a savepoint of
        the outer one, so a caller can group a store's own writes with its audit events
        and commit them at once. The outermost block takes SQLite's write lock at once
        (``BEGIN IMMEDIATE``), waiting up to ``busy_timeout`` for another process.
        """
        return _Transaction(self)

    # -- the change log ---------------------------------------------------------------------
    def last_change(self) -> int:
        """The sequence number of the latest committed (or own pending) change."""
        row = self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()
        return int(row[0])

    def changes_since(self, seq: int, limit: int = 20_000) -> tuple[int, list[int]] | None:
        """``(last seq, changed row ids)`` after ``seq``, oldest first, at most ``limit``.

        ``None`` when changes after ``seq`` were pruned: the caller must reload in full.
        """
        floor = int(self.get_meta("changes_floor") or 0)
        if seq < floor:
            return None
        rows = self.conn.execute(
            "SELECT seq, vid FROM changes WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        if not rows:
            return seq, []
        return int(rows[-1][0]), [int(r[1]) for r in rows]

    def prune_changes(self, keep: int = 100_000) -> None:
        """Drop all but the latest ``keep`` changes (a process further behind reloads)."""
        with self.transaction() as conn:
            last = self.last_change()
            if last - int(self.get_meta("changes_floor") or 0) <= 2 * keep:
                return
            conn.execute("DELETE FROM changes WHERE seq <= ?", (last - keep,))
            self.set_meta("changes_floor", str(last - keep))

    @property
    def in_transaction(self) -> bool:
        """Whether this thread holds an open transaction on the table."""
        return self._depth > 0

    def purge(self) -> None:
        """Merge every full-text index's segments and checkpoint the WAL (see TableStore)."""
        with self.transaction() as conn:
            names = [
                str(row[0])
                for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND sql LIKE 'CREATE VIRTUAL TABLE%USING fts5%'"
                )
            ]
            for name in names:
                conn.execute(f'INSERT INTO "{name}" ("{name}") VALUES (\'optimize\')')
        with self.lock, retrying("checkpoint the database", self.busy_timeout):
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def touch(self, ids: Sequence[str], when: datetime) -> dict[str, int]:
        """Count one access to each item at ``when``, atomically; return the new counts."""
        out: dict[str, int] = {}
        with self.transaction() as conn:
            for chunk, qs in chunks(ids):
                rows = conn.execute(
                    "UPDATE items SET access_count = access_count + 1, last_accessed_at = ? "
                    f"WHERE id IN ({qs}) RETURNING id, access_count",
                    (to_micros(when), *chunk),
                ).fetchall()
                out.update((str(r[0]), int(r[1])) for r in rows)
        return out

    # -- meta ---------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """Read a meta value."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Write a meta value (inside the caller's transaction, if any)."""
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def bump_version(self) -> int:
        """Increase and return the write counter (call inside a transaction)."""
        version = int(self.get_meta("version") or 0) + 1
        self.set_meta("version", str(version))
        return version

    # -- items --------------------------------------------------------------------------
    def insert(self, items: Sequence[MemoryItem], embeddings: Sequence[bytes | None]) -> list[int]:
        """Insert items (inside the caller's transaction); return their row ids."""
        conn = self.conn
        vids: list[int] = []
        for item, blob in zip(items, embeddings, strict=True):
            try:
                cursor = conn.execute(
                    f"INSERT INTO items ({_COLUMNS}, embedding) VALUES ({', '.join('?' * 17)})",
                    (*item_row(item), blob),
                )
            except sqlite3.IntegrityError as exc:
                msg = f"a memory with id {item.id!r} already exists"
                raise InvalidInputError(msg) from exc
            assert cursor.lastrowid is not None
            vids.append(cursor.lastrowid)
        return vids

    def replace(
        self, item: MemoryItem, embedding: bytes | None, keep_embedding: bool
    ) -> int | None:
        """Overwrite an item's columns; return its row id, or None if it does not exist."""
        columns = [c.strip() for c in _COLUMNS.split(",")][1:]
        assignments = ", ".join(f"{c} = ?" for c in columns)
        values = list(item_row(item)[1:])
        if not keep_embedding:
            assignments += ", embedding = ?"
            values.append(embedding)
        cursor = self.conn.execute(
            f"UPDATE items SET {assignments} WHERE id = ? RETURNING vid", (*values, item.id)
        )
        row = cursor.fetchone()
        return None if row is None else int(row[0])

    def delete(self, ids: Sequence[str]) -> list[int]:
        """Delete items by id (inside the caller's transaction); return the removed row ids."""
        vids: list[int] = []
        for chunk, qs in chunks(ids):
            rows = self.conn.execute(
                f"DELETE FROM items WHERE id IN ({qs}) RETURNING vid",
                chunk,
            ).fetchall()
            vids += [int(r[0]) for r in rows]
        return vids

    def get(self, item_id: str) -> MemoryItem | None:
        """The item with this id, or None."""
        with self.lock:
            row = self.conn.execute(
                f"SELECT {_COLUMNS} FROM items WHERE id = ?", (item_id,)
            ).fetchone()
        return None if row is None else row_item(row)

    def get_row(self, item_id: str) -> tuple[int, str] | None:
        """``(vid, text)`` of the item with this id, or None."""
        row = self.conn.execute("SELECT vid, text FROM items WHERE id = ?", (item_id,)).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def by_vids(self, vids: Sequence[int]) -> dict[int, MemoryItem]:
        """Items by row id."""
        out: dict[int, MemoryItem] = {}
        with self.lock:
            for chunk, qs in chunks(vids):
                rows = self.conn.execute(
                    f"SELECT vid, {_COLUMNS} FROM items WHERE vid IN ({qs})",
                    chunk,
                ).fetchall()
                for row in rows:
                    out[int(row[0])] = row_item(tuple(row)[1:])
        return out

    def vids(
        self,
        scope: Scope | None,
        filters: Filters | None,
        *,
        as_of: datetime | None = None,
        open_only: bool = False,
    ) -> list[int]:
        """Row ids of the items that pass scope, filters and validity."""
        where, params = where_clause(scope, filters, as_of=as_of, open_only=open_only)
        with self.lock:
            rows = self.conn.execute(f"SELECT vid FROM items WHERE {where}", params).fetchall()
        return [int(r[0]) for r in rows]

    def scan(
        self,
        scope: Scope | None,
        filters: Filters | None,
        *,
        include_closed: bool = True,
        batch: int = 1000,
    ) -> Iterator[MemoryItem]:
        """Iterate over items, oldest first, in batches (safe against concurrent writes)."""
        where, params = where_clause(scope, filters, open_only=not include_closed)
        last = (-(2**62), 0)
        while True:
            with self.lock:
                rows = self.conn.execute(
                    f"SELECT created_at, vid, {_COLUMNS} FROM items WHERE ({where}) "
                    "AND (created_at, vid) > (?, ?) ORDER BY created_at, vid LIMIT ?",
                    (*params, *last, batch),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield row_item(tuple(row)[2:])
            last = (int(rows[-1][0]), int(rows[-1][1]))

    def columns(
        self,
        scope: Scope | None,
        filters: Filters | None,
        *,
        include_closed: bool = True,
        extra: Sequence[str] = (),
    ) -> dict[str, list[Any]]:
        """The items' ``FRAME_COLUMNS`` (plus ``extra`` ones) as lists, oldest first.

        Raw column values (times in integer microseconds, metadata as JSON text): a fast
        read for code that decides over many items at once without building them.
        """
        unknown = set(extra) - _EXTRA_COLUMNS
        if unknown:
            msg = f"unknown extra columns {sorted(unknown)}; choose from {sorted(_EXTRA_COLUMNS)}"
            raise InvalidInputError(msg)
        names = [*FRAME_COLUMNS, *extra]
        where, params = where_clause(scope, filters, open_only=not include_closed)
        with self.lock:
            rows = self.conn.execute(
                f"SELECT created_at, vid, {', '.join(names)} FROM items WHERE {where}", params
            ).fetchall()
        if len(rows) < 2:
            return {name: [row[i + 2] for row in rows] for i, name in enumerate(names)}
        values = list(zip(*rows, strict=True))
        # Oldest first, as ``scan``: sorting here beats walking the index row by row.
        created = np.fromiter(values[0], dtype=np.int64, count=len(rows))
        vids = np.fromiter(values[1], dtype=np.int64, count=len(rows))
        pick = operator.itemgetter(*np.lexsort((vids, created)).tolist())
        return {name: list(pick(values[i + 2])) for i, name in enumerate(names)}

    def get_many(self, ids: Sequence[str]) -> dict[str, MemoryItem]:
        """The items with these ids that exist, by id."""
        out: dict[str, MemoryItem] = {}
        with self.lock:
            for chunk, qs in chunks(ids):
                rows = self.conn.execute(
                    f"SELECT {_COLUMNS} FROM items WHERE id IN ({qs})",
                    chunk,
                ).fetchall()
                for row in rows:
                    out[str(row[0])] = row_item(row)
        return out

    def count_embedded(self) -> int:
        """How many items carry an embedding (what a dense index over them must hold)."""
        with self.lock:
            row = self.conn.execute(
                "SELECT COUNT(*) FROM items WHERE embedding IS NOT NULL"
            ).fetchone()
        return int(row[0])

    def count(self, scope: Scope | None, *, open_only: bool = False) -> int:
        """Count items in scope."""
        where, params = where_clause(scope, None, open_only=open_only)
        with self.lock:
            row = self.conn.execute(f"SELECT COUNT(*) FROM items WHERE {where}", params).fetchone()
        return int(row[0])

    def embeddings(self) -> Iterator[tuple[list[int], list[bytes]]]:
        """Every stored embedding, in batches of ``(vids, blobs)``."""
        last = -1
        while True:
            with self.lock:
                rows = self.conn.execute(
                    "SELECT vid, embedding FROM items WHERE vid > ? AND embedding IS NOT NULL "
                    "ORDER BY vid LIMIT 10000",
                    (last,),
                ).fetchall()
            if not rows:
                return
            yield [int(r[0]) for r in rows], [bytes(r[1]) for r in rows]
            last = int(rows[-1][0])

    def embeddings_of(self, vids: Sequence[int]) -> list[tuple[int, bytes]]:
        """``(vid, embedding)`` of those of ``vids`` that exist and carry one."""
        out: list[tuple[int, bytes]] = []
        with self.lock:
            for chunk, qs in chunks(vids):
                rows = self.conn.execute(
                    f"SELECT vid, embedding FROM items WHERE vid IN ({qs}) "
                    "AND embedding IS NOT NULL",
                    chunk,
                ).fetchall()
                out += [(int(r[0]), bytes(r[1])) for r in rows]
        return out

    def texts(self) -> Iterator[tuple[list[int], list[str]]]:
        """Every stored text, in batches of ``(vids, texts)``."""
        last = -1
        while True:
            with self.lock:
                rows = self.conn.execute(
                    "SELECT vid, text FROM items WHERE vid > ? ORDER BY vid LIMIT 1000", (last,)
                ).fetchall()
            if not rows:
                return
            yield [int(r[0]) for r in rows], [str(r[1]) for r in rows]
            last = int(rows[-1][0])


class _Transaction:
    def __init__(self, table: ItemTable) -> None:
        self._table = table
        self._savepoint: str | None = None

    def __enter__(self) -> sqlite3.Connection:
        table = self._table
        table.lock.acquire()
        try:
            conn = table.conn
            if table._depth > 0:
                self._savepoint = f"sp{table._depth}"
                conn.execute(f"SAVEPOINT {self._savepoint}")
            else:
                with retrying("start a write", table.busy_timeout):
                    conn.execute("BEGIN IMMEDIATE")
            table._depth += 1
        except BaseException:
            table.lock.release()
            raise
        return conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        table = self._table
        try:
            table._depth -= 1
            conn = table.conn
            if self._savepoint is not None:
                if exc_type is not None:
                    conn.execute(f"ROLLBACK TO {self._savepoint}")
                conn.execute(f"RELEASE {self._savepoint}")
            elif exc_type is None:
                try:
                    with retrying("commit", table.busy_timeout):
                        conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            elif conn.in_transaction:
                conn.execute("ROLLBACK")
        finally:
            table.lock.release()


def open_folder(path: str | os.PathLike[str] | None) -> Path | None:
    """A store's folder (created if missing), or ``None`` for a store in memory only."""
    folder = None if path is None else Path(path).expanduser()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_table(
    path: str | os.PathLike[str] | None, database: str, *, synchronous: str = "FULL"
) -> tuple[Path | None, ItemTable]:
    """A store's folder (see :func:`open_folder`) and the item table of ``database`` in it."""
    folder = open_folder(path)
    return folder, ItemTable(None if folder is None else folder / database, synchronous=synchronous)


def check_k(k: int) -> None:
    """Refuse a non-positive result count with a clear error."""
    if k <= 0:
        msg = f"k must be positive, got {k}"
        raise InvalidInputError(msg)


class TableStore:
    """The ``MemoryStore`` methods a store answers straight from its :class:`ItemTable`.

    A store that keeps its items in ``self._table`` inherits ``get``, ``scan`` and
    ``count`` from here, and builds its search results with ``_hits``.
    """

    name: str
    _table: ItemTable

    def get(self, item_id: str) -> MemoryItem | None:
        """Return the item with this id, or None."""
        return self._table.get(item_id)

    def scan(
        self,
        *,
        scope: Scope | None = None,
        filters: Filters | None = None,
        include_closed: bool = True,
    ) -> Iterator[MemoryItem]:
        """Iterate over stored items, oldest first."""
        return self._table.scan(scope, filters, include_closed=include_closed)

    def count(self, *, scope: Scope | None = None) -> int:
        """Count stored items (in ``scope`` if given)."""
        return self._table.count(scope)

    def transaction(self) -> AbstractContextManager[Any]:
        """A block whose writes (the store's and its audit log's) commit together or not at all.

        Re-entrant; ``Memory`` opens one around each change and its audit events.
        """
        return self._table.transaction()

    def lazy_commit(self) -> AbstractContextManager[Any]:
        """A block whose outermost transaction commits without an fsync (see ItemTable)."""
        return self._table.lazy_commit()

    def audit_sink(self) -> AuditLog:
        """An audit log kept in this store's own database, written in its transactions."""
        return AuditLog.sharing(self._table.conn, self._table.lock, owner=self)

    def touch(self, ids: Sequence[str], when: datetime) -> dict[str, int]:
        """Count one access to each item, atomically (no lost increments); new counts by id."""
        return self._table.touch(ids, when)

    def purge(self) -> None:
        """Leave no trace of deleted rows: full-text segments merged, the WAL folded in.

        Called after an erasure. FTS5 keeps a deleted row's tokens in old segments until
        they are merged; ``optimize`` merges them all (freed pages are zeroed, as every
        connection runs with ``secure_delete``), and a checkpoint moves the WAL's pages
        into the database so the next close can remove the WAL.
        """
        self._table.purge()

    def _hits(self, ranked: Sequence[tuple[int, float]], signal: str) -> list[Hit]:
        """Hits for ``(vid, score)`` pairs, best first, skipping rows deleted meanwhile."""
        items = self._table.by_vids([vid for vid, _ in ranked])
        return [
            Hit(item=items[vid], score=score, store=self.name, signal=signal)
            for vid, score in ranked
            if vid in items
        ]

    def _replace(
        self,
        items: Sequence[MemoryItem],
        embed: Callable[[list[str]], NDArray[np.float32]],
        reindex: Callable[[list[int], NDArray[np.float32]], None],
    ) -> None:
        """Overwrite stored items by id in one transaction, re-embedding changed texts.

        Unknown ids raise NotFoundError before anything is written. ``reindex(vids,
        vectors)`` updates the store's index inside the transaction, for changed texts.
        """
        with self._table.lock:
            old: dict[str, tuple[int, str]] = {}
            for item in items:
                row = self._table.get_row(item.id)
                if row is None:
                    msg = f"no memory with id {item.id!r} in store {self.name!r}"
                    raise NotFoundError(msg)
                old[item.id] = row
            changed = [item for item in items if old[item.id][1] != item.text]
            vectors = embed([item.text for item in changed]) if changed else None
            fresh = (
                {item.id: vectors[i] for i, item in enumerate(changed)}
                if vectors is not None
                else {}
            )
            with self._table.transaction():
                for item in items:
                    vector = fresh.get(item.id)
                    self._table.replace(
                        item,
                        None if vector is None else vector.tobytes(),
                        keep_embedding=vector is None,
                    )
                self._table.bump_version()
                if fresh:
                    reindex([old[i][0] for i in fresh], np.stack(list(fresh.values())))


class ColumnReads:
    """The optional fast reads of :class:`~agentmem._protocols.ColumnarStore`, from ``_table``.

    Retention policies decide over many memories at once through these instead of
    building an item per row.
    """

    _table: ItemTable

    def columns(
        self,
        *,
        scope: Scope | None = None,
        filters: Filters | None = None,
        include_closed: bool = True,
        extra: Sequence[str] = (),
    ) -> dict[str, list[Any]]:
        """Raw columns of the stored items, oldest first (see ``ItemTable.columns``).

        ``extra`` may add ``text``, ``metadata``, ``valid_to`` and ``embedding`` (float32
        bytes). Retention policies read this instead of :meth:`scan` to skip building items.
        """
        return self._table.columns(scope, filters, include_closed=include_closed, extra=extra)

    def get_many(self, ids: Sequence[str]) -> dict[str, MemoryItem]:
        """The items with these ids that exist here, by id (one query per 500 ids)."""
        return self._table.get_many(ids)


class EmbeddedTableStore(TableStore):
    """A :class:`TableStore` whose items carry embeddings from one embedder.

    The embedder's name and dimension are recorded in the database on first open and
    checked on every later open, so a store is never searched with another model.
    """

    embedder: Embedder
    _dim: int
    _seen: int  # the change-log position an in-memory index over the table reflects

    def _follow_changes(
        self,
        remove: Callable[[list[int]], object],
        add: Callable[[list[int], NDArray[np.float32]], object],
        reload: Callable[[], object],
    ) -> None:
        """Apply to an in-memory index every change committed since ``_seen`` (any process's).

        Changed rows are removed and those that still exist added back with their stored
        embedding; ``reload`` rebuilds the index when the log was pruned past ``_seen``.
        Skipped inside an open transaction: the index reflects committed rows only.
        """
        table = self._table
        with table.lock:
            if table.in_transaction or table.closed:
                return
            while True:
                found = table.changes_since(self._seen)
                if found is None:  # pruned past our position: start over
                    self._seen = table.last_change()
                    reload()
                    continue
                seq, vids = found
                if not vids:
                    return
                unique = list(dict.fromkeys(vids))
                remove(unique)
                rows = table.embeddings_of(unique)
                if rows:
                    vectors = np.frombuffer(b"".join(blob for _, blob in rows), np.float32)
                    add([vid for vid, _ in rows], vectors.reshape(len(rows), self._dim))
                self._seen = seq

    def _check_embedder(self, what: str, remedy: str) -> None:
        stored_name = self._table.get_meta("embedder")
        stored_dim = self._table.get_meta("dim")
        if stored_name is None:
            with self._table.transaction():
                self._table.set_meta("embedder", self.embedder.name)
                self._table.set_meta("dim", str(self._dim))
            return
        if stored_dim != str(self._dim) or stored_name != self.embedder.name:
            msg = (
                f"this {what} was built with the embedder {stored_name!r} ({stored_dim} "
                f"dimensions) but was opened with {self.embedder.name!r} ({self._dim} "
                f"dimensions); {remedy}"
            )
            raise UserError(msg)

    def _embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        vectors = np.asarray(self.embedder.embed(list(texts)), dtype=np.float32)
        if vectors.shape != (len(texts), self._dim):
            msg = (
                f"the embedder returned an array of shape {vectors.shape} for {len(texts)} "
                f"texts; expected ({len(texts)}, {self._dim})"
            )
            raise StoreError(msg)
        return np.ascontiguousarray(vectors)
