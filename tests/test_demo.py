"""``agentmem demo`` with a stand-in model that answers by copying the memory it is given:
the demo says what it will show, streams, and its questions get the right memory."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from agentmem import ChatMessage
from agentmem.cli.demo import EXPECTED, INTRO, run_demo
from agentmem.testing import FunctionLLM, HashEmbedder


def copy_the_memory(messages: Sequence[ChatMessage]) -> str:
    text = messages[-1].content
    if text.startswith("Extract lasting facts"):
        return "NONE"
    found = re.search(r'Context: "(.*?)"', text)
    return found.group(1) if found else "Nice!"


def test_demo_shows_its_plan_and_answers_from_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    llm = FunctionLLM(copy_the_memory)  # the prompt the bundled model gets: compact
    code = run_demo(tmp_path, llm=llm, embedder=HashEmbedder(64), prompt_style="compact")
    out = capsys.readouterr().out
    assert out.startswith(INTRO)
    assert f"{len(EXPECTED)} of {len(EXPECTED)} questions answered from memory" in out
    assert code == 0
    assert "  agent: Your dog is named Max." in out  # after the rename
    assert "  agent: You live in Porto." in out
    assert "closed: The user lives in Lisbon." in out
    assert "closed: The user's dog is named Rex." in out


def test_demo_reports_a_wrong_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    llm = FunctionLLM(lambda m: "NONE")
    code = run_demo(tmp_path, llm=llm, embedder=HashEmbedder(64), prompt_style="compact")
    out = capsys.readouterr().out
    assert code == 1 and "missed: What is my dog's name? (expected Max)" in out
