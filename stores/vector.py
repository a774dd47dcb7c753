"""VectorStore: memories in SQLite, searched by meaning through a faiss index.

SQLite holds every item and its embedding and is the source of truth; the faiss index
(exact inner product, in an ID map so deletes work) is derived from it. The index is
saved beside the database on ``close``/``flush`` and rebuilt from SQLite when it is
missing or out of date, so a killed process loses nothing that ``add`` returned.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from numpy.typing import NDArray

from agentmem._models import Filters, Hit, MemoryItem, Scope
from agentmem._protocols import Embedder
from agentmem.stores._index import faiss_threads
from agentmem.stores._sqlite import (
    ColumnReads,
    EmbeddedTableStore,
    ItemTable,
    check_k,
    open_table,
)

__all__ = ["VectorStore"]

logger = logging.getLogger(__name__)

_DB = "vector.sqlite"  # also HybridStore's database file
_INDEX = "vector.faiss"
_INDEX_META = "vector.faiss.json"


class VectorStore(EmbeddedTableStore, ColumnReads):
    """Memories searched by embedding similarity (cosine, via normalised inner product).

    Args:
        path: a folder to keep the database and index in (created if missing), or
            ``None`` for a store that lives in memory only.
        embedder: turns texts into vectors; the same model must be used on reopen.
        name: the store's name in hits and traces.
        synchronous: SQLite durability, ``FULL`` (default) or ``NORMAL`` (faster; still
            safe against a killed process, not against power loss).
        save_every: save the faiss index after this many writes (it is also saved on
            ``close``/``flush``; an index left stale by a crash is rebuilt on open).
        faiss_threads: OpenMP threads faiss may use in this store's searches, set around
            each search in the calling thread only (OpenMP's setting is per thread) and
            restored after. One thread is fastest for single queries on small machines,
            where idle OpenMP workers spin against the embedding model's threads; ``None``
            leaves faiss's setting alone.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        embedder: Embedder,
        *,
        name: str = "vector",
        synchronous: str = "FULL",
        save_every: int = 5000,
        faiss_threads: int | None = 1,
    ) -> None:
        self.faiss_threads = faiss_threads
        self.name = name
        self.embedder = embedder
        self._folder, self._table = open_table(path, _DB, synchronous=synchronous)
        self._save_every = save_every
        self._unsaved = 0
        self._dim = int(embedder.dim)
        self._check_embedder(
            "store",
            "open it with the same embedder, or call VectorStore.reindex(path, embedder) to "
            "re-embed every memory",
        )
        self._seen = self._table.last_change()  # before loading: later changes replay
        self._index = self._load_or_build_index()

    # -- lifecycle ---------------------------------------------------------------------
    def _new_index(self) -> Any:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self._dim))

    def _load_or_build_index(self) -> Any:
        version = self._table.get_meta("version") or "0"
        if self._folder is not None:
            index_path, meta_path = self._folder / _INDEX, self._folder / _INDEX_META
            if index_path.exists() and meta_path.exists():
                try:
                    saved = json.loads(meta_path.read_text())
                    if saved.get("version") == version and saved.get("dim") == self._dim:
                        index = faiss.read_index(str(index_path))
                        logger.debug("loaded faiss index at version %s", version)
                        return index
                    logger.info(
                        "faiss index is stale (version %s, db %s); rebuilding",
                        saved.get("version"),
                        version,
                    )
                except (OSError, ValueError, RuntimeError) as exc:
                    logger.warning("faiss index unreadable (%s); rebuilding from SQLite", exc)
        return self._rebuild()

    def _rebuild(self) -> Any:
        index = self._new_index()
        for vids, blobs in self._table.embeddings():
            vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)
            index.add_with_ids(vectors, np.asarray(vids, dtype=np.int64))
        logger.debug("rebuilt faiss index with %d vectors", index.ntotal)
        return index

    def flush(self) -> None:
        """Save the faiss index so the next open need not rebuild it."""
        if self._folder is None or self._table.closed:
            return
        with self._table.lock:
            version = self._table.get_meta("version") or "0"
            tmp_index = self._folder / (_INDEX + ".tmp")
            tmp_meta = self._folder / (_INDEX_META + ".tmp")
            faiss.write_index(self._index, str(tmp_index))
            tmp_meta.write_text(json.dumps({"version": version, "dim": self._dim}))
            os.replace(tmp_index, self._folder / _INDEX)
            os.replace(tmp_meta, self._folder / _INDEX_META)
            self._unsaved = 0

    def close(self) -> None:
        """Save the index and close the database. Further calls raise ClosedError."""
        if self._table.closed:
            return
        self.flush()
        self._table.close()

    def _wrote(self, n: int) -> None:
        self._unsaved += n
        if self._unsaved >= self._save_every:
            self.flush()

    # -- embedding ---------------------------------------------------------------------
    # -- MemoryStore -------------------------------------------------------------------
    def add(self, items: Sequence[MemoryItem]) -> None:
        """Embed and store ``items`` in one transaction."""
        if not items:
            return
        self._table.ensure_open()  # fail before any embedding work
        vectors = self._embed([item.text for item in items])
        blobs = [row.tobytes() for row in vectors]
        with self._table.transaction():
            vids = self._table.insert(items, blobs)
            self._table.bump_version()
            # Inside the lock: the index never lags a committed row for a reader.
            self._index.add_with_ids(vectors, np.asarray(vids, dtype=np.int64))
        self._wrote(len(items))

    def update(self, items: Sequence[MemoryItem]) -> None:
        """Replace stored items by id; a changed text is re-embedded."""
        if not items:
            return
        self._replace(items, self._embed, self._reindex)
        self._wrote(len(items))

    def _reindex(self, vids: list[int], vectors: NDArray[np.float32]) -> None:
        ids = np.asarray(vids, dtype=np.int64)
        self._index.remove_ids(ids)
        self._index.add_with_ids(vectors, ids)

    def delete(self, ids: Sequence[str]) -> int:
        """Delete items for good; return how many existed."""
        if not ids:
            return 0
        with self._table.transaction():
            vids = self._table.delete(list(ids))
            if vids:
                self._table.bump_version()
                self._index.remove_ids(np.asarray(vids, dtype=np.int64))
        self._wrote(len(vids))
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
        """Exact cosine search over the items in ``scope`` that pass ``filters``."""
        check_k(k)
        self._catch_up()
        allowed = self._table.vids(scope, filters, as_of=as_of, open_only=as_of is None)
        if not allowed:
            return []
        vector = self._embed([query])
        with self._table.lock, faiss_threads(self.faiss_threads):
            selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
            scores, ids = self._index.search(vector, min(k, len(allowed)), params=params)
        found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        return self._hits(found, "dense")

    # -- maintenance -------------------------------------------------------------------
    @property
    def index_size(self) -> int:
        """How many vectors the faiss index holds (equals ``count()`` when consistent)."""
        self._catch_up()
        return int(self._index.ntotal)

    def _catch_up(self) -> None:
        """Apply every change committed since this index last looked (any process's)."""

        def reload() -> None:
            self._index = self._rebuild()

        self._follow_changes(
            lambda vids: self._index.remove_ids(np.asarray(vids, dtype=np.int64)),
            lambda vids, vectors: self._index.add_with_ids(
                vectors, np.asarray(vids, dtype=np.int64)
            ),
            reload,
        )

    @classmethod
    def reindex(cls, path: str | os.PathLike[str], embedder: Embedder) -> VectorStore:
        """Re-embed every memory in the store at ``path`` with ``embedder`` and open it."""
        folder = Path(path).expanduser()
        table = ItemTable(folder / _DB)
        try:
            batches = list(table.texts())
            with table.transaction() as conn:
                for vids, texts in batches:
                    vectors = np.asarray(embedder.embed(texts), dtype=np.float32)
                    conn.executemany(
                        "UPDATE items SET embedding = ? WHERE vid = ?",
                        [(v.tobytes(), vid) for v, vid in zip(vectors, vids, strict=True)],
                    )
                table.set_meta("embedder", embedder.name)
                table.set_meta("dim", str(embedder.dim))
                table.bump_version()
        finally:
            table.close()
        return cls(folder, embedder)
