from __future__ import annotations

import pytest

from agentmem.stores import ContextOptions, HybridStore, IndexSettings
from agentmem.testing import HashEmbedder
from agentmem.testing.stores import MemoryStoreContract, StoreFactory


class TestHybridStore(MemoryStoreContract):
    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        return lambda path: HybridStore(path, HashEmbedder(256))


class TestHybridStoreOnHNSW(MemoryStoreContract):
    """Every user's block past 8 rows answers from an HNSW graph."""

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        return lambda path: HybridStore(
            path, HashEmbedder(256), index=IndexSettings(exact_limit=8, ef_search=256)
        )


class TestDenseOnly(MemoryStoreContract):
    """Dense only, without the recency prior.

    With it, the 10,000-item test's newest near-identical note outranks the exact one by
    design (rank-fusion scores of one list are close together); hybrid search passes
    with the prior on, because BM25 separates the exact note.
    """

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        return lambda path: HybridStore(
            path, HashEmbedder(256), signals=("dense",), recency_boost=0.0
        )


class TestBM25Only(MemoryStoreContract):
    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        return lambda path: HybridStore(path, HashEmbedder(256), signals=("bm25",))


class TestWeightedFusion(MemoryStoreContract):
    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        return lambda path: HybridStore(path, HashEmbedder(256), fusion="weighted")


class TestPreviousTurnContext(MemoryStoreContract):
    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        return lambda path: HybridStore(
            path, HashEmbedder(256), context=ContextOptions(previous_turn="lexical")
        )
