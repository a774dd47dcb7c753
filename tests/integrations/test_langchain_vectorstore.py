from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from agentmem import Memory, UserError
from agentmem.embedders import LangChainEmbedder
from agentmem.integrations.langchain import AgentMemVectorStore
from agentmem.stores import VectorStore
from agentmem.testing import HashEmbedder


class TestAgentMemVectorStoreStandard(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self) -> Iterator[AgentMemVectorStore]:  # type: ignore[override]
        embedder = LangChainEmbedder(self.get_embeddings())
        memory = Memory([VectorStore(None, embedder)], policies=[])
        yield AgentMemVectorStore(memory, user_id="alice")
        memory.close()


@pytest.fixture
def memory() -> Iterator[Memory]:
    embedder = HashEmbedder(64)
    with Memory([VectorStore(None, embedder)], policies=[]) as opened:
        yield opened


def test_documents_are_scoped_by_user(memory: Memory) -> None:
    alice = AgentMemVectorStore(memory, user_id="alice")
    bob = AgentMemVectorStore(memory, user_id="bob")
    (alice_id,) = alice.add_texts(["alice's secret about Lisbon"])
    bob.add_texts(["bob's secret about Lisbon"])
    assert [d.page_content for d in bob.similarity_search("secret Lisbon", k=5)] == [
        "bob's secret about Lisbon"
    ]
    assert bob.get_by_ids([alice_id]) == []
    with pytest.raises(UserError, match="another user"):
        bob.add_texts(["overwrite"], ids=[alice_id])
    bob.delete([alice_id])  # not bob's: nothing happens
    assert alice.get_by_ids([alice_id])[0].page_content == "alice's secret about Lisbon"


def test_documents_are_memories_with_audit(memory: Memory) -> None:
    store = AgentMemVectorStore(memory, user_id="alice", session_id="s1", kind="fact")
    (item_id,) = store.add_documents([Document(page_content="likes tea", metadata={"n": 1})])
    item = memory.get(item_id)
    assert (item.kind.value, item.scope.session_id, item.metadata) == ("fact", "s1", {"n": 1})
    store.add_documents([Document(id=item_id, page_content="likes coffee", metadata={})])
    assert memory.get(item_id).text == "likes coffee"
    assert [e.op.value for e in memory.history(item_id)] == ["add", "update"]


def test_search_takes_agentmem_filters_and_scores(memory: Memory) -> None:
    store = AgentMemVectorStore(memory, user_id="alice")
    store.add_texts(["tea fact", "tea chat"], [{"topic": "a"}, {"topic": "b"}])
    found = store.similarity_search("tea", k=5, filter={"metadata": {"topic": "b"}})
    assert [d.page_content for d in found] == ["tea chat"]
    scored = store.similarity_search_with_relevance_scores("tea fact", k=2)
    assert scored[0][0].page_content == "tea fact"
    assert 0.0 <= scored[1][1] <= scored[0][1] <= 1.0


def test_delete_without_ids_forgets_only_the_scope(memory: Memory) -> None:
    AgentMemVectorStore(memory, user_id="alice", session_id="s1").add_texts(["one"])
    AgentMemVectorStore(memory, user_id="alice", session_id="s2").add_texts(["two"])
    AgentMemVectorStore(memory, user_id="alice", session_id="s1").delete()
    assert [i.text for i in memory.items(user_id="alice")] == ["two"]


def test_from_texts_builds_an_in_memory_store() -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    store = AgentMemVectorStore.from_texts(
        ["foo", "bar"], DeterministicFakeEmbedding(size=8), user_id="u"
    )
    assert store.similarity_search("bar", k=1)[0].page_content == "bar"
    assert store.embeddings is not None
    assert len(store.embeddings.embed_query("x")) == 8
    with pytest.raises(UserError, match="user_id"):
        AgentMemVectorStore.from_texts(["foo"], DeterministicFakeEmbedding(size=8))
    store.memory.close()
