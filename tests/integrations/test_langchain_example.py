from __future__ import annotations

import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import GenericFakeChatModel

from agentmem import Memory
from agentmem.integrations.langchain import AgentMemChatModel
from agentmem.stores import VectorStore
from agentmem.testing import HashEmbedder, ScriptedLLM

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "langchain_chat.py"


@pytest.fixture
def example() -> dict[str, Any]:
    return runpy.run_path(str(EXAMPLE))


@pytest.fixture
def memory() -> Iterator[Memory]:
    with Memory([VectorStore(None, HashEmbedder(128))], policies=[]) as opened:
        yield opened


def test_chain_code_is_under_twenty_lines() -> None:
    source = EXAMPLE.read_text().split("def build_chat", 1)[1].split("\ndef main", 1)[0]
    code = [line for line in source.splitlines() if line.strip()]
    assert len(code) < 20


def test_example_recalls_the_first_turn_in_the_second(
    example: dict[str, Any], memory: Memory, capsys: pytest.CaptureFixture[str]
) -> None:
    llm = ScriptedLLM(["Nice! Lisbon is lovely.", "Your sister Anna lives in Lisbon."])
    answers = example["main"](AgentMemChatModel(llm=llm), memory)
    assert answers == ["Nice! Lisbon is lovely.", "Your sister Anna lives in Lisbon."]
    first_system, second_system = llm.calls[0][0].content, llm.calls[1][0].content
    assert "(nothing recalled)" in first_system
    assert "My sister Anna lives in Lisbon." in second_system
    assert "bot:  Your sister Anna lives in Lisbon." in capsys.readouterr().out
    assert memory.count(user_id="alice") == 4  # two turns, user and assistant


def test_example_with_langchains_fake_chat_model(example: dict[str, Any], memory: Memory) -> None:
    fake = GenericFakeChatModel(messages=iter(["Hello!", "In Lisbon."]))
    assert example["main"](fake, memory) == ["Hello!", "In Lisbon."]
    hits = memory.search("sister Lisbon", user_id="alice", k=4)
    assert "Hi! My sister Anna lives in Lisbon." in [h.item.text for h in hits]
