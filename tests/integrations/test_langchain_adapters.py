"""The other direction: LangChain chat models and embeddings inside agentmem."""

from __future__ import annotations

import numpy as np
import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.vectorstores import InMemoryVectorStore

from agentmem import Agent, ChatMessage, Memory, ModelError
from agentmem.embedders import LangChainEmbedder
from agentmem.llms import LangChainLLM
from agentmem.stores import LangChainStore, VectorStore


def test_langchain_chat_model_as_agentmem_chat_model() -> None:
    model = GenericFakeChatModel(
        messages=iter(
            [
                AIMessage(
                    "  Lisbon. ",
                    usage_metadata={"input_tokens": 7, "output_tokens": 2, "total_tokens": 9},
                )
            ]
        )
    )
    result = LangChainLLM(model).chat([ChatMessage(role="user", content="where?")])
    assert (result.text, result.prompt_tokens, result.completion_tokens) == ("Lisbon.", 7, 2)
    assert result.model == "GenericFakeChatModel"


def test_langchain_chat_model_errors_become_model_errors() -> None:
    model = FakeListChatModel(responses=[])
    with pytest.raises(ModelError, match="FakeListChatModel"):
        LangChainLLM(model).chat([ChatMessage(role="user", content="hi")])


def test_langchain_embeddings_as_agentmem_embedder() -> None:
    embedder = LangChainEmbedder(DeterministicFakeEmbedding(size=12), name="fake")
    assert (embedder.dim, embedder.name) == (12, "fake")
    vectors = embedder.embed(["a", "b", "a"])
    assert vectors.shape == (3, 12) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(vectors[0], vectors[2])
    assert embedder.embed([]).shape == (0, 12)


def test_agent_runs_on_langchain_model_embeddings_and_store() -> None:
    embeddings = DeterministicFakeEmbedding(size=16)
    memory = Memory(
        [LangChainStore(None, InMemoryVectorStore(embeddings))],
        embedder=LangChainEmbedder(embeddings),
        policies=[],
    )
    replies = ["Nice to meet you.", "You told me you like chess."]
    agent = Agent(LangChainLLM(FakeListChatModel(responses=replies)), memory, extractors=[])
    agent.chat("I like chess", user_id="alice")
    reply = agent.chat("I like chess, what do I like?", user_id="alice")
    assert reply.text == "You told me you like chess."
    assert [h.item.text for h in reply.recalled] == ["I like chess"]
    memory.close()


def test_langchain_embedder_in_the_faiss_store() -> None:
    embedder = LangChainEmbedder(DeterministicFakeEmbedding(size=8))
    store = VectorStore(None, embedder)
    memory = Memory([store], policies=[])
    memory.add("foo", user_id="u")
    assert memory.search("foo", user_id="u")[0].score == pytest.approx(1.0, abs=1e-5)
    memory.close()


def test_multi_part_content_is_read_as_text() -> None:
    parts: list[str | dict[str, str]] = [
        {"type": "text", "text": "Lis"},
        {"type": "text", "text": "bon"},
    ]
    model = GenericFakeChatModel(messages=iter([AIMessage(content=parts)]))  # type: ignore[arg-type]
    assert LangChainLLM(model).chat([ChatMessage(role="user", content="?")]).text == "Lisbon"
