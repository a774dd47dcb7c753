"""One policy semantics: ``memory.apply(memory.preview()) == memory.tick()``, always.

Two memories live the same random history (written before the policies were set, as a
memory reopened with new policies would be); then both get the same random policy set,
one applies its preview and the other ticks. They must end up the same, event by event.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentmem import ManualClock, Memory, RetentionPolicy
from agentmem.policies import (
    CapacityPolicy,
    DecayPolicy,
    MergePolicy,
    TTLPolicy,
    UpdatePolicy,
)
from agentmem.stores import VectorStore
from agentmem.testing import HashEmbedder

from .conftest import START

WORDS = ["tea", "coffee", "Porto", "Lisbon", "cat", "dog", "runs", "likes", "lives in"]
_UUID = re.compile(r"[0-9a-f]{32}|[0-9a-f-]{36}")

PolicyFactory = Callable[[], RetentionPolicy]

policy_factories: st.SearchStrategy[PolicyFactory] = st.one_of(
    st.integers(1, 72).map(lambda h: lambda: TTLPolicy(timedelta(hours=h))),
    st.tuples(st.integers(1, 5), st.sampled_from(["lru", "oldest", "least_important"])).map(
        lambda a: lambda: CapacityPolicy(a[0], evict=a[1])  # type: ignore[arg-type]
    ),
    st.tuples(st.sampled_from([0.2, 0.5, 0.8]), st.booleans()).map(
        lambda a: lambda: DecayPolicy(threshold=a[0], archive=a[1])
    ),
    st.just(lambda: MergePolicy(threshold=0.9)),
    st.just(UpdatePolicy),
)

# ("add", text, importance) | ("search", text) | ("wait", hours)
steps = st.one_of(
    st.tuples(
        st.just("add"),
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join),
        st.floats(0.0, 1.0),
    ),
    st.tuples(st.just("search"), st.sampled_from(WORDS)),
    st.tuples(st.just("wait"), st.integers(1, 48)),
)


def live(history: list[tuple[Any, ...]], factories: list[PolicyFactory]) -> Memory:
    embedder = HashEmbedder(32)
    clock = ManualClock(START)
    memory = Memory(
        [VectorStore(None, embedder, faiss_threads=None)], embedder=embedder, clock=clock
    )
    for number, step in enumerate(history):
        if step[0] == "add":
            item = memory.make_item(step[1], user_id="u", importance=step[2])
            memory.write([item.model_copy(update={"id": f"m{number}"})])
        elif step[0] == "search":
            memory.search(step[1], user_id="u", k=2)
        else:
            clock.advance(timedelta(hours=step[1]))
    clock.advance(timedelta(hours=1))
    memory.policies = [make() for make in factories]
    return memory


def state(memory: Memory) -> list[tuple[Any, ...]]:
    return sorted(
        (
            _UUID.sub("<id>", item.id),
            item.text,
            str(item.valid_to),
            round(item.strength, 9),
            round(item.importance, 9),
        )
        for item in memory.items(include_closed=True)
    )


def events(changes: Any) -> list[tuple[str, str, str]]:
    return [(e.op.value, e.policy or "", _UUID.sub("<id>", e.reason)) for e in changes.events]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    factories=st.lists(policy_factories, min_size=1, max_size=3),
    history=st.lists(steps, min_size=1, max_size=14),
)
def test_applying_the_preview_is_the_tick(
    factories: list[PolicyFactory], history: list[tuple[Any, ...]]
) -> None:
    previewed, ticked = live(history, factories), live(history, factories)
    try:
        assert state(previewed) == state(ticked)  # the same history, the same memory
        applied = previewed.apply(previewed.preview())
        done = ticked.tick()
        assert events(applied) == events(done)
        assert state(previewed) == state(ticked)
    finally:
        previewed.close()
        ticked.close()


def test_the_list_form_composes_like_policies() -> None:
    """The case that used to differ: TTL then capacity, in a list.

    TTL forgets the two oldest; capacity (3) must count only what TTL left, so it evicts
    nothing: asked all at once it would also evict the two least important (the newest).
    """
    embedder = HashEmbedder(32)
    clock = ManualClock(START)
    memory = Memory(
        [VectorStore(None, embedder, faiss_threads=None)],
        embedder=embedder,
        clock=clock,
    )
    added = []
    for i in range(5):
        added.append(memory.add(f"note {i}", user_id="u", importance=(5 - i) / 10))
        clock.advance(timedelta(hours=3))
    memory.policies = [TTLPolicy(timedelta(hours=10)), CapacityPolicy(3, evict="least_important")]
    preview = memory.preview()
    forgotten = {i for d in preview if d.action.value == "forget" for i in d.item_ids}
    assert forgotten == {added[0].id, added[1].id}
    changes = memory.tick()
    assert {item.id for item in changes.forgotten} == forgotten
    assert [item.text for item in memory.items(user_id="u")] == ["note 2", "note 3", "note 4"]
    memory.close()
