"""The code blocks of docs/langchain.md run (with a test embedder and model)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models import GenericFakeChatModel

from agentmem import Memory
from agentmem.stores import VectorStore
from agentmem.testing import HashEmbedder

DOC = Path(__file__).resolve().parents[2] / "docs" / "langchain.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def _memory() -> Memory:
    return Memory([VectorStore(None, HashEmbedder(64))], policies=[])


def test_chat_chain_block(monkeypatch: pytest.MonkeyPatch) -> None:
    memory = _memory()
    monkeypatch.setattr(Memory, "default", staticmethod(lambda path: memory))
    fake = GenericFakeChatModel(messages=iter(["Noted.", "In Lisbon."]))
    exec(BLOCKS[0], {"chat_model": fake})
    texts = [i.text for i in memory.items(user_id="alice")]
    assert "My sister Anna lives in Lisbon." in texts and "In Lisbon." in texts


def test_vector_store_block() -> None:
    memory = _memory()
    memory.add("Alice likes green tea", user_id="alice", kind="fact")
    scope = {"memory": memory, "last_week": datetime(2000, 1, 1, tzinfo=UTC)}
    exec(BLOCKS[1], scope)
    assert [d.page_content for d in scope["docs"]][:1] == ["Alice likes green tea"]


def test_langchain_store_block(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    scope = {"embeddings": DeterministicFakeEmbedding(size=8)}
    exec(BLOCKS[2], scope)
    memory = scope["memory"]
    memory.add("hello", user_id="alice")
    assert memory.search("hello", user_id="alice")[0].item.text == "hello"
    assert (tmp_path / ".agentmem" / "alice" / "langchain.sqlite").exists()
    memory.close()
