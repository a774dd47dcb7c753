"""Optional store capabilities are typing protocols, checked with isinstance."""

from __future__ import annotations

import sys
from pathlib import Path

import agentmem
from agentmem import (
    AuditedStore,
    BatchGetStore,
    ColumnarStore,
    EmbeddingStore,
    ErasingStore,
    LazyCommitStore,
    Memory,
    MemoryStore,
    PurgingStore,
    TouchingStore,
    TransactionalStore,
)
from agentmem.stores import HybridStore, SymbolicStore, VectorStore
from agentmem.testing import HashEmbedder

ALL = (
    AuditedStore,
    BatchGetStore,
    ColumnarStore,
    EmbeddingStore,
    LazyCommitStore,
    PurgingStore,
    TouchingStore,
    TransactionalStore,
)


def test_the_bundled_sqlite_stores_offer_every_capability() -> None:
    for store in (HybridStore(None, HashEmbedder(8)), VectorStore(None, HashEmbedder(8))):
        assert isinstance(store, MemoryStore)
        assert [cap.__name__ for cap in ALL if not isinstance(store, cap)] == []
        store.close()
    symbolic = SymbolicStore(None)
    assert isinstance(symbolic, ErasingStore)  # its records and facts go with the user
    symbolic.close()


def test_a_plain_store_offers_none_and_memory_still_works(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "custom_store"))
    try:
        from tinystore import TinyStore
    finally:
        sys.path.pop(0)
    store = TinyStore(tmp_path)
    assert isinstance(store, MemoryStore)
    assert [cap.__name__ for cap in (*ALL, ErasingStore) if isinstance(store, cap)] == []
    memory = Memory([store], embedder=HashEmbedder(8))
    item = memory.add("Alice lives in Porto", user_id="alice")
    assert memory.search("Porto", user_id="alice")[0].item.id == item.id
    assert [e.op.value for e in memory.history(item.id)] == ["add", "access"]
    memory.close()


def test_capabilities_are_public() -> None:
    assert all(cap.__name__ in agentmem.__all__ for cap in (*ALL, ErasingStore))
