from __future__ import annotations

from datetime import timedelta

import pytest

from agentmem import ManualClock, UserError
from agentmem.policies import (
    CapacityPolicy,
    DecayPolicy,
    MergePolicy,
    Policies,
    TTLPolicy,
    UpdatePolicy,
    parse_spec,
)
from agentmem.testing import ScriptedLLM

from .conftest import MakeMemory


def test_merge_near_duplicates_keeps_longest(make_memory: MakeMemory, clock: ManualClock) -> None:
    memory = make_memory([MergePolicy(threshold=0.8)])
    a = memory.add("alice loves green tea", user_id="alice", importance=0.3)
    memory.search("green tea", user_id="alice", k=1)  # access_count 1
    b = memory.add("alice loves green tea a lot", user_id="alice", importance=0.7)
    other = memory.add("bob plays the cello", user_id="alice")
    open_items = memory.items(user_id="alice")
    merged = open_items[0]
    assert [i.text for i in open_items] == ["alice loves green tea a lot", "bob plays the cello"]
    assert b == merged  # add returns the memory that stands for the new text: the merge
    new = next(i for i in memory.items(user_id="alice", include_closed=True) if i.text == b.text)
    assert merged.source_ids == [a.id, new.id] and new.valid_to is not None
    assert merged.strength == pytest.approx(2.0)
    assert merged.importance == pytest.approx(0.7)
    assert merged.access_count == 1
    assert memory.get(a.id).valid_to is not None and memory.get(other.id).valid_to is None


def test_merge_text_written_by_llm(make_memory: MakeMemory) -> None:
    llm = ScriptedLLM(["Alice loves green tea."])
    memory = make_memory([MergePolicy(threshold=0.8, llm=llm)])
    memory.add("alice loves green tea", user_id="alice")
    memory.add("alice loves green tea", user_id="alice")
    assert [i.text for i in memory.items(user_id="alice")] == ["Alice loves green tea."]


def test_policies_compose_in_order(make_memory: MakeMemory, clock: ManualClock) -> None:
    ttl, capacity = TTLPolicy(timedelta(days=1)), CapacityPolicy(2, evict="oldest")
    memory = make_memory([])
    for n in range(4):
        memory.add(f"m{n}", user_id="alice")
        clock.advance(timedelta(hours=8))
    # m0 (32h) and m1 (24h) expire by TTL; capacity then sees m2, m3: within the limit.
    decisions = Policies([ttl, capacity]).on_tick(memory._context)
    assert [(d.policy, len(d.item_ids)) for d in decisions] == [("ttl", 2)]
    # The other order: capacity evicts m0, m1 first; TTL finds nothing left to expire.
    decisions = Policies([capacity, ttl]).on_tick(memory._context)
    assert [(d.policy, len(d.item_ids)) for d in decisions] == [("capacity", 2)]


def test_parse_spec() -> None:
    policies = parse_spec("decay:threshold=0.2,reinforce=multiply+capacity:max_items=200")
    decay, capacity = policies.policies
    assert isinstance(decay, DecayPolicy) and decay.threshold == 0.2
    assert decay.reinforce == "multiply"
    assert isinstance(capacity, CapacityPolicy) and capacity.max_items == 200
    ttl = parse_spec("ttl:ttl=12h,kinds=message|thought").policies[0]
    assert isinstance(ttl, TTLPolicy) and ttl.ttl == timedelta(hours=12)
    assert isinstance(parse_spec("update").policies[0], UpdatePolicy)
    assert parse_spec("none").policies == []
    with pytest.raises(UserError, match="unknown policy 'forever'"):
        parse_spec("forever")
    with pytest.raises(UserError, match="decay has no option 'speed'"):
        parse_spec("decay:speed=3")
    with pytest.raises(UserError, match="key=value"):
        parse_spec("decay:0.2")


def test_every_merge_combines_strength_and_use_alike() -> None:
    from datetime import UTC, datetime

    from agentmem import MemoryItem, Scope
    from agentmem.policies.merge import combined_use, merge_items

    at = datetime(2024, 1, 1, tzinfo=UTC)
    items = [
        MemoryItem(
            text=t,
            scope=Scope(user_id="u"),
            created_at=at,
            recorded_at=at,
            strength=s,
            importance=i,
            access_count=n,
        )
        for t, s, i, n in [("a", 1.5, 0.2, 1), ("b", 2.0, 0.9, 3)]
    ]
    assert combined_use(items) == {
        "importance": 0.9,
        "strength": 3.5,
        "access_count": 4,
        "last_accessed_at": None,
    }
    merged = merge_items(items, "a and b")
    assert (merged.strength, merged.importance, merged.access_count) == (3.5, 0.9, 4)
