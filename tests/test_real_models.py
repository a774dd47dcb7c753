"""End to end on the real offline models: the demo conversation, and recall quality."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmem import ManualClock, Memory
from agentmem.embedders import SentenceTransformerEmbedder
from tests.helpers import T0

pytestmark = pytest.mark.real_models


def test_bundled_embedder_finds_the_right_memory() -> None:
    embedder = SentenceTransformerEmbedder()
    memory = Memory.in_memory(embedder=embedder, clock=ManualClock(T0))
    memory.add("My sister Anna lives in Lisbon", user_id="u")
    memory.add("I had pasta for dinner", user_id="u")
    memory.add("The meeting moved to Thursday", user_id="u")
    hits = memory.search("where does my sister live?", user_id="u", k=3)
    assert hits[0].item.text == "My sister Anna lives in Lisbon"
    assert embedder.dim == 384


def test_demo_runs_on_the_offline_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agentmem.cli.demo import run_demo

    assert run_demo(tmp_path, max_tokens=24) == 0
    out = capsys.readouterr().out
    print(out)
    assert "closed: The user lives in Lisbon." in out
    assert "closed: The user's dog is named Rex." in out
    with Memory.default(tmp_path) as memory:
        current = {i.text for i in memory.items(user_id="maya", filters={"kinds": ["fact"]})}
        assert {
            "The user lives in Porto.",
            "The user's dog is named Max.",
            "The user works as a data analyst.",
        } <= current
        assert "The user lives in Lisbon." not in current


def test_local_replies_stream_stop_and_do_not_loop() -> None:
    import re
    from collections import Counter

    from agentmem import ChatMessage
    from agentmem.llms import LocalLLM

    llm = LocalLLM(max_tokens=64).for_replies()
    pieces: list[str] = []
    messages = [
        ChatMessage(role="system", content="You are a helpful assistant."),
        ChatMessage(role="user", content="I'm glad to have you as a partner in a new adventure."),
    ]
    result = llm.chat(messages, on_text=pieces.append)
    assert "".join(pieces).strip() == result.text  # what streamed is the reply
    words = re.findall(r"\w+", result.text.lower())
    grams = Counter(tuple(words[i : i + 4]) for i in range(len(words) - 3))
    assert not grams or max(grams.values()) == 1, result.text  # no loop
    assert result.completion_tokens < 64 or result.text.endswith("…")
