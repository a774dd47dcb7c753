"""Memory.apply deletes consecutive forgets in one batch, with the per-memory audit kept."""

from __future__ import annotations

from collections.abc import Sequence

from agentmem import Action, Decision, ManualClock, Memory
from agentmem.stores import VectorStore
from agentmem.testing import HashEmbedder


class CountingStore(VectorStore):
    """A VectorStore that records each delete call."""

    deletes: list[list[str]]

    def delete(self, ids: Sequence[str]) -> int:
        self.deletes.append(list(ids))
        return super().delete(ids)


def _memory(clock: ManualClock) -> tuple[Memory, CountingStore]:
    store = CountingStore(None, HashEmbedder(16))
    store.deletes = []
    return Memory([store], clock=clock), store


def _forget(ids: list[str], why: str = "test") -> Decision:
    return Decision(action=Action.FORGET, item_ids=ids, reason=why, policy="test")


def test_consecutive_forgets_delete_once(clock: ManualClock) -> None:
    memory, store = _memory(clock)
    a, b, c, d = (memory.add(t, user_id="u") for t in ("a", "b", "c", "d"))
    changes = memory.apply(
        [_forget([a.id, b.id], "first"), _forget([b.id, c.id, "missing"], "second")]
    )
    assert store.deletes == [[a.id, b.id, c.id]]  # one delete for both decisions
    assert [item.id for item in changes.forgotten] == [a.id, b.id, c.id]
    assert [(e.item_ids, e.reason) for e in changes.events] == [
        ([a.id], "first"),
        ([b.id], "first"),
        ([c.id], "second"),
    ]
    assert [item.id for item in memory.items()] == [d.id]
    # Each forget is undone on its own, from its own snapshot.
    assert changes.events[1].id is not None
    memory.undo(changes.events[1].id)
    assert {item.id for item in memory.items()} == {b.id, d.id}
    memory.close()


def test_update_after_forget_sees_it_gone(clock: ManualClock) -> None:
    memory, store = _memory(clock)
    a, b = memory.add("a", user_id="u"), memory.add("b", user_id="u")
    update = Decision(
        action=Action.UPDATE,
        item_ids=[a.id, b.id],
        reason="raise",
        policy="test",
        changes={"importance": 0.9},
    )
    changes = memory.apply([_forget([a.id]), update, _forget([b.id])])
    assert [item.id for item in changes.updated] == [b.id]  # a was already forgotten
    assert store.deletes == [[a.id], [b.id]]
    assert memory.items() == []
    memory.close()
