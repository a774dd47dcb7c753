"""SQLite as the source of truth for memory items: schema, row mapping and scoped queries.

Every store that keeps items in SQLite shares this module, so scoping, validity and
filters mean the same thing everywhere. Times are stored as integer microseconds since
the Unix epoch (exact, and comparable in SQL).
"""

from __future__ import annotations

import json
import operator
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agentmem._columns import FRAME_COLUMNS
from agentmem._errors import ClosedError, InvalidInputError, NotFoundError, StoreError, UserError
from agentmem._models import Filters, Hit, Kind, MemoryItem, Scope
from agentmem._protocols import Embedder
from agentmem._time import from_micros, opt_micros, opt_time, to_micros

__all__ = [
    "FRAME_COLUMNS",
    "ColumnReads",
    "EmbeddedTableStore",
    "ItemTable",
    "TableStore",
    "check_k",
    "open_folder",
    "from_micros",
    "to_micros",
]

_COLUMNS = (
    "id, user_id, agent_id, session_id, kind, text, created_at, recorded_at, valid_from, "
    "valid_to, importance, strength, access_count, last_accessed_at, source_ids, metadata"
)

_EXTRA_COLUMNS = frozenset({"text", "metadata", "valid_to", "embedding"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    vid INTEGER PRIMARY KEY,
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
    ) = tuple(row)[:16]
    return MemoryItem.model_construct(
        id=id_,
        text=text,
        kind=Kind(kind),
        scope=Scope.model_construct(user_id=user_id, agent_id=agent_id, session_id=session_id),
        created_at=from_micros(created_at),
        recorded_at=from_micros(recorded_at),
        valid_from=from_micros(valid_from),
        valid_to=opt_time(valid_to),
        importance=importance,
        strength=strength,
        access_count=access_count,
        last_accessed_at=opt_time(last_accessed_at),
        source_ids=[] if source_ids == "[]" else json.loads(source_ids),
        metadata={} if metadata == "{}" else json.loads(metadata),
    )


def _metadata_path(key: str) -> str:
    if not key or any(ch in key for ch in "\"'\\") or not key.isprintable():
        msg = f"metadata filter keys must be plain printable names, got {key!r}"
        raise InvalidInputError(msg)
    return '$."' + key + '"'


def where_clause(
    scope: Scope | None,
    filters: Filters | None,
    *,
    as_of: datetime | None = None,
    open_only: bool = False,
) -> tuple[str, list[Any]]:
    """SQL ``WHERE`` text and parameters for a scope, filters and validity."""
    parts: list[str] = []
    params: list[Any] = []
    if scope is not None:
        parts.append("user_id = ?")
        params.append(scope.user_id)
        if scope.agent_id is not None:
            parts.append("agent_id = ?")
            params.append(scope.agent_id)
        if scope.session_id is not None:
            parts.append("session_id = ?")
            params.append(scope.session_id)
    if as_of is not None:
        parts.append("valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)")
        moment = to_micros(as_of)
        params += [moment, moment]
    elif open_only:
        parts.append("valid_to IS NULL")
    if filters is not None:
        if filters.kinds is not None:
            if not filters.kinds:
                parts.append("0")
            else:
                parts.append(f"kind IN ({', '.join('?' * len(filters.kinds))})")
                params += [kind.value for kind in filters.kinds]
        if filters.created_after is not None:
            parts.append("created_at >= ?")
            params.append(to_micros(filters.created_after))
        if filters.created_before is not None:
            parts.append("created_at < ?")
            params.append(to_micros(filters.created_before))
        for key, value in filters.metadata.items():
            path = _metadata_path(key)
            if value is None:
                parts.append("json_extract(metadata, ?) IS NULL")
                params.append(path)
            else:
                parts.append("json_extract(metadata, ?) = ?")
                params += [path, value]
    return (" AND ".join(parts) or "1"), params


class ItemTable:
    """A thread-safe SQLite table of memory items (plus a ``meta`` key-value table).

    Args:
        path: the database file, or ``None`` for a private in-memory database.
        synchronous: SQLite's ``synchronous`` setting. ``FULL`` (the default) survives
            power loss; ``NORMAL`` survives a crashed or killed process and is faster.
    """

    def __init__(self, path: Path | None, *, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            msg = f"synchronous must be OFF, NORMAL, FULL or EXTRA, got {synchronous!r}"
            raise InvalidInputError(msg)
        self.path = path
        self.lock = threading.RLock()
        target = ":memory:" if path is None else str(path)
        try:
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                target, check_same_thread=False, isolation_level=None
            )
            conn = self._conn
            if path is not None:
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
            conn.executescript(_SCHEMA)
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
    def transaction(self) -> _Transaction:
        """A ``with`` block that commits on success and rolls back on any error."""
        return _Transaction(self)

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
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            rows = self.conn.execute(
                f"DELETE FROM items WHERE id IN ({', '.join('?' * len(chunk))}) RETURNING vid",
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
            for start in range(0, len(vids), 500):
                chunk = list(vids[start : start + 500])
                rows = self.conn.execute(
                    f"SELECT vid, {_COLUMNS} FROM items WHERE vid IN "
                    f"({', '.join('?' * len(chunk))})",
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
            for start in range(0, len(ids), 500):
                chunk = list(ids[start : start + 500])
                rows = self.conn.execute(
                    f"SELECT {_COLUMNS} FROM items WHERE id IN ({', '.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
                for row in rows:
                    out[str(row[0])] = row_item(row)
        return out

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

    def __enter__(self) -> sqlite3.Connection:
        self._table.lock.acquire()
        try:
            conn = self._table.conn
            conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._table.lock.release()
            raise
        return conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            conn = self._table.conn
            if exc_type is None:
                conn.execute("COMMIT")
            else:
                conn.execute("ROLLBACK")
        finally:
            self._table.lock.release()


def open_folder(path: str | os.PathLike[str] | None) -> Path | None:
    """A store's folder (created if missing), or ``None`` for a store in memory only."""
    folder = None if path is None else Path(path).expanduser()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


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
