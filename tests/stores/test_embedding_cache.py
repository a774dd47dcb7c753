"""The embedding cache on its own: reuse by content, references, forgetting."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from agentmem.stores._embedding_cache import EmbeddingCache
from agentmem.testing import HashEmbedder


def make() -> tuple[EmbeddingCache, sqlite3.Connection, list[int]]:
    embedder = HashEmbedder(16)
    calls: list[int] = []

    def embed(texts: Sequence[str]) -> NDArray[np.float32]:
        calls.append(len(texts))
        return np.asarray(embedder.embed(list(texts)), dtype=np.float32)

    conn = sqlite3.connect(":memory:")
    conn.executescript(EmbeddingCache.SCHEMA)
    cache = EmbeddingCache(embed, model=embedder.name, dim=16, lock=threading.RLock())
    return cache, conn, calls


def test_known_texts_are_not_embedded_again() -> None:
    cache, conn, calls = make()
    first = cache.embed(conn, ["a", "b", "a"])
    assert calls == [2] and len(first.new_rows) == 2
    assert np.array_equal(first.vectors[0], first.vectors[2])
    EmbeddingCache.store(conn, first.new_rows)
    EmbeddingCache.ref(conn, [1, 2, 3], first.hashes)
    again = cache.embed(conn, ["b", "c"])
    assert calls == [2, 1] and [h for h, _ in again.new_rows] == [cache.key("c")]
    assert np.array_equal(again.vectors[0], first.vectors[1])


def test_a_vector_leaves_with_the_last_item_that_used_it() -> None:
    cache, conn, _ = make()
    got = cache.embed(conn, ["a", "a"])
    EmbeddingCache.store(conn, got.new_rows)
    EmbeddingCache.ref(conn, [1, 2], got.hashes)
    EmbeddingCache.unref(conn, [1])
    assert conn.execute("SELECT COUNT(*) FROM embedding_cache").fetchone()[0] == 1
    EmbeddingCache.unref(conn, [2])
    assert conn.execute("SELECT COUNT(*) FROM embedding_cache").fetchone()[0] == 0


def test_keys_depend_on_the_model() -> None:
    cache, _, _ = make()
    other = EmbeddingCache(
        lambda t: np.zeros((len(t), 16), np.float32), model="other", dim=16, lock=threading.RLock()
    )
    assert cache.key("a") != other.key("a")
