"""SQLite-side retrieval for HybridStore: the dense index and the search-bound retriever.

:func:`load_dense` builds the dense index from the embeddings stored in SQLite;
:class:`SqliteRetriever` is what :func:`~agentmem.stores._ranking.rank` asks, bound to
one search's scope, filters and time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agentmem._models import Filters, MemoryItem, Scope
from agentmem._sql import chunks
from agentmem.stores._block import Block, RowAttrs
from agentmem.stores._fts import (
    STOP_WORDS,
    ContextFtsIndex,
    FtsIndex,
    bm25_search,
    match_expression,
)
from agentmem.stores._index import (
    DenseIndex,
    IndexSettings,
    faiss_threads,
    kind_code,
    row_filter,
)
from agentmem.stores._sqlite import ItemTable, where_clause

__all__ = ["CONTEXT_KEY", "CONTEXT_SCHEMA", "SqliteRetriever", "load_dense", "sync_dense"]

logger = logging.getLogger(__name__)


_ROW = "SELECT vid, user_id, kind, created_at, valid_from, valid_to, embedding FROM items"

CONTEXT_KEY = 1 << 40
"""Added to an item's ``vid`` for its in-context vector's key in the dense index.

A conversation turn has two vectors in its user's block: its own under ``vid`` and the
one of its text in context under ``vid + CONTEXT_KEY`` (row ids stay far below 2**40)."""

CONTEXT_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS context_vectors (vid INTEGER PRIMARY KEY, embedding BLOB NOT NULL);"
)
"""In-context vectors of conversation turns, by the item's ``vid`` (same transaction)."""

_CONTEXT_ROW = (
    "SELECT items.vid + ?, user_id, kind, created_at, valid_from, valid_to, "
    "context_vectors.embedding FROM context_vectors JOIN items ON items.vid = context_vectors.vid"
)


def _by_user(
    rows: Sequence[Sequence[Any]], dim: int
) -> Iterator[tuple[str, list[int], NDArray[np.float32], list[RowAttrs]]]:
    """``_ROW`` rows grouped by user: the user, row ids, vectors and index attributes."""
    groups: dict[str, list[Sequence[Any]]] = {}
    for row in rows:
        groups.setdefault(str(row[1]), []).append(row)
    for user, group in groups.items():
        vectors = np.frombuffer(b"".join(bytes(r[6]) for r in group), dtype=np.float32)
        attrs = [RowAttrs(kind_code(r[2]), r[3], r[4], r[5]) for r in group]
        yield user, [int(r[0]) for r in group], vectors.reshape(len(group), dim), attrs


def load_dense(table: ItemTable, dim: int, settings: IndexSettings) -> DenseIndex:
    """A dense index over the embeddings stored in ``table`` (guarded by its lock)."""
    dense = DenseIndex(dim, settings, lock=table.lock)
    last = -1
    while True:
        with table.lock:
            rows = table.conn.execute(
                f"{_ROW} WHERE vid > ? AND embedding IS NOT NULL ORDER BY vid LIMIT 20000",
                (last,),
            ).fetchall()
        if not rows:
            break
        for user, vids, vectors, attrs in _by_user(rows, dim):
            dense.add(user, vids, vectors, attrs, maintain=False)
        last = int(rows[-1][0])
    last = -1
    while True:
        with table.lock:
            rows = table.conn.execute(
                f"{_CONTEXT_ROW} WHERE items.vid > ? AND items.embedding IS NOT NULL "
                "ORDER BY items.vid LIMIT 20000",
                (CONTEXT_KEY, last),
            ).fetchall()
        if not rows:
            break
        for user, vids, vectors, attrs in _by_user(rows, dim):
            dense.add(user, vids, vectors, attrs, maintain=False)
        last = int(rows[-1][0]) - CONTEXT_KEY
    dense.maintain_all()
    logger.debug("loaded %d vectors into the dense index", dense.size)
    return dense


def sync_dense(table: ItemTable, dense: DenseIndex, vids: Sequence[int], dim: int) -> set[str]:
    """Bring these rows of ``dense`` in line with ``table``; return the users touched.

    A row gone from the table (or without an embedding) leaves the index; a present one is
    added or replaced; so does its in-context vector (key ``vid + CONTEXT_KEY``). The
    caller holds the table's lock.
    """
    present: dict[int, Sequence[Any]] = {}
    for chunk, qs in chunks(vids):
        rows = table.conn.execute(
            f"{_ROW} WHERE vid IN ({qs}) AND embedding IS NOT NULL", chunk
        ).fetchall()
        present.update((int(r[0]), tuple(r)) for r in rows)
        rows = table.conn.execute(
            f"{_CONTEXT_ROW} WHERE items.vid IN ({qs}) AND items.embedding IS NOT NULL",
            (CONTEXT_KEY, *chunk),
        ).fetchall()
        present.update((int(r[0]), tuple(r)) for r in rows)
    keys = [*vids, *(vid + CONTEXT_KEY for vid in vids)]
    gone = [key for key in keys if key not in present and dense.user_of(key) is not None]
    touched = {user for vid in gone if (user := dense.user_of(vid)) is not None}
    dense.remove(gone)
    for user, ids, vectors, attrs in _by_user(list(present.values()), dim):
        dense.sync(user, ids, vectors, attrs)
        touched.add(user)
    return touched


