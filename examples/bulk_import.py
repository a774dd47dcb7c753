"""Bulk-load an export into memory, audited, and see what the policies did to each write.

Run: python examples/bulk_import.py

1. An export of already curated notes is loaded with ``Memory.add_many``: each batch is
   embedded in one call and stored in one transaction with an ``add`` event per memory.
   The capacity policy would keep only 3 of them, so the load skips the policies and
   says why; the reason is in every add event.
2. A new note arrives through ``Memory.add``: the policies run, and the capacity policy
   evicts the least important memory, which is the new one; ``add`` says so
   (``NotKeptError``) instead of returning a memory that is no longer stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agentmem import ManualClock, Memory, NotKeptError
from agentmem.policies import CapacityPolicy
from agentmem.stores import HybridStore
from agentmem.testing import HashEmbedder

EXPORT = [
    {"text": "Alice is allergic to peanuts", "importance": 0.9},
    {"text": "Alice's sister is called Ines", "importance": 0.7},
    {"text": "Alice works night shifts on Tuesdays", "importance": 0.6},
    {"text": "Alice prefers tea to coffee", "importance": 0.4},
    {"text": "Alice's flat is on the fourth floor", "importance": 0.3},
]


def main() -> None:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    memory = Memory(
        [HybridStore(None, HashEmbedder(64))],
        policies=[CapacityPolicy(3, evict="least_important")],
        clock=ManualClock(start),
    )
    rows = [{**row, "created_at": start - timedelta(days=30 - i)} for i, row in enumerate(EXPORT)]
    items = memory.add_many(
        rows, user_id="alice", batch=2, skip_policies="curated export from the old assistant"
    )
    print(f"loaded {memory.count(user_id='alice')} memories")
    print("first add event:", memory.history(items[0].id)[0].reason)

    try:
        memory.add("Alice said hi", user_id="alice", importance=0.1)
    except NotKeptError as exc:
        print("not kept:", exc.item.text, "|", exc.reasons[0])
    print("left:", [item.text for item in memory.items(user_id="alice")])
    memory.close()


if __name__ == "__main__":
    main()
