"""The MemoryStore contract: one suite every store passes by providing one fixture.

Subclass :class:`MemoryStoreContract` in a test module and define ``store_factory``, a
fixture returning a callable ``factory(path) -> MemoryStore`` that opens (or reopens)
the store kept in the folder ``path``::

    import pytest
    from agentmem.testing.stores import MemoryStoreContract

    class TestMyStore(MemoryStoreContract):
        @pytest.fixture
        def store_factory(self):
            return lambda path: MyStore(path)

Every agentmem store passes it; so must yours. Needs pytest (``agentmem[testing]``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agentmem import ClosedError, Filters, Kind, MemoryItem, MemoryStore, NotFoundError, Scope

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
"""The moment test items are created at by default."""

StoreFactory = Callable[[Path], MemoryStore]
"""Opens (or reopens) the store kept in a folder."""


def make(
    text: str,
    user: str = "alice",
    *,
    session: str | None = "s1",
    agent: str | None = None,
    kind: Kind = Kind.MESSAGE,
    at: datetime = T0,
    **fields: object,
) -> MemoryItem:
    """A memory item for tests: ``alice``'s, in session ``s1``, created at :data:`T0`."""
    return MemoryItem(
        text=text,
        kind=kind,
        scope=Scope(user_id=user, agent_id=agent, session_id=session),
        created_at=at,
        recorded_at=at,
        **fields,
    )


