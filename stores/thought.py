"""ThoughtStore: thoughts the agent reached (Think-in-Memory), retrieved through LSH.

A thought is a short self-contained statement (``Kind.THOUGHT``), optionally carrying a
``subject`` / ``relation`` / ``object`` triple in its metadata and linked through
``source_ids`` to the turns it came from. SQLite holds every item and its embedding and
is the source of truth; the LSH index is derived from it and rebuilt on open (hashing is
seeded, so a rebuilt index answers exactly as before).

Search hashes the query into buckets, ranks the candidates found there by exact cosine,
and probes neighbouring buckets while they are thin. A scope smaller than
``exact_below`` items is simply scored exactly: hashing saves nothing there.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from agentmem._errors import InvalidInputError
from agentmem._models import Filters, Hit, MemoryItem, Scope
from agentmem._protocols import Embedder
from agentmem.stores._lsh import LSHIndex
from agentmem.stores._sqlite import EmbeddedTableStore, check_k, open_table

__all__ = ["ThoughtStore"]

logger = logging.getLogger(__name__)

_DB = "thought.sqlite"


class ThoughtStore(EmbeddedTableStore):
    """Thoughts searched by cosine similarity through random-hyperplane LSH.

    Args:
        path: a folder for the database (created if missing), or ``None`` for memory only.
        embedder: turns texts into vectors; the same model must be used on reopen.
        name: the store's name in hits, traces and ``Memory.write(..., store=name)``.
        bits: hyperplanes per hash table.
        tables: number of hash tables.
        probes: neighbouring buckets probed per query beyond each table's home bucket.
        seed: seeds the hyperplanes.
        min_candidates: keep probing until this many candidates in scope were found.
        exact_below: score scopes with fewer items than this exactly, without hashing.
        synchronous: SQLite durability, ``FULL`` (default) or ``NORMAL``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        embedder: Embedder,
        *,
        name: str = "thought",
        bits: int = 14,
        tables: int = 32,
        probes: int = 2000,
        seed: int = 0,
        min_candidates: int = 100,
        exact_below: int = 1000,
        synchronous: str = "FULL",
    ) -> None:
        if min_candidates < 0 or exact_below < 0:
            msg = "min_candidates and exact_below must be >= 0"
            raise InvalidInputError(msg)
        self.name = name
        self.embedder = embedder
        self.min_candidates = min_candidates
        self.exact_below = exact_below
        self._folder, self._table = open_table(path, _DB, synchronous=synchronous)
        self._dim = int(embedder.dim)
        self._check_embedder("thought store", "open it with the same embedder")
        self._lsh = {"bits": bits, "tables": tables, "probes": probes, "seed": seed}
        self._seen = self._table.last_change()  # before loading: later changes replay
        self._index = self._load_index()
        self.last_scored = 0
        logger.debug("thought store %r: indexed %d thoughts", name, len(self._index))

    def _load_index(self) -> LSHIndex:
        index = LSHIndex(self._dim, **self._lsh)
        for vids, blobs in self._table.embeddings():
            vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)
            index.add(vids, vectors)
        return index

    def _catch_up(self) -> None:
        """Apply every change committed since this index last looked (any process's)."""

        def reload() -> None:
            self._index = self._load_index()

        self._follow_changes(
            lambda vids: self._index.remove(vids),
            lambda vids, vectors: self._index.add(vids, vectors),
            reload,
        )

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Close the database. Further calls raise ClosedError."""
        self._table.close()

    # -- MemoryStore -------------------------------------------------------------------
    def add(self, items: Sequence[MemoryItem]) -> None:
        """Embed and store ``items`` in one transaction."""
        if not items:
            return
        self._table.ensure_open()
        vectors = self._embed([item.text for item in items])
        with self._table.transaction():
            vids = self._table.insert(items, [row.tobytes() for row in vectors])
            self._table.bump_version()
            self._index.add(vids, vectors)

    def update(self, items: Sequence[MemoryItem]) -> None:
        """Replace stored items by id; a changed text is re-embedded and re-hashed."""
        if not items:
            return
        self._replace(items, self._embed, self._index.add)

    def delete(self, ids: Sequence[str]) -> int:
        """Delete items for good; return how many existed."""
        if not ids:
            return 0
        with self._table.transaction():
            vids = self._table.delete(list(ids))
            if vids:
                self._table.bump_version()
                self._index.remove(vids)
        return len(vids)

    def search(
        self,
        query: str,
        *,
        scope: Scope,
        k: int = 10,
        filters: Filters | None = None,
        as_of: datetime | None = None,
    ) -> list[Hit]:
        """The ``k`` thoughts in ``scope`` most similar to ``query`` (LSH candidates, exact rank).

        Hits found through hashing carry the signal ``"lsh"``; those of a small scope, or
        of a search whose buckets stayed too thin, ``"exact"``. ``last_scored`` tells how
        many similarities the search computed.
        """
        check_k(k)
        self._catch_up()
        allowed = set(self._table.vids(scope, filters, as_of=as_of, open_only=as_of is None))
        if not allowed:
            self.last_scored = 0
            return []
        vector = self._embed([query])[0]
        with self._table.lock:
            signal = "lsh"
            if len(allowed) < self.exact_below:
                result, signal = self._index.exact(vector, k, allowed=allowed), "exact"
            else:
                result = self._index.search(
                    vector, k, allowed=allowed, min_candidates=self.min_candidates
                )
                if len(result.vids) < min(k, len(allowed)):
                    logger.debug("LSH found %d of %d; scoring exactly", len(result.vids), k)
                    result, signal = self._index.exact(vector, k, allowed=allowed), "exact"
            self.last_scored = result.scored
        return self._hits(list(zip(result.vids, result.scores, strict=True)), signal)

    @property
    def index_size(self) -> int:
        """How many vectors the LSH index holds (equals ``count()`` when consistent)."""
        self._catch_up()
        return len(self._index)
