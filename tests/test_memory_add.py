"""``Memory.add`` returns what is stored: never a memory a policy already deleted.

When a policy forgets the new memory outright, ``add`` says so (``NotKeptError``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agentmem import Kind, ManualClock, Memory, MemoryItem, NotKeptError, RetentionPolicy
from agentmem.policies import CapacityPolicy, MergePolicy, UpdatePolicy

from .helpers import fresh_memory as _fresh
from .policies.conftest import START
from .policies.test_preview_tick import WORDS, PolicyFactory, policy_factories

FACT = {"subject": "Ana", "attribute": "city", "value": "Porto"}


def fresh_memory(policies: list[RetentionPolicy], clock: ManualClock | None = None) -> Memory:
    memory = _fresh(clock=clock)
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


def test_an_add_evicted_at_once_says_so_instead_of_returning_it() -> None:
    memory = fresh_memory(policies=[CapacityPolicy(1, evict="least_important")])
    kept = memory.add("Ana lives in Porto", user_id="u", importance=0.9)
    with pytest.raises(NotKeptError) as caught:
        memory.add("it rained today", user_id="u", importance=0.1)
    evicted = caught.value.item
    assert evicted.text == "it rained today" and caught.value.reasons
    assert "capacity" in str(caught.value) and evicted.id in str(caught.value)
    assert [i.id for i in memory.items(user_id="u")] == [kept.id]
    assert [e.op.value for e in memory.history(evicted.id)] == ["add", "forget"]
    memory.close()


# ("add", text, importance, kind, hours before now it happened) | ("wait", hours)
add_steps = st.one_of(
    st.tuples(
        st.just("add"),
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join),
        st.floats(0.0, 1.0),
        st.sampled_from([Kind.MESSAGE, Kind.FACT]),
        st.integers(0, 48),
    ),
    st.tuples(st.just("wait"), st.integers(1, 48)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    factories=st.lists(policy_factories, min_size=1, max_size=3),
    history=st.lists(add_steps, min_size=1, max_size=12),
)
@example(  # two update policies each close the older fact: two update events
    factories=[UpdatePolicy, UpdatePolicy],
    history=[("add", "tea tea", 0.0, Kind.FACT, 0), ("add", "tea", 0.0, Kind.FACT, 1)],
)
def test_add_never_returns_a_memory_that_is_not_stored_and_open(
    factories: list[PolicyFactory], history: list[tuple[Any, ...]]
) -> None:
    clock = ManualClock(START)
    memory = fresh_memory([make() for make in factories], clock)
    try:
        for step in history:
            if step[0] == "wait":
                clock.advance(timedelta(hours=step[1]))
                continue
            text, importance, kind, hours_ago = step[1:]
            fact = {"subject": "Ana", "attribute": "likes", "value": text}
            try:
                item = memory.add(
                    text,
                    user_id="u",
                    importance=importance,
                    kind=kind,
                    metadata=fact if kind is Kind.FACT else None,
                    created_at=clock.now() - timedelta(hours=hours_ago),
                )
            except NotKeptError as exc:  # said what happened: it is really not kept
                assert exc.item.id not in {i.id for i in memory.items(user_id="u")}
                assert memory.history(exc.item.id)[0].op.value == "add"
                continue
            assert memory.get(item.id) == item  # returned as stored
            if item.valid_to is not None:  # only a fact older than the one stored: history
                ops = [e.op.value for e in memory.history(item.id)]
                assert kind is Kind.FACT and ops[0] == "add" and set(ops[1:]) == {"update"}
    finally:
        memory.close()