class MemoryStoreContract:
    """Behaviour every MemoryStore must have."""

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        """Override: return ``factory(path) -> store`` for the store under test."""
        raise NotImplementedError("define a store_factory fixture")

    @pytest.fixture
    def store(self, store_factory: StoreFactory, tmp_path: Path) -> Iterator[MemoryStore]:
        """A fresh store in a temporary folder, closed after the test."""
        opened = store_factory(tmp_path / "store")
        yield opened
        opened.close()

    # -- add / get ------------------------------------------------------------------------
    def test_add_then_get_round_trips_every_field(self, store: MemoryStore) -> None:
        item = make(
            "Alice moved to Lisbon",
            importance=0.9,
            strength=2.5,
            access_count=3,
            last_accessed_at=T0 + timedelta(hours=1),
            source_ids=["t1", "t2"],
            metadata={"turn": "D1:3", "n": 2, "nested": {"a": [1, 2]}},
            kind=Kind.FACT,
        )
        store.add([item])
        got = store.get(item.id)
        assert got is not None
        assert got.model_dump() == item.model_dump()

    def test_get_unknown_is_none(self, store: MemoryStore) -> None:
        assert store.get("no-such-id") is None

    def test_add_is_atomic(self, store: MemoryStore) -> None:
        first = make("one")
        store.add([first])
        with pytest.raises(Exception):  # noqa: B017 - any error, as long as nothing is half-written
            store.add([make("two"), make("dup", id=first.id)])
        assert store.count() == 1
        assert [i.text for i in store.scan()] == ["one"]

    def test_add_nothing_is_a_no_op(self, store: MemoryStore) -> None:
        store.add([])
        assert store.count() == 0

    # -- search ---------------------------------------------------------------------------
    def test_search_finds_the_relevant_item_first(self, store: MemoryStore) -> None:
        store.add(
            [
                make("Alice moved to Lisbon in May"),
                make("Bob likes green tea"),
                make("The weather is rainy today"),
            ]
        )
        hits = store.search("Lisbon moved", scope=Scope(user_id="alice"), k=2)
        assert hits[0].item.text == "Alice moved to Lisbon in May"
        assert len(hits) == 2
        assert hits[0].score >= hits[1].score
        assert all(hit.store == store.name for hit in hits)

    def test_search_never_crosses_users(self, store: MemoryStore) -> None:
        store.add(
            [
                make("secret of alice about Lisbon", "alice"),
                make("secret of bob about Lisbon", "bob"),
            ]
        )
        hits = store.search("secret Lisbon", scope=Scope(user_id="bob"), k=10)
        assert [h.item.scope.user_id for h in hits] == ["bob"]
        assert store.search("secret", scope=Scope(user_id="carol"), k=10) == []

    def test_search_narrows_by_agent_and_session(self, store: MemoryStore) -> None:
        store.add(
            [
                make("note one", session="s1", agent="a1"),
                make("note two", session="s2", agent="a1"),
                make("note three", session="s2", agent="a2"),
            ]
        )
        in_s2 = store.search("note", scope=Scope(user_id="alice", session_id="s2"), k=10)
        assert sorted(h.item.text for h in in_s2) == ["note three", "note two"]
        in_a1 = store.search("note", scope=Scope(user_id="alice", agent_id="a1"), k=10)
        assert sorted(h.item.text for h in in_a1) == ["note one", "note two"]

    def test_search_respects_k(self, store: MemoryStore) -> None:
        store.add([make(f"note number {i}") for i in range(20)])
        assert len(store.search("note", scope=Scope(user_id="alice"), k=5)) == 5

    def test_search_skips_closed_items_unless_as_of(self, store: MemoryStore) -> None:
        old = make("Alice lives in Lisbon", kind=Kind.FACT, at=T0, valid_to=T0 + timedelta(days=10))
        new = make("Alice lives in Porto", kind=Kind.FACT, at=T0 + timedelta(days=10))
        store.add([old, new])
        alice = Scope(user_id="alice")
        now_hits = store.search("Alice lives in", scope=alice, k=10)
        assert [h.item.id for h in now_hits] == [new.id]
        then = store.search("Alice lives in", scope=alice, k=10, as_of=T0 + timedelta(days=5))
        assert [h.item.id for h in then] == [old.id]
        before = store.search("Alice lives in", scope=alice, k=10, as_of=T0 - timedelta(days=1))
        assert before == []

    def test_search_filters(self, store: MemoryStore) -> None:
        store.add(
            [
                make("tea fact", kind=Kind.FACT, metadata={"topic": "tea"}),
                make(
                    "tea chat",
                    kind=Kind.MESSAGE,
                    metadata={"topic": "tea"},
                    at=T0 + timedelta(days=2),
                ),
                make(
                    "tea other",
                    kind=Kind.MESSAGE,
                    metadata={"topic": "coffee"},
                    at=T0 + timedelta(days=4),
                ),
            ]
        )
        alice = Scope(user_id="alice")

        def texts(filters: Filters) -> list[str]:
            return sorted(
                h.item.text for h in store.search("tea", scope=alice, k=10, filters=filters)
            )

        assert texts(Filters(kinds=(Kind.FACT,))) == ["tea fact"]
        assert texts(Filters(metadata={"topic": "tea"})) == ["tea chat", "tea fact"]
        assert texts(Filters(created_after=T0 + timedelta(days=1))) == ["tea chat", "tea other"]
        assert texts(Filters(created_before=T0 + timedelta(days=1))) == ["tea fact"]

    # -- update / delete ------------------------------------------------------------------
    def test_update_persists_changes(self, store: MemoryStore) -> None:
        item = make("Alice likes tea")
        store.add([item])
        changed = item.model_copy(
            update={
                "text": "Alice likes coffee",
                "importance": 0.1,
                "valid_to": T0 + timedelta(days=1),
            }
        )
        store.update([changed])
        got = store.get(item.id)
        assert got is not None
        assert (got.text, got.importance, got.valid_to) == (
            "Alice likes coffee",
            0.1,
            T0 + timedelta(days=1),
        )
        hits = store.search(
            "coffee", scope=Scope(user_id="alice"), k=1, as_of=T0 + timedelta(hours=1)
        )
        assert hits and hits[0].item.text == "Alice likes coffee"

    def test_update_unknown_raises(self, store: MemoryStore) -> None:
        with pytest.raises(NotFoundError):
            store.update([make("ghost")])

    def test_delete(self, store: MemoryStore) -> None:
        keep, drop = make("keep this note"), make("drop this note")
        store.add([keep, drop])
        assert store.delete([drop.id, "unknown"]) == 1
        assert store.get(drop.id) is None
        assert store.delete([drop.id]) == 0
        hits = store.search("drop this note", scope=Scope(user_id="alice"), k=10)
        assert [h.item.id for h in hits] == [keep.id]
        assert [i.id for i in store.scan()] == [keep.id]

    # -- scan / count ---------------------------------------------------------------------
    def test_scan_is_oldest_first_and_scoped(self, store: MemoryStore) -> None:
        late = make("late", at=T0 + timedelta(days=3))
        early = make("early", at=T0)
        closed = make("closed", at=T0 + timedelta(days=1), valid_to=T0 + timedelta(days=2))
        other = make("bob's", "bob")
        store.add([late, early, closed, other])
        alice = Scope(user_id="alice")
        assert [i.text for i in store.scan(scope=alice)] == ["early", "closed", "late"]
        assert [i.text for i in store.scan(scope=alice, include_closed=False)] == ["early", "late"]
        assert store.count() == 4
        assert store.count(scope=alice) == 3

    # -- lifecycle ------------------------------------------------------------------------
    def test_closed_store_refuses_calls(self, store_factory: StoreFactory, tmp_path: Path) -> None:
        opened = store_factory(tmp_path / "closing")
        opened.close()
        opened.close()  # idempotent
        with pytest.raises(ClosedError):
            opened.add([make("too late")])
        with pytest.raises(ClosedError):
            opened.search("x", scope=Scope(user_id="alice"))

    def test_reopen_gives_the_same_results(
        self, store_factory: StoreFactory, tmp_path: Path
    ) -> None:
        path = tmp_path / "persist"
        first = store_factory(path)
        items = [
            make(f"memory about topic {i} and Lisbon", at=T0 + timedelta(minutes=i))
            for i in range(30)
        ]
        first.add(items)
        first.delete([items[0].id])
        first.update([items[1].model_copy(update={"text": "rewritten about Porto"})])
        before = [
            (h.item.id, round(h.score, 5))
            for h in first.search("Lisbon topic 7", scope=Scope(user_id="alice"), k=5)
        ]
        first.close()
        second = store_factory(path)
        try:
            assert second.count() == 29
            assert second.get(items[1].id).text == "rewritten about Porto"  # type: ignore[union-attr]
            after = [
                (h.item.id, round(h.score, 5))
                for h in second.search("Lisbon topic 7", scope=Scope(user_id="alice"), k=5)
            ]
            assert after == before
        finally:
            second.close()

    def test_ten_thousand_items(self, store: MemoryStore) -> None:
        users = ["alice", "bob", "carol", "dave"]
        batch = [
            make(
                f"note {i} for {users[i % 4]} about subject {i % 97}",
                users[i % 4],
                at=T0 + timedelta(seconds=i),
            )
            for i in range(10_000)
        ]
        for start in range(0, len(batch), 1000):
            store.add(batch[start : start + 1000])
        assert store.count() == 10_000
        assert store.count(scope=Scope(user_id="carol")) == 2500
        hits = store.search("note 4242 subject 71", scope=Scope(user_id="carol"), k=10)
        assert len(hits) == 10
        assert all(h.item.scope.user_id == "carol" for h in hits)
        assert hits[0].item.text == "note 4242 for carol about subject 71"
