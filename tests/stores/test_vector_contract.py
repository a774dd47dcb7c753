from __future__ import annotations

from pathlib import Path

import pytest

from agentmem.stores import VectorStore
from agentmem.testing import HashEmbedder
from agentmem.testing.stores import MemoryStoreContract, StoreFactory


class TestVectorStore(MemoryStoreContract):
    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        return lambda path: VectorStore(path, HashEmbedder(256))


def test_in_memory_vector_store_works_without_a_path() -> None:
    from agentmem import Scope
    from agentmem.testing.stores import make

    store = VectorStore(None, HashEmbedder(64))
    store.add([make("hello world")])
    assert store.search("hello", scope=Scope(user_id="alice"))[0].item.text == "hello world"
    store.close()


def test_stale_index_is_rebuilt_from_sqlite(tmp_path: Path) -> None:
    from agentmem import Scope
    from agentmem.testing.stores import make

    store = VectorStore(tmp_path, HashEmbedder(64))
    store.add([make("first")])
    store.flush()
    store.add([make("second")])  # index file now lags the database
    store._table.close()  # simulate a crash: no flush
    reopened = VectorStore(tmp_path, HashEmbedder(64))
    assert reopened.index_size == 2
    assert reopened.search("second", scope=Scope(user_id="alice"), k=1)[0].item.text == "second"
    reopened.close()


def test_other_embedder_on_reopen_is_a_clear_error(tmp_path: Path) -> None:
    from agentmem import UserError

    VectorStore(tmp_path, HashEmbedder(64)).close()
    with pytest.raises(UserError, match="reindex"):
        VectorStore(tmp_path, HashEmbedder(32))
    VectorStore.reindex(tmp_path, HashEmbedder(32)).close()
