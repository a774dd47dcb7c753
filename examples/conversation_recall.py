"""Recall over a long conversation: batched ingest, turns indexed with their context.

Run: ``python examples/conversation_recall.py`` (offline: the bundled embedder).
"""

from __future__ import annotations

from datetime import UTC, datetime

from agentmem import ManualClock, Memory
from agentmem.embedders import SentenceTransformerEmbedder
from agentmem.stores import HybridStore, conversation_options

SESSIONS = [
    (
        datetime(2024, 3, 4, 18, 0, tzinfo=UTC),
        [
            ("Ines", "How was your weekend?"),
            ("Tomas", "Great! I finally went to the climbing gym yesterday."),
            ("Ines", "That's brave! Did you go alone?"),
            ("Tomas", "With my brother Rui, he has been climbing for years."),
        ],
    ),
    (
        datetime(2024, 3, 18, 19, 30, tzinfo=UTC),
        [
            ("Ines", "I started a pottery class last week, it's like therapy."),
            ("Tomas", "Nice! When is the next one?"),
            ("Ines", "Thursday evening, right after work."),
        ],
    ),
]


def main() -> None:
    embedder = SentenceTransformerEmbedder()
    clock = ManualClock(SESSIONS[0][0])
    store = HybridStore(None, embedder, name="chat", clock=clock, **conversation_options())
    with Memory([store], embedder=embedder, clock=clock) as memory:
        for n, (date, turns) in enumerate(SESSIONS, start=1):
            clock.set(date)
            memory.add_many(  # one embedding call per session, an audit event per turn
                [{"text": text, "metadata": {"speaker": who}} for who, text in turns],
                user_id="ines-and-tomas",
                session_id=f"session-{n}",
                created_at=date,
            )
        for question in ("Who does Tomas climb with?", "When did Tomas go climbing?"):
            hits = memory.search(question, user_id="ines-and-tomas", k=2)
            print(question)
            for hit in hits:
                item = hit.item
                print(f"  [{item.created_at:%d %b %Y}] {item.metadata['speaker']}: {item.text}")


if __name__ == "__main__":
    main()
