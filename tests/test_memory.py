from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from agentmem import (
    AuditLog,
    ClosedError,
    EventOp,
    InvalidInputError,
    Kind,
    ManualClock,
    Memory,
    NotFoundError,
    TraceRecord,
    UserError,
)
from agentmem.stores import VectorStore
from agentmem.testing import HashEmbedder
from tests.helpers import T0, fresh_memory


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def memory(clock: ManualClock) -> Memory:
    m = fresh_memory(clock=clock)
    yield m
    m.close()


def test_add_search_history(memory: Memory, clock: ManualClock) -> None:
    when = T0 - timedelta(days=3)
    item = memory.add(
        "Alice moved to Lisbon",
        user_id="alice",
        session_id="s1",
        created_at=when,
        metadata={"turn": "D1:3"},
    )
    assert item.created_at == when and item.recorded_at == T0
    hits = memory.search("where does alice live? Lisbon", user_id="alice", k=5)
    assert hits[0].item.id == item.id
    assert hits[0].item.metadata["turn"] == "D1:3"
    assert isinstance(hits[0].score, float)
    assert hits[0].item.access_count == 1
    ops = [event.op for event in memory.history(item.id)]
    assert ops == [EventOp.ADD, EventOp.ACCESS]


def test_search_is_scoped_to_the_user(memory: Memory) -> None:
    memory.add("Alice's secret is the lighthouse", user_id="alice")
    memory.add("Bob's secret is the bakery", user_id="bob")
    assert {h.item.scope.user_id for h in memory.search("secret", user_id="bob")} == {"bob"}
    assert memory.search("secret", user_id="nobody") == []


def test_forget_user_is_gone_for_good(memory: Memory) -> None:
    a = memory.add("Alice likes tea", user_id="alice")
    memory.add("Bob likes tea", user_id="bob")
    assert memory.forget(user_id="alice") == 1
    assert memory.search("tea", user_id="alice") == []
    with pytest.raises(NotFoundError):
        memory.get(a.id)
    assert memory.history(a.id) == []  # the trail with the text is erased too
    assert memory.count(user_id="bob") == 1
    last = memory.events(user_id="alice")[-1]
    assert last.op is EventOp.FORGET and "1 memories" in last.reason


def test_forget_some_ids_only_touches_that_user(memory: Memory) -> None:
    a = memory.add("Alice note", user_id="alice")
    b = memory.add("Bob note", user_id="bob")
    assert memory.forget(user_id="alice", ids=[a.id, b.id]) == 1
    assert memory.get(b.id).text == "Bob note"


def test_update_keeps_the_old_value_in_history(memory: Memory) -> None:
    item = memory.add("Alice likes tea", user_id="alice")
    memory.update(item.id, text="Alice likes coffee", reason="she told us")
    assert memory.get(item.id).text == "Alice likes coffee"
    event = memory.history(item.id)[-1]
    assert (event.op, event.reason) == (EventOp.UPDATE, "she told us")
    assert event.before == {"text": "Alice likes tea"}
    assert event.after == {"text": "Alice likes coffee"}
    with pytest.raises(InvalidInputError):
        memory.update(item.id)


def test_changed_fact_replaces_the_old_one(memory: Memory, clock: ManualClock) -> None:
    meta = {"subject": "user", "attribute": "lives_in"}
    old = memory.add(
        "The user lives in Lisbon.",
        user_id="alice",
        kind=Kind.FACT,
        metadata={**meta, "value": "Lisbon"},
    )
    clock.advance(timedelta(days=30))
    new = memory.add(
        "The user lives in Porto.",
        user_id="alice",
        kind=Kind.FACT,
        metadata={**meta, "value": "Porto"},
    )
    hits = memory.search("where does the user live", user_id="alice", filters={"kinds": ["fact"]})
    assert [h.item.id for h in hits] == [new.id]
    past = memory.search("where does the user live", user_id="alice", as_of=T0 + timedelta(days=1))
    assert [h.item.id for h in past] == [old.id]
    closed = memory.get(old.id)
    assert closed.valid_to == T0 + timedelta(days=30)
    updates = [e for e in memory.history(old.id) if e.op is EventOp.UPDATE]
    assert len(updates) == 1 and "REPLACE" in updates[0].reason
    # another user's identical fact is untouched
    other = memory.add(
        "The user lives in Lisbon.",
        user_id="bob",
        kind=Kind.FACT,
        metadata={**meta, "value": "Lisbon"},
    )
    assert memory.get(other.id).valid_to is None
    assert memory.get(new.id).valid_to is None


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("x" * 10_000_001, "limit"),
        (b"caf\xe9", "UTF-8"),
        ("lone \ud800 surrogate", "surrogate"),
        (42, "must be a str"),
        ("nul\x00byte", "NUL"),
    ],
)
def test_bad_text_is_refused_and_nothing_is_written(
    memory: Memory, text: object, match: str
) -> None:
    with pytest.raises(InvalidInputError, match=match):
        memory.add(text, user_id="alice")  # type: ignore[arg-type]
    assert memory.count() == 0


