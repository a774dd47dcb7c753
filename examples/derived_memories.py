"""Derived memories and multi-hop search: a turn restated, found, and handed back.

"Took a short trip last week to Rome" never says who went or when. The default memory
restates each first-person statement of a turn ("Jon took a short trip last week to
Rome (last week = ...)") in a side store; a search that matches the restatement hands
back the turn itself, and forgetting the turn takes its restatements with it.

Run: ``python examples/derived_memories.py`` (offline: the bundled embedder).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from agentmem import DerivedMemories, LLMDeriver, ManualClock, Memory, MultiHop, Scope
from agentmem.testing import ScriptedLLM

SESSION = datetime(2023, 5, 8, 18, 0, tzinfo=UTC)
TURNS = [
    ("Gina", "Hey Jon! How have you been?"),
    ("Jon", "Good! Took a short trip last week to Rome, I loved the food."),
    ("Gina", "Wow! I adopted a puppy named Max from the shelter yesterday."),
    ("Jon", "That's great! When can I meet him?"),
]


def main(embedder: Any = None) -> None:
    clock = ManualClock(SESSION)
    # Memory.default / Memory.in_memory derive without a model (PatternDeriver).
    with Memory.in_memory(embedder=embedder, clock=clock) as memory:
        turns = memory.add_many(
            [
                {
                    "text": text,
                    "metadata": {"speaker": who},
                    "created_at": SESSION + timedelta(seconds=i),
                }
                for i, (who, text) in enumerate(TURNS)
            ],
            user_id="jon",
            session_id="s1",
        )
        assert memory.derived is not None
        print("derived (side store, not listed among memories):")
        for item in memory.derived.store.scan(scope=Scope(user_id="jon")):
            print(f"  {item.text}  <- {item.source_ids}")
        print(f"memories: {memory.count(user_id='jon')} (the {len(turns)} turns)")

        hit = memory.search("Who went to Rome in May 2023?", user_id="jon", k=1)[0]
        print(f"search -> {hit.item.metadata['speaker']}: {hit.item.text}")

        memory.forget(user_id="jon", ids=[turns[1].id])
        left = [i.text for i in memory.derived.store.scan(scope=Scope(user_id="jon"))]
        print(f"after forgetting the Rome turn, derived left: {left}")

    # With a chat model, the model lists the facts and events of each turn (prompt
    # derive_facts); a scripted model stands in for it here.
    llm = ScriptedLLM(["Jon visited Rome in early May 2023.", "NONE"], default="NONE")
    with Memory.in_memory(embedder=embedder, clock=clock) as memory:
        memory.derived = DerivedMemories.open(None, None, LLMDeriver(llm), clock=clock)
        memory.add_many(
            [{"text": text, "metadata": {"speaker": who}} for who, text in TURNS[1:3]],
            user_id="jon",
            session_id="s1",
        )
        hit = memory.search("Which cities has Jon visited?", user_id="jon", k=1)[0]
        print(f"with an LLM deriver: search -> {hit.item.text}")

        # Multi-hop search: a question about two people is asked once per person too,
        # and a second hop searches what the best hit adds (opt-in: one more search each).
        memory.multihop = MultiHop()
        question = "What did Jon and Gina do in early May?"
        print(f"sub-queries: {memory.multihop.sub_queries(question, clock.now())}")
        for hit in memory.search(question, user_id="jon", k=2):
            print(f"  {hit.item.metadata['speaker']}: {hit.item.text}")


if __name__ == "__main__":
    main()
