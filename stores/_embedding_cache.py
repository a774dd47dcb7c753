"""Embeddings cached by content hash, in the store's own SQLite database.

Re-adding a text that is already stored (a duplicate, a re-indexed memory, a reopened
store that must re-embed) reuses its vector instead of running the model again. The
cache keys on the embedder's name and the exact embedded text; each item references the
hash of its vector, and a vector leaves the cache with the last item that used it, so
the cache never keeps the embedding of a forgotten memory.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from agentmem._sql import chunks

__all__ = ["CachedEmbeddings", "EmbeddingCache"]

_BATCH = 256
_PROGRESS_FROM = 5000


class CachedEmbeddings(NamedTuple):
    """What :meth:`EmbeddingCache.embed` returns."""

    vectors: NDArray[np.float32]
    """One row per text, in order."""
    new_rows: list[tuple[str, bytes]]
    """``(hash, vector bytes)`` computed now, to store with :meth:`EmbeddingCache.store`."""
    hashes: list[str]
    """Each text's cache key, to reference with :meth:`EmbeddingCache.ref`."""


class EmbeddingCache:
    """A content-hash cache of embeddings in two tables beside the items.

    Args:
        embed: the store's checked embedding call (texts in, ``(n, dim)`` float32 out).
        model: the embedder's name (part of every key).
        dim: the vector dimension.
        lock: the store's lock (guards reads of the cache).
        progress: show a progress bar when embedding many texts (off by default).
    """

    SCHEMA = """
CREATE TABLE IF NOT EXISTS embedding_cache (hash TEXT PRIMARY KEY, embedding BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS embedding_refs (vid INTEGER PRIMARY KEY, hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS embedding_refs_hash ON embedding_refs (hash);
"""

    def __init__(
        self,
        embed: Callable[[Sequence[str]], NDArray[np.float32]],
        *,
        model: str,
        dim: int,
        lock: threading.RLock,
        progress: bool = False,
    ) -> None:
        self._embed = embed
        self._prefix = f"{model}\0"
        self.dim = dim
        self._lock = lock
        self.progress = progress

    def key(self, text: str) -> str:
        """The cache key of ``text`` for this embedder."""
        data = (self._prefix + text).encode("utf-8", "surrogatepass")
        return hashlib.sha256(data).hexdigest()

    def embed(self, conn: sqlite3.Connection, texts: Sequence[str]) -> CachedEmbeddings:
        """Embed ``texts``, reusing cached vectors; nothing is written."""
        hashes = [self.key(t) for t in texts]
        unique = list(dict.fromkeys(hashes))
        cached: dict[str, bytes] = {}
        with self._lock:
            for chunk, qs in chunks(unique):
                rows = conn.execute(
                    f"SELECT hash, embedding FROM embedding_cache WHERE hash IN ({qs})", chunk
                ).fetchall()
                cached.update((str(h), bytes(b)) for h, b in rows)
        missing = [h for h in unique if h not in cached]
        new_rows: list[tuple[str, bytes]] = []
        if missing:
            first = dict(zip(hashes, texts, strict=True))
            todo = [first[h] for h in missing]
            for start in self._batches(len(todo)):
                vectors = self._embed(todo[start : start + _BATCH])
                for h, vector in zip(missing[start : start + _BATCH], vectors, strict=True):
                    blob = vector.tobytes()
                    cached[h] = blob
                    new_rows.append((h, blob))
        out = np.frombuffer(b"".join(cached[h] for h in hashes), dtype=np.float32)
        return CachedEmbeddings(out.reshape(len(texts), self.dim).copy(), new_rows, hashes)

    def _batches(self, n: int) -> Iterable[int]:
        starts = range(0, n, _BATCH)
        if not self.progress or n < _PROGRESS_FROM:
            return starts
        from tqdm import tqdm  # only when asked for: tqdm is not needed otherwise

        bar: Iterable[int] = tqdm(starts, desc="embedding", unit="batch")
        return bar

    @staticmethod
    def store(conn: sqlite3.Connection, new_rows: Sequence[tuple[str, bytes]]) -> None:
        """Keep freshly computed vectors (inside the caller's transaction)."""
        if new_rows:
            conn.executemany(
                "INSERT OR IGNORE INTO embedding_cache (hash, embedding) VALUES (?, ?)", new_rows
            )

    @staticmethod
    def ref(conn: sqlite3.Connection, vids: Sequence[int], hashes: Sequence[str]) -> None:
        """Record that item ``vids`` use the vectors ``hashes``."""
        conn.executemany(
            "INSERT OR REPLACE INTO embedding_refs (vid, hash) VALUES (?, ?)",
            list(zip(vids, hashes, strict=True)),
        )

    @staticmethod
    def unref(conn: sqlite3.Connection, vids: Sequence[int]) -> None:
        """Drop the references of ``vids``, and cached vectors no item uses any more."""
        for chunk, qs in chunks(vids):
            hashes = [
                str(row[0])
                for row in conn.execute(
                    f"DELETE FROM embedding_refs WHERE vid IN ({qs}) RETURNING hash", chunk
                ).fetchall()
            ]
            conn.executemany(
                "DELETE FROM embedding_cache WHERE hash = ? AND NOT EXISTS "
                "(SELECT 1 FROM embedding_refs WHERE hash = ?)",
                [(h, h) for h in dict.fromkeys(hashes)],
            )

    @classmethod
    def reset(
        cls,
        conn: sqlite3.Connection,
        vids: Sequence[int],
        hashes: Sequence[str],
        vectors: NDArray[np.float32],
    ) -> None:
        """Make the cache hold exactly ``vectors`` for ``vids`` (after re-embedding all)."""
        conn.execute("DELETE FROM embedding_refs")
        conn.execute("DELETE FROM embedding_cache")
        cls.ref(conn, vids, hashes)
        cls.store(conn, [(h, v.tobytes()) for h, v in zip(hashes, vectors, strict=True)])
