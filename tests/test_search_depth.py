"""A search for k results is the first k of a longer search (fusion depth)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agentmem import ManualClock, Memory
from agentmem._memory import FUSION_DEPTH
from agentmem.testing import HashEmbedder

DAY = datetime(2023, 5, 8, 13, 0, tzinfo=UTC)
SUBJECTS = ["pottery", "camping", "painting", "swimming", "guitar", "adoption", "running"]


def conversation_memory() -> Memory:
    memory = Memory.in_memory(embedder=HashEmbedder(64), clock=ManualClock(DAY))
    rows = []
    for i in range(60):
        subject = SUBJECTS[i % len(SUBJECTS)]
        other = SUBJECTS[(i * 3 + 1) % len(SUBJECTS)]
        speaker = ("Mel", "Caro")[i % 2]
        text = (
            f"I went {subject} yesterday with my kids"
            if i % 3 == 0
            else f"Thanks, {('Caro', 'Mel')[i % 2]}! {other} sounds fun, tell me about {subject}"
        )
        rows.append(
            {
                "text": text,
                "metadata": {"speaker": speaker},
                "created_at": DAY + timedelta(days=i // 10, seconds=i),
            }
        )
    memory.add_many(rows, user_id="u", session_id="s")
    return memory


def test_the_first_k_hits_do_not_depend_on_k() -> None:
    memory = conversation_memory()
    assert memory.derived is not None  # the default derives from first-person turns
    for subject in SUBJECTS:
        query = f"What did Mel do {subject}?"
        longest = [h.item.id for h in memory.search(query, user_id="u", k=FUSION_DEPTH)]
        for k in (1, 3, 5, 10):
            got = [h.item.id for h in memory.search(query, user_id="u", k=k)]
            assert got == longest[:k], (query, k)
