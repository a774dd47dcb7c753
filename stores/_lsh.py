"""Random-hyperplane locality-sensitive hashing with multi-probe, for cosine similarity.

Each of ``tables`` hash tables draws ``bits`` random hyperplanes (seeded); a vector's
bucket in a table is the sign pattern of its projections. Vectors close in angle tend
to share buckets. A query looks in its own bucket of every table, then in neighbouring
buckets: those reached by flipping the bits whose projections were closest to zero
(the least certain), cheapest first across all tables (Lv et al., "Multi-probe LSH",
2007). Candidates are ranked by exact inner product, so the index only decides which
vectors are scored, never how.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from agentmem._errors import InvalidInputError

__all__ = ["LSHIndex", "LSHResult"]


class LSHResult:
    """What one query found: vids and scores (best first) and how many vectors were scored."""

    __slots__ = ("buckets", "scored", "scores", "vids")

    def __init__(self, vids: list[int], scores: list[float], scored: int, buckets: int) -> None:
        self.vids = vids
        self.scores = scores
        self.scored = scored
        self.buckets = buckets


class LSHIndex:
    """An in-memory multi-probe LSH index over float32 vectors, keyed by integer ids.

    Args:
        dim: the vector dimension.
        bits: hyperplanes per table (a table has ``2**bits`` buckets).
        tables: independent hash tables; more tables find more true neighbours.
        probes: neighbouring buckets probed per query beyond the ``tables`` home buckets.
        seed: seeds the hyperplanes, so a rebuilt index hashes the same way.
    """

    def __init__(
        self, dim: int, *, bits: int = 12, tables: int = 8, probes: int = 32, seed: int = 0
    ) -> None:
        if dim < 1 or not 1 <= bits <= 62 or tables < 1 or probes < 0:
            msg = (
                f"LSH needs dim >= 1, 1 <= bits <= 62, tables >= 1 and probes >= 0; got "
                f"dim={dim}, bits={bits}, tables={tables}, probes={probes}"
            )
            raise InvalidInputError(msg)
        self.dim, self.bits, self.tables, self.probes, self.seed = dim, bits, tables, probes, seed
        rng = np.random.default_rng(seed)
        self._planes = rng.standard_normal((tables * bits, dim)).astype(np.float32)
        self._weights = np.left_shift(np.int64(1), np.arange(bits, dtype=np.int64))
        self._buckets: list[dict[int, list[int]]] = [{} for _ in range(tables)]
        self._codes: dict[int, NDArray[np.int64]] = {}
        self._rows: dict[int, int] = {}
        self._row_of = np.zeros(0, dtype=np.int64)  # vid -> row, for vectorised lookups
        self._free: list[int] = []
        self._vectors = np.zeros((0, dim), dtype=np.float32)
        self._used = 0

    def __len__(self) -> int:
        return len(self._rows)

    # -- hashing -----------------------------------------------------------------------
    def _project(self, vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        projected: NDArray[np.float32] = (vectors @ self._planes.T).reshape(
            len(vectors), self.tables, self.bits
        )
        return projected

    def _hash(self, projected: NDArray[np.float32]) -> NDArray[np.int64]:
        codes: NDArray[np.int64] = ((projected > 0).astype(np.int64) * self._weights).sum(axis=-1)
        return codes

    # -- writing -----------------------------------------------------------------------
    def add(self, vids: Sequence[int], vectors: NDArray[np.float32]) -> None:
        """Index ``vectors`` under ``vids`` (an id already present is replaced)."""
        if len(vids) != len(vectors):
            msg = f"got {len(vids)} ids for {len(vectors)} vectors"
            raise InvalidInputError(msg)
        if not len(vids):
            return
        self.remove([vid for vid in vids if vid in self._rows])
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(vids), self.dim)
        if min(vids) < 0:
            msg = "LSH ids must be non-negative integers"
            raise InvalidInputError(msg)
        top = max(vids)
        if top >= len(self._row_of):
            bigger = np.zeros(max(top + 1, 2 * len(self._row_of)), dtype=np.int64)
            bigger[: len(self._row_of)] = self._row_of
            self._row_of = bigger
        codes = self._hash(self._project(vectors))
        for vid, vector, row_codes in zip(vids, vectors, codes, strict=True):
            row = self._free.pop() if self._free else self._grow()
            self._vectors[row] = vector
            self._rows[vid] = row
            self._row_of[vid] = row
            self._codes[vid] = row_codes
            for table, code in enumerate(row_codes.tolist()):
                self._buckets[table].setdefault(code, []).append(vid)

    def _grow(self) -> int:
        if self._used == len(self._vectors):
            bigger = np.zeros((max(1024, 2 * len(self._vectors)), self.dim), dtype=np.float32)
            bigger[: self._used] = self._vectors[: self._used]
            self._vectors = bigger
        self._used += 1
        return self._used - 1

    def remove(self, vids: Collection[int]) -> int:
        """Drop ``vids`` from the index; return how many were present."""
        removed = 0
        for vid in vids:
            row = self._rows.pop(vid, None)
            if row is None:
                continue
            removed += 1
            self._free.append(row)
            for table, code in enumerate(self._codes.pop(vid).tolist()):
                bucket = self._buckets[table][code]
                bucket.remove(vid)
                if not bucket:
                    del self._buckets[table][code]
        return removed

    # -- reading -----------------------------------------------------------------------
    def _probe_order(self, projected: NDArray[np.float32]) -> Iterator[tuple[int, int]]:
        """``(table, code)`` of every bucket to look in, most promising first."""
        base = self._hash(projected[None])[0].tolist()
        for table in range(self.tables):
            yield table, base[table]
        margins = np.abs(projected)
        ranked = np.argsort(margins, axis=1)
        costs: list[list[float]] = (np.take_along_axis(margins, ranked, axis=1) ** 2).tolist()
        order: list[list[int]] = ranked.tolist()
        # Each heap entry flips a set of bits (positions in the table's margin order);
        # "shift" and "expand" enumerate every set exactly once, cheapest first.
        heap: list[tuple[float, int, tuple[int, ...]]] = [
            (costs[table][0], table, (0,)) for table in range(self.tables)
        ]
        heapq.heapify(heap)
        while heap:
            cost, table, flipped = heapq.heappop(heap)
            code = base[table]
            for position in flipped:
                code ^= 1 << order[table][position]
            yield table, code
            last = flipped[-1]
            if last + 1 < self.bits:
                step = costs[table][last + 1]
                shifted = (*flipped[:-1], last + 1)
                heapq.heappush(heap, (cost - costs[table][last] + step, table, shifted))
                heapq.heappush(heap, (cost + step, table, (*flipped, last + 1)))

    def search(
        self,
        query: NDArray[np.float32],
        k: int,
        *,
        allowed: Collection[int] | None = None,
        probes: int | None = None,
        min_candidates: int = 0,
    ) -> LSHResult:
        """The ``k`` indexed vectors with the highest inner product among the candidates.

        Probes the home buckets plus ``probes`` neighbouring ones (default: the index's
        setting), and keeps probing while fewer than ``max(k, min_candidates)`` candidates
        (restricted to ``allowed``, if given) were found: thin buckets widen the search.
        """
        vector = np.asarray(query, dtype=np.float32).reshape(self.dim)
        pool = allowed if allowed is None or isinstance(allowed, set | frozenset) else set(allowed)
        extra = self.probes if probes is None else probes
        wanted = max(k, min_candidates)
        budget = self.tables + extra
        ceiling = self.tables * (1 << min(self.bits, 12))
        candidates: set[int] = set()
        buckets = 0
        for table, code in self._probe_order(self._project(vector[None])[0]):
            if buckets >= ceiling or (buckets >= budget and len(candidates) >= wanted):
                break
            buckets += 1
            found = self._buckets[table].get(code)
            if not found:
                continue
            candidates.update(found if pool is None else pool.intersection(found))
        if not candidates:
            return LSHResult([], [], 0, buckets)
        vids = list(candidates)
        ids = np.fromiter(vids, dtype=np.int64, count=len(vids))
        scores = self._vectors[self._row_of[ids]] @ vector
        top = np.argsort(-scores, kind="stable")[:k]
        return LSHResult(
            [vids[i] for i in top], [float(scores[i]) for i in top], len(vids), buckets
        )

    def exact(
        self, query: NDArray[np.float32], k: int, *, allowed: Collection[int] | None = None
    ) -> LSHResult:
        """Exact top ``k`` by inner product over every indexed vector (or ``allowed``)."""
        vector = np.asarray(query, dtype=np.float32).reshape(self.dim)
        vids = list(self._rows) if allowed is None else [v for v in allowed if v in self._rows]
        if not vids:
            return LSHResult([], [], 0, 0)
        ids = np.fromiter(vids, dtype=np.int64, count=len(vids))
        scores = self._vectors[self._row_of[ids]] @ vector
        top = np.argsort(-scores, kind="stable")[:k]
        return LSHResult([vids[i] for i in top], [float(scores[i]) for i in top], len(vids), 0)
