"""The RetentionPolicy contract: what every retention policy must do.

Subclass :class:`RetentionPolicyContract` and define the ``policy`` fixture (a fresh
policy each time)::

    import pytest
    from agentmem.testing.policies import RetentionPolicyContract

    class TestMyPolicy(RetentionPolicyContract):
        @pytest.fixture
        def policy(self):
            return MyPolicy(days=7)

The suite runs the policy inside a real :class:`~agentmem.Memory` (an in-memory
``VectorStore`` with ``HashEmbedder``) over a varied history: old and new memories, facts
and messages, duplicates, recalled and never recalled. Needs pytest (``agentmem[testing]``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from agentmem._clock import ManualClock
from agentmem._memory import Memory
from agentmem._models import Kind, MemoryItem
from agentmem._protocols import Action, Decision, RetentionPolicy
from agentmem.testing._doubles import HashEmbedder

__all__ = ["RetentionPolicyContract"]

START = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)

_HISTORY = [
    ("Alice lives in Lisbon", Kind.FACT, 0.9),
    ("hi there", Kind.MESSAGE, 0.1),
    ("Alice lives in Lisbon", Kind.FACT, 0.9),
    ("Bob likes jazz", Kind.MESSAGE, 0.5),
    ("the meeting is on Friday", Kind.MESSAGE, 0.3),
    ("Alice moved to Porto", Kind.FACT, 0.8),
]


def _shape(decision: Decision) -> tuple[object, ...]:
    """A decision without the fresh id a merged item gets each time."""
    merged = None if decision.merged is None else decision.merged.text
    return (decision.action, decision.item_ids, decision.reason, decision.changes, merged)


class RetentionPolicyContract:
    """Behaviour every :class:`~agentmem.RetentionPolicy` must have."""

    @pytest.fixture
    def policy(self) -> RetentionPolicy:
        """Override: return a fresh instance of the policy under test."""
        raise NotImplementedError("define a policy fixture")

    @pytest.fixture
    def memory(self) -> Iterator[Memory]:
        """A memory with a varied history and no policies, its clock days after the start."""
        from agentmem.stores import VectorStore

        embedder = HashEmbedder(64)
        clock = ManualClock(START)
        memory = Memory([VectorStore(None, embedder)], embedder=embedder, clock=clock)
        for text, kind, importance in _HISTORY:
            memory.add(text, user_id="alice", kind=kind, importance=importance)
            clock.advance(timedelta(days=3))
        memory.search("Alice", user_id="alice", k=2)
        clock.advance(timedelta(days=30))
        yield memory
        memory.close()

    def _check(self, decisions: object, policy: RetentionPolicy, known: set[str]) -> None:
        assert isinstance(decisions, list)
        for decision in decisions:
            assert isinstance(decision, Decision)
            assert decision.reason, "every decision says why"
            assert decision.policy, "every decision names its policy"
            assert set(decision.item_ids) <= known, "decisions name only memories that exist"
            if decision.action is Action.MERGE:
                assert decision.merged is not None

    def test_it_is_a_retention_policy(self, policy: RetentionPolicy) -> None:
        assert isinstance(policy, RetentionPolicy)
        assert isinstance(policy.name, str) and policy.name

    def test_an_empty_memory_gets_no_decisions_on_tick(self, policy: RetentionPolicy) -> None:
        from agentmem.stores import VectorStore

        embedder = HashEmbedder(64)
        with Memory([VectorStore(None, embedder)], embedder=embedder) as memory:
            assert policy.on_tick(memory.context) == []

    def test_decisions_are_well_formed(self, policy: RetentionPolicy, memory: Memory) -> None:
        items = memory.items(user_id="alice", include_closed=True)
        known = {item.id for item in items}
        ctx = memory.context
        self._check(policy.on_tick(ctx), policy, known)
        self._check(policy.on_write(items[-2:], ctx), policy, known)
        self._check(policy.on_access(items[:2], ctx), policy, known)

    def test_deciding_changes_nothing(self, policy: RetentionPolicy, memory: Memory) -> None:
        before = memory.items(include_closed=True)
        events = len(memory.events())
        policy.on_tick(memory.context)
        policy.on_write(before[-1:], memory.context)
        assert memory.items(include_closed=True) == before
        assert len(memory.events()) == events

    def test_the_items_given_are_not_mutated(self, policy: RetentionPolicy, memory: Memory) -> None:
        items = memory.items(user_id="alice")
        dumps = [item.model_dump() for item in items]
        policy.on_write(items, memory.context)
        policy.on_access(items, memory.context)
        assert [item.model_dump() for item in items] == dumps

    def test_a_preview_is_repeatable_and_applies_like_a_tick(
        self, policy: RetentionPolicy, memory: Memory
    ) -> None:
        memory.policies = [policy]
        first = memory.preview()
        again = memory.preview()
        assert [_shape(d) for d in again] == [_shape(d) for d in first], "deciding is repeatable"
        changes = memory.apply(first)
        for event in changes.events:
            assert event.reason and event.policy
        kept: list[MemoryItem] = memory.items(include_closed=True)
        assert all(item.id for item in kept)