class SqliteRetriever:
    """A :class:`~agentmem.stores._ranking.Retriever` over an item table and a dense index.

    Bound to one search's scope, filters and time. Dense search first narrows to row ids
    in SQLite when the scope or metadata filters say more than the user. The search's
    ``queries`` (the query and its rewrites) are embedded in one call, on first use. It
    also answers :class:`~agentmem.stores._ranking.ContextRetriever`: conversation turns
    by their in-context vector (the same block search) and in-context BM25 text.
    """

    def __init__(
        self,
        table: ItemTable,
        dense: DenseIndex,
        embed: Callable[[Sequence[str]], NDArray[np.float32]],
        scope: Scope,
        filters: Filters | None,
        as_of: datetime | None,
        threads: int | None = None,
        *,
        queries: Sequence[str] = (),
    ) -> None:
        self._table = table
        self._dense = dense
        self._embed = embed
        self._scope = scope
        self._filters = filters
        self._as_of = as_of
        self._threads = threads
        self._queries = list(dict.fromkeys(queries))
        self._vectors: dict[str, NDArray[np.float32]] = {}
        self._dense_hits: dict[
            tuple[str, int], tuple[list[tuple[int, float]], list[tuple[int, float]]]
        ] = {}

    def _vector(self, text: str) -> NDArray[np.float32]:
        """The embedding of ``text``; the search's ``queries`` are embedded together, once."""
        if text not in self._vectors:
            texts = [t for t in self._queries if t not in self._vectors]
            if text not in texts:
                texts.append(text)
            for t, vector in zip(texts, self._embed(texts), strict=True):
                self._vectors[t] = vector
        return self._vectors[text]

    def _where(self) -> tuple[str, list[Any]]:
        return where_clause(
            self._scope, self._filters, as_of=self._as_of, open_only=self._as_of is None
        )

    def dense(self, text: str, depth: int) -> list[tuple[int, float]]:
        """The nearest rows by their own embedding, best first."""
        return self._dense_views(text, depth)[0]

    def dense_context(self, text: str, depth: int) -> list[tuple[int, float]]:
        """The nearest conversation turns by their in-context embedding, best first."""
        return self._dense_views(text, depth)[1]

    def _dense_views(
        self, text: str, depth: int
    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """The ``depth`` best own vectors and in-context vectors, each searched apart.

        Both kinds live in the user's block; each search keeps only its kind, so one kind
        never crowds the other out of its list. Cached per text and depth.
        """
        key = (text, depth)
        if key in self._dense_hits:
            return self._dense_hits[key]
        scope, filters, as_of = self._scope, self._filters, self._as_of
        only: list[int] | None = None
        if (
            scope.agent_id is not None
            or scope.session_id is not None
            or (filters and filters.metadata)
        ):
            only = self._table.vids(scope, filters, as_of=as_of, open_only=as_of is None)
            if not only:
                self._dense_hits[key] = ([], [])
                return [], []
        vector = self._vector(text)
        keep = row_filter(filters, as_of)

        def own_rows(block: Block, rows: NDArray[np.int64]) -> NDArray[np.bool_]:
            return keep(block, rows) & (block.vids[rows] < CONTEXT_KEY)

        def context_rows(block: Block, rows: NDArray[np.int64]) -> NDArray[np.bool_]:
            return keep(block, rows) & (block.vids[rows] >= CONTEXT_KEY)

        only_context = None if only is None else [vid + CONTEXT_KEY for vid in only]
        with self._table.lock, faiss_threads(self._threads):
            self._table.ensure_open()
            own = self._dense.search(scope.user_id, vector, depth, own_rows, only_vids=only)
            # Memories that are not conversation turns have no in-context vector: a
            # filtered pass over a block without one would end in an exact scan.
            context = (
                self._dense.search(
                    scope.user_id, vector, depth, context_rows, only_vids=only_context
                )
                if self._dense.holds_keys(scope.user_id, at_least=CONTEXT_KEY)
                else []
            )
        self._dense_hits[key] = (own, [(vid - CONTEXT_KEY, score) for vid, score in context])
        return self._dense_hits[key]

    def lexical(self, text: str, depth: int) -> list[tuple[int, float]]:
        """The best rows by BM25 over their own text (stop words ignored), best first."""
        return self._bm25(text, depth, FtsIndex.TABLE)

    def lexical_context(self, text: str, depth: int) -> list[tuple[int, float]]:
        """The best conversation turns by BM25 over their in-context text, best first."""
        return self._bm25(text, depth, ContextFtsIndex.TABLE)

    def _bm25(self, text: str, depth: int, table: str) -> list[tuple[int, float]]:
        match = match_expression(text, STOP_WORDS)
        if match is None:
            return []
        where, params = self._where()
        with self._table.lock:
            return bm25_search(self._table.conn, match, where, params, depth, table=table)

    def recent(self, depth: int) -> list[tuple[int, float]]:
        """The newest rows in scope (score 0)."""
        where, params = self._where()
        with self._table.lock:
            rows = self._table.conn.execute(
                f"SELECT vid FROM items WHERE {where} ORDER BY created_at DESC, vid DESC LIMIT ?",
                (*params, depth),
            ).fetchall()
        return [(int(r[0]), 0.0) for r in rows]

    def items(self, keys: Sequence[int]) -> dict[int, MemoryItem]:
        """The items of these rows that still exist, and lie in the search's scope.

        Defence in depth: whatever an index answered, a hit is returned only if SQLite
        says it belongs to the searched user (and agent / session, if given).
        """
        found = self._table.by_vids(keys)
        owned = {vid: item for vid, item in found.items() if self._scope.contains(item.scope)}
        if len(owned) < len(found):
            logger.warning("dropped %d hits outside the search's scope", len(found) - len(owned))
        return owned

    def bodies(self, keys: Sequence[int]) -> dict[int, str]:
        """The indexed (lexical) text of these rows."""
        with self._table.lock:
            return FtsIndex.bodies(self._table.conn, keys)
