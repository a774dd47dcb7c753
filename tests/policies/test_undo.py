from __future__ import annotations

from datetime import timedelta

import pytest

from agentmem import EventOp, Kind, ManualClock, UserError
from agentmem.policies import DecayPolicy, MergePolicy, UpdatePolicy

from .conftest import MakeMemory


def test_undo_a_forget_restores_the_whole_item(make_memory: MakeMemory, clock: ManualClock) -> None:
    memory = make_memory([DecayPolicy(threshold=0.5)])
    item = memory.add("alice likes tea", user_id="alice", importance=0.9, metadata={"k": 1})
    memory.search("tea", user_id="alice")
    before = memory.get(item.id)
    clock.advance(timedelta(days=3))
    event = memory.tick().events[0]
    assert event.op is EventOp.FORGET
    memory.undo(event.id or 0)
    assert memory.get(item.id) == before
    assert memory.search("tea", user_id="alice", record_access=False)[0].item.id == item.id
    assert memory.events()[-1].policy == "undo"


def test_undo_a_replace_reopens_the_old_fact(make_memory: MakeMemory) -> None:
    memory = make_memory([UpdatePolicy()])
    meta = {"subject": "alice", "attribute": "city"}
    old = memory.add("Lisbon", user_id="alice", kind=Kind.FACT, metadata={**meta, "value": "L"})
    memory.add("Porto", user_id="alice", kind=Kind.FACT, metadata={**meta, "value": "P"})
    replace = next(e for e in memory.history(old.id) if e.op is EventOp.UPDATE)
    memory.undo(replace.id or 0)
    assert memory.get(old.id).valid_to is None
    assert memory.get(old.id).metadata == {**meta, "value": "L"}


def test_undo_merge_and_add(make_memory: MakeMemory) -> None:
    memory = make_memory([MergePolicy(threshold=0.8)])
    a = memory.add("alice loves green tea", user_id="alice")
    b = memory.add("alice loves green tea", user_id="alice")
    merge = memory.events()[-1]
    assert merge.op is EventOp.MERGE
    merged, _, second = merge.item_ids
    assert b.id == merged  # add returns the merged memory, not the closed copy
    memory.undo(merge.id or 0)
    assert sorted(i.id for i in memory.items(user_id="alice")) == sorted([a.id, second])
    add = memory.history(a.id)[0]
    memory.undo(add.id or 0)
    assert [i.id for i in memory.items(user_id="alice")] == [second]


def test_what_cannot_be_undone(make_memory: MakeMemory) -> None:
    memory = make_memory([])
    memory.add("x", user_id="alice")
    memory.search("x", user_id="alice")
    access = memory.events()[-1]
    with pytest.raises(UserError, match="cannot be undone"):
        memory.undo(access.id or 0)
    with pytest.raises(Exception, match="no audit event"):
        memory.undo(999)
