"""The rows of one user's block in the dense index: vectors, filter attributes, tombstones.

A block keeps contiguous arrays (vectors, row ids, kind and times for filtering, a live
flag) that grow by doubling, plus an optional faiss HNSW graph or exact flat index over
them. :func:`exact_search` answers exactly with one matrix product.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from agentmem.stores._index import IndexSettings, RowFilter

__all__ = ["ARRAYS", "OPEN", "Block", "RowAttrs", "exact_search", "faiss_threads"]

ARRAYS = ("vids", "kind", "created", "valid_from", "valid_to", "alive")
"""The per-row arrays of a block (vectors aside)."""

OPEN = np.iinfo(np.int64).max
"""``valid_to`` of a row that is still valid."""


@dataclass
class RowAttrs:
    """What the index keeps per row to filter without SQLite: kind and times (micros)."""

    kind: int
    created: int
    valid_from: int
    valid_to: int | None


class Block:
    """One user's rows: growable arrays, tombstones and an optional faiss index."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.n = 0
        self.dead = 0
        self.vectors = np.zeros((64, dim), dtype=np.float32)
        self.vids = np.zeros(64, dtype=np.int64)
        self.kind = np.zeros(64, dtype=np.int8)
        self.created = np.zeros(64, dtype=np.int64)
        self.valid_from = np.zeros(64, dtype=np.int64)
        self.valid_to = np.zeros(64, dtype=np.int64)
        self.alive = np.zeros(64, dtype=bool)
        self.row_of: dict[int, int] = {}
        self.hnsw: Any = None
        self.flat: Any = None  # exact faiss index over the rows, while there is no graph

    @property
    def live(self) -> int:
        return self.n - self.dead

    def _grow(self, need: int) -> None:
        cap = len(self.vids)
        if need <= cap:
            return
        new = max(need, cap * 2)
        for name in ("vids", "kind", "created", "valid_from", "valid_to", "alive"):
            old = getattr(self, name)
            arr = np.zeros(new, dtype=old.dtype)
            arr[: self.n] = old[: self.n]
            setattr(self, name, arr)
        vectors = np.zeros((new, self.dim), dtype=np.float32)
        vectors[: self.n] = self.vectors[: self.n]
        self.vectors = vectors

    def append(self, vids: list[int], vectors: NDArray[np.float32], attrs: list[RowAttrs]) -> None:
        count = len(vids)
        for vid in vids:
            if vid in self.row_of:
                self.kill(vid)
        self._grow(self.n + count)
        rows = slice(self.n, self.n + count)
        self.vectors[rows] = vectors
        self.vids[rows] = vids
        self.kind[rows] = [a.kind for a in attrs]
        self.created[rows] = [a.created for a in attrs]
        self.valid_from[rows] = [a.valid_from for a in attrs]
        self.valid_to[rows] = [OPEN if a.valid_to is None else a.valid_to for a in attrs]
        self.alive[rows] = True
        for offset, vid in enumerate(vids):
            self.row_of[vid] = self.n + offset
        self.n += count
        if self.hnsw is not None:
            self.hnsw.add(np.ascontiguousarray(vectors))
        if self.flat is not None:
            self.flat.add(np.ascontiguousarray(vectors))

    def ann(self) -> Any:
        """The faiss index to search: the HNSW graph, else an exact flat index (built lazily)."""
        if self.hnsw is not None:
            return self.hnsw
        if self.flat is None:
            self.flat = faiss.IndexFlatIP(self.dim)
            self.flat.add(np.ascontiguousarray(self.vectors[: self.n]))
        return self.flat

    def set_attrs(self, vid: int, attrs: RowAttrs) -> None:
        row = self.row_of[vid]
        self.kind[row] = attrs.kind
        self.created[row] = attrs.created
        self.valid_from[row] = attrs.valid_from
        self.valid_to[row] = OPEN if attrs.valid_to is None else attrs.valid_to

    def kill(self, vid: int) -> None:
        row = self.row_of.pop(vid, None)
        if row is not None and self.alive[row]:
            self.alive[row] = False
            self.dead += 1

    def compact(self) -> None:
        keep = np.flatnonzero(self.alive[: self.n])
        for name in ("vids", "kind", "created", "valid_from", "valid_to", "alive"):
            arr = getattr(self, name)
            arr[: len(keep)] = arr[keep]
        self.vectors[: len(keep)] = self.vectors[keep]
        self.n = len(keep)
        self.alive[self.n :] = False
        self.dead = 0
        self.row_of = {int(v): i for i, v in enumerate(self.vids[: self.n])}
        self.hnsw = None
        self.flat = None

    def build_hnsw(self, settings: IndexSettings) -> None:
        index = faiss.IndexHNSWFlat(self.dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings.ef_construction
        index.add(np.ascontiguousarray(self.vectors[: self.n]))
        self.hnsw = index
        self.flat = None


def exact_search(
    block: Block,
    q: NDArray[np.float32],
    k: int,
    keep: RowFilter,
    rows: NDArray[np.int64] | None,
) -> list[tuple[int, float]]:
    """The ``k`` best rows of ``block`` (all, or ``rows``) that are alive and pass ``keep``."""
    if rows is None:
        rows = np.arange(block.n, dtype=np.int64)
        ok = block.alive[: block.n] & keep(block, rows)
        scores = block.vectors[: block.n] @ q
        scores = np.where(ok, scores, -np.inf)
    else:
        if len(rows) == 0:
            return []
        ok = block.alive[rows] & keep(block, rows)
        rows = rows[ok]
        scores = block.vectors[rows] @ q
    valid = int(np.isfinite(scores).sum())
    take = min(k, valid)
    if take == 0:
        return []
    top = (
        np.argpartition(-scores, take - 1)[:take] if take < len(scores) else np.arange(len(scores))
    )
    top = top[np.lexsort((top, -scores[top]))]
    chosen = rows[top]
    return [
        (int(block.vids[r]), float(scores[i]))
        for r, i in zip(chosen, top, strict=True)
        if np.isfinite(scores[i])
    ]


@contextmanager
def faiss_threads(threads: int | None) -> Iterator[None]:
    """Let faiss use ``threads`` OpenMP threads inside the block, in the calling thread only.

    OpenMP's thread count is a per-thread setting: it is set before the block and
    restored after, so nothing changes for other threads or later code. ``None`` leaves
    faiss's setting alone. One thread is fastest for single queries on small machines,
    where idle OpenMP workers spin against the embedding model's threads.
    """
    if threads is None:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