def test_bytes_that_are_valid_utf8_are_accepted(memory: Memory) -> None:
    assert memory.add("café".encode(), user_id="alice").text == "café"


@pytest.mark.parametrize("user", ["", "  ", None, "x" * 300])
def test_bad_user_is_refused(memory: Memory, user: object) -> None:
    with pytest.raises(InvalidInputError):
        memory.add("hello", user_id=user)  # type: ignore[arg-type]


def test_bad_search_arguments(memory: Memory) -> None:
    with pytest.raises(InvalidInputError):
        memory.search("x", user_id="alice", k=0)
    with pytest.raises(InvalidInputError):
        memory.search("x", user_id="alice", filters={"colour": "red"})
    with pytest.raises(InvalidInputError, match="metadata filter keys"):
        memory.search("x", user_id="alice", filters={"metadata": {"a'b": 1}})


def test_closed_memory_refuses_everything(clock: ManualClock) -> None:
    memory = fresh_memory(clock=clock)
    memory.close()
    memory.close()
    for call in (
        lambda: memory.add("x", user_id="a"),
        lambda: memory.search("x", user_id="a"),
        lambda: memory.history("x"),
        lambda: memory.forget(user_id="a"),
    ):
        with pytest.raises(ClosedError):
            call()


def test_embedder_failure_leaves_nothing_half_written(clock: ManualClock) -> None:
    class Broken(HashEmbedder):
        def embed(self, texts):  # type: ignore[no-untyped-def]
            if any("boom" in t for t in texts):
                raise RuntimeError("embedder exploded")
            return super().embed(texts)

    memory = Memory([VectorStore(None, Broken(32))], clock=clock)
    memory.add("fine", user_id="a")
    with pytest.raises(RuntimeError):
        memory.add("boom", user_id="a")
    assert [i.text for i in memory.items()] == ["fine"]
    assert [e.op for e in memory.events()] == [EventOp.ADD]


def test_get_unknown_raises_not_found(memory: Memory) -> None:
    with pytest.raises(NotFoundError, match="no memory"):
        memory.get("missing")


def test_tracer_sees_store_and_policy_operations(clock: ManualClock) -> None:
    seen: list[TraceRecord] = []
    memory = fresh_memory(clock=clock, tracer=seen.append)
    memory.add("hello world", user_id="a")
    memory.search("hello", user_id="a")
    names = [record.name for record in seen]
    assert names == ["vector.add", "update.on_write", "vector.search"]
    assert seen[-1].response["hits"] and seen[-1].seconds >= 0


def test_persistence_across_reopen(tmp_path: Path, clock: ManualClock) -> None:
    first = fresh_memory(tmp_path, clock=clock, audit=AuditLog(tmp_path / "audit.sqlite"))
    item = first.add("Alice moved to Lisbon", user_id="alice")
    first.close()
    second = fresh_memory(tmp_path, clock=clock, audit=AuditLog(tmp_path / "audit.sqlite"))
    assert second.search("Lisbon", user_id="alice")[0].item.id == item.id
    assert [e.op for e in second.history(item.id)][:2] == [EventOp.ADD, EventOp.ACCESS]
    second.close()


def test_several_stores_are_fused(clock: ManualClock) -> None:
    embedder = HashEmbedder(64)
    memory = Memory(
        [VectorStore(None, embedder, name="a"), VectorStore(None, embedder, name="b")], clock=clock
    )
    memory.add("green tea in the morning", user_id="u", store="a")
    memory.add("green tea at night", user_id="u", store="b")
    hits = memory.search("green tea", user_id="u")
    assert {h.store for h in hits} == {"a", "b"}
    with pytest.raises(UserError, match="no store named"):
        memory.add("x", user_id="u", store="c")
    with pytest.raises(UserError, match="unique"):
        Memory([VectorStore(None, embedder), VectorStore(None, embedder)])
    with pytest.raises(UserError, match="at least one store"):
        Memory([])


def test_hash_embedder_is_deterministic_and_normalised() -> None:
    a = HashEmbedder(64).embed(["hello world", ""])
    b = HashEmbedder(64).embed(["hello world", ""])
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0)
    assert not np.array_equal(a, HashEmbedder(64, seed=1).embed(["hello world", ""]))
