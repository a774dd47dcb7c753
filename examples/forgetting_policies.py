"""Forgetting written in code: compose policies, preview a tick, apply it, undo a change.

Run: python examples/forgetting_policies.py
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agentmem import Kind, ManualClock, Memory
from agentmem.eval.simulate import generate_log, replay
from agentmem.policies import CapacityPolicy, DecayPolicy, TTLPolicy, UpdatePolicy, parse_spec
from agentmem.stores import VectorStore
from agentmem.testing import HashEmbedder  # swap in the default embedder for real use

clock = ManualClock(datetime(2024, 1, 1, 9, 0, tzinfo=UTC))
embedder = HashEmbedder(256)
memory = Memory(
    [VectorStore(None, embedder)],
    policies=[
        UpdatePolicy(),  # a changed fact closes the old one (kept in history)
        TTLPolicy(timedelta(days=14), kinds=["message"]),  # small talk expires
        DecayPolicy(threshold=0.2),  # R = exp(-t / S); each recall raises S
        CapacityPolicy(100, evict="lru"),  # at most 100 memories per user
    ],
    embedder=embedder,
    clock=clock,
)

city = {"subject": "alice", "attribute": "city"}
memory.add(
    "Alice lives in Lisbon", user_id="alice", kind=Kind.FACT, metadata={**city, "value": "Lisbon"}
)
memory.add("Nice weather today", user_id="alice")
clock.advance(timedelta(days=1))
memory.add(
    "Alice moved to Porto", user_id="alice", kind=Kind.FACT, metadata={**city, "value": "Porto"}
)
print("now:", [i.text for i in memory.items(user_id="alice")])

clock.advance(timedelta(days=2))
memory.search("where does alice live?", user_id="alice", k=1)  # recall: strength 1 -> 2
decisions = memory.preview()  # propose, without changing anything
for decision in decisions:
    print(f"proposed {decision.action.value} by {decision.policy}: {decision.reason}")
changes = memory.apply(decisions)  # commit
print("after the tick:", [i.text for i in memory.items(user_id="alice")])

memory.undo(changes.events[0].id or 0)  # every applied change can be undone
print("after undo:", [i.text for i in memory.items(user_id="alice")])

# Compare policy sets on a generated 30-session log of facts that change.
sets = {
    "keep-all": parse_spec("update"),
    "decay": parse_spec("update+decay:threshold=0.2"),
    "capacity-30": parse_spec("update+capacity:max_items=30"),
}
print(replay(generate_log(seed=0, sessions=30), policies=sets).table())
