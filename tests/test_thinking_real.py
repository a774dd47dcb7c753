"""The "biased thoughts" check with the real offline models (run once, result printed)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from agentmem import Agent, ManualClock, Memory, PostThinker
from agentmem.stores import ThoughtStore, VectorStore


@pytest.mark.real_models
def test_biased_thoughts_with_the_real_local_model() -> None:
    from agentmem.embedders import SentenceTransformerEmbedder
    from agentmem.llms import LocalLLM

    start = time.perf_counter()
    embedder = SentenceTransformerEmbedder()
    llm = LocalLLM()
    clock = ManualClock(datetime(2024, 5, 1, 9, 0, tzinfo=UTC))
    memory = Memory(
        [VectorStore(None, embedder), ThoughtStore(None, embedder)], embedder=embedder, clock=clock
    )
    thinker = PostThinker()  # history: thoughts from patterns, no generation
    for text in ["I moved to Lisbon last year.", "I like green tea in the morning."]:
        turn = memory.add(text, user_id="zoe")
        thinker.remember(memory, thinker.think(text, ""), user_id="zoe", source_ids=[turn.id])
        clock.advance(timedelta(hours=1))
    agent = Agent(llm, memory, extractors=[], thinker=thinker, max_tokens=24)
    replies = [
        agent.chat(question, user_id="zoe")
        for question in ["Where do I live?", "Which city is my home now?"]
    ]
    tops = [next(h.item for h in r.recalled if h.store == "thought") for r in replies]
    print(
        f"\nstored thoughts: {[i.text for i in memory.items(user_id='zoe') if i.kind == 'thought']}"
    )
    for reply, top in zip(replies, tops, strict=True):
        print(f"recalled thought: {top.text!r} -> answer: {reply.text!r}")
    print(f"answers name Lisbon: {['lisbon' in r.text.lower() for r in replies]}")
    print(f"took {time.perf_counter() - start:.1f} s")
    assert tops[0].id == tops[1].id
    assert "Lisbon" in tops[0].text
