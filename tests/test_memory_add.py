"""``Memory.add`` returns what is stored: never a memory a policy already deleted."""

from __future__ import annotations

from agentmem import Kind, Memory, MemoryItem, RetentionPolicy
from agentmem.policies import MergePolicy, UpdatePolicy

from .helpers import fresh_memory as _fresh

FACT = {"subject": "Ana", "attribute": "city", "value": "Porto"}


def fresh_memory(policies: list[RetentionPolicy]) -> Memory:
    memory = _fresh()
    memory.policies = policies
    return memory


def stored(memory: Memory, item: MemoryItem) -> bool:
    return any(i.id == item.id for i in memory.items(include_closed=True))


def test_adding_a_stored_fact_again_returns_the_stored_one() -> None:
    memory = fresh_memory(policies=[UpdatePolicy()])
    first = memory.add("Ana lives in Porto", user_id="u", kind=Kind.FACT, metadata=FACT)
    again = memory.add("Ana lives in Porto", user_id="u", kind=Kind.FACT, metadata=FACT)
    assert again.id == first.id
    assert stored(memory, again) and again.valid_to is None
    # what happened is in the log: the new copy was added, then forgotten as a duplicate
    duplicate = [e for e in memory.events(user_id="u") if e.op.value == "forget"]
    assert len(duplicate) == 1 and f"already stored as {first.id}" in duplicate[0].reason
    memory.close()


def test_a_merged_add_returns_the_merged_memory() -> None:
    memory = fresh_memory(policies=[MergePolicy(threshold=0.8)])
    first = memory.add("I live in Porto", user_id="u")
    merged = memory.add("I live in Porto!", user_id="u")
    assert merged.id != first.id and first.id in merged.source_ids
    assert stored(memory, merged) and merged.valid_to is None
    assert [e.op.value for e in memory.history(merged.id)] == ["merge"]
    memory.close()


def test_an_untouched_add_returns_itself_as_stored() -> None:
    memory = fresh_memory(policies=[UpdatePolicy(), MergePolicy(threshold=0.99)])
    item = memory.add("something new", user_id="u")
    assert memory.get(item.id) == item
    memory.close()
