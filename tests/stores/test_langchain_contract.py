from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore

from agentmem import Scope
from agentmem.integrations.langchain import AgentMemEmbeddings
from agentmem.stores import LangChainStore
from agentmem.testing import HashEmbedder
from agentmem.testing.stores import MemoryStoreContract, StoreFactory, make


def _index() -> InMemoryVectorStore:
    return InMemoryVectorStore(AgentMemEmbeddings(HashEmbedder(256)))


class TestLangChainStore(MemoryStoreContract):
    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        return lambda path: LangChainStore(path, _index())


class _NoFilterIndex(InMemoryVectorStore):
    """A backend without filter support: the store must over-fetch and filter itself."""

    def __init__(self) -> None:
        super().__init__(AgentMemEmbeddings(HashEmbedder(64)))
        self.fetches: list[int] = []

    def similarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        assert "filter" not in kwargs
        self.fetches.append(k)
        return super().similarity_search_with_score(query, k=k)


def test_search_without_backend_filter_never_returns_another_users_items() -> None:
    index = _NoFilterIndex()
    store = LangChainStore(None, index, scope_filter=None, overfetch=2)
    # The index is flooded with bob's near-identical notes; alice has two among them.
    store.add([make(f"shared secret note {i}", "bob") for i in range(50)])
    store.add([make("shared secret note alice", "alice"), make("unrelated", "alice")])
    hits = store.search("shared secret note", scope=Scope(user_id="alice"), k=2)
    assert {h.item.scope.user_id for h in hits} == {"alice"}
    assert len(hits) == 2
    assert index.fetches[0] == 4 and len(index.fetches) > 1  # it had to fetch more
    store.close()


def test_index_is_filled_from_sqlite_when_empty_on_open(tmp_path: Path) -> None:
    first = LangChainStore(tmp_path, _index())
    first.add([make("Alice moved to Lisbon"), make("Bob likes tea", "bob")])
    first.close()
    index = _index()
    second = LangChainStore(tmp_path, index)
    assert len(index.store) == 2
    hits = second.search("Lisbon", scope=Scope(user_id="alice"), k=5)
    assert [h.item.text for h in hits] == ["Alice moved to Lisbon"]
    second.close()


def test_documents_in_the_index_carry_scope_metadata() -> None:
    index = _index()
    store = LangChainStore(None, index)
    item = make("note", "alice", session="s9", agent="a1")
    store.add([item])
    (doc,) = index.get_by_ids([item.id])
    assert doc.page_content == "note"
    assert doc.metadata == {
        "memory_id": item.id,
        "user_id": "alice",
        "agent_id": "a1",
        "session_id": "s9",
        "kind": "message",
    }
    store.close()


def test_a_failing_index_leaves_nothing_behind() -> None:
    from agentmem import StoreError

    class Broken(InMemoryVectorStore):
        def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
            raise RuntimeError("backend down")

    store = LangChainStore(None, Broken(AgentMemEmbeddings(HashEmbedder(16))))
    with pytest.raises(StoreError, match="backend down"):
        store.add([make("lost")])
    assert store.count() == 0
    store.close()
