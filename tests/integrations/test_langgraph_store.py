"""AgentMemStore: agentmem as a LangGraph BaseStore."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from langgraph.store.base import GetOp, ListNamespacesOp, MatchCondition, PutOp, SearchOp

from agentmem import ManualClock, Memory
from agentmem.integrations.langgraph import AgentMemStore, LangGraphTTLPolicy
from agentmem.testing import HashEmbedder

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def memory(tmp_path, clock: ManualClock):
    with Memory.default(tmp_path / "mem", embedder=HashEmbedder(), clock=clock) as memory:
        yield memory


@pytest.fixture
def store(memory: Memory) -> AgentMemStore:
    return AgentMemStore(memory)


def test_put_get_update_delete(store: AgentMemStore, memory: Memory) -> None:
    ns = ("memories", "alice")
    store.put(ns, "k1", {"content": "Alice moved to Lisbon", "kind": "home"})
    item = store.get(ns, "k1")
    assert item is not None
    assert item.value == {"content": "Alice moved to Lisbon", "kind": "home"}
    assert item.key == "k1" and item.namespace == ns
    (stored,) = memory.items(user_id="alice")
    assert stored.text == "Alice moved to Lisbon"

    store.put(ns, "k1", {"content": "Alice moved to Porto"})  # same key: an update
    (stored,) = memory.items(user_id="alice")
    assert stored.text == "Alice moved to Porto"
    assert store.get(ns, "k1").value == {"content": "Alice moved to Porto"}
    ops = [event.op.value for event in memory.history(stored.id)]
    assert ops == ["add", "update"]

    store.delete(ns, "k1")
    assert store.get(ns, "k1") is None
    assert memory.count(user_id="alice") == 0
    assert [e.op.value for e in memory.history(stored.id)][-1] == "forget"


def test_text_fields(memory: Memory) -> None:
    store = AgentMemStore(memory)
    store.put(("n", "u"), "a", {"text": "plain text field"})
    store.put(("n", "u"), "b", {"other": 1})
    store.put(("n", "u"), "c", {"content": {"fact": "structured"}})
    texts = {item.metadata["langgraph_key"]: item.text for item in memory.items(user_id="u")}
    assert texts["a"] == "plain text field"
    assert texts["b"] == '{"other": 1}'
    assert texts["c"] == '{"fact": "structured"}'
    custom = AgentMemStore(memory, text_field="memory")
    custom.put(("m", "v"), "x", {"memory": "configured field", "content": "ignored"})
    assert memory.items(user_id="v")[0].text == "configured field"


def test_search_isolation_filter_limit_offset(store: AgentMemStore) -> None:
    for user in ("alice", "bob"):
        for i, food in enumerate(["pizza", "sushi", "ramen", "tacos"]):
            store.put(
                ("memories", user),
                f"{food}",
                {"content": f"{user} likes {food}", "rank": i, "tag": "food"},
            )
        store.put(("profile", user), "city", {"content": f"{user} lives far away"})
    hits = store.search(("memories", "alice"), query="likes sushi", limit=10)
    assert hits and all(hit.namespace == ("memories", "alice") for hit in hits)
    assert all("alice" in hit.value["content"] for hit in hits)
    assert hits[0].value["content"] == "alice likes sushi"
    assert hits[0].score is not None
    assert len(hits) == 4  # profile namespace not included
    # filters on value fields, with operators
    ranked = store.search(("memories", "alice"), query="likes", filter={"rank": {"$gte": 2}})
    assert sorted(hit.key for hit in ranked) == ["ramen", "tacos"]
    exact = store.search(("memories", "bob"), filter={"tag": "food", "rank": 1})
    assert [hit.key for hit in exact] == ["sushi"]
    # limit and offset page without overlap (query-less: newest first)
    first = store.search(("memories", "alice"), limit=2)
    second = store.search(("memories", "alice"), limit=2, offset=2)
    assert len(first) == 2 and len(second) == 2
    assert {h.key for h in first}.isdisjoint({h.key for h in second})
    assert all(hit.score is None for hit in first)
    # a shorter prefix spans users and namespaces under it
    everyone = store.search(("memories",), query="likes pizza", limit=20)
    assert {hit.namespace for hit in everyone} == {("memories", "alice"), ("memories", "bob")}
    assert len(everyone) == 8


def test_list_namespaces(store: AgentMemStore) -> None:
    store.put(("a", "b", "c"), "1", {"content": "x"})
    store.put(("a", "b", "d", "e"), "1", {"content": "x"})
    store.put(("a", "b", "d", "i"), "1", {"content": "x"})
    store.put(("a", "b", "f"), "1", {"content": "x"})
    store.put(("a", "c", "f"), "1", {"content": "x"})
    assert store.list_namespaces(prefix=("a", "b"), max_depth=3) == [
        ("a", "b", "c"),
        ("a", "b", "d"),
        ("a", "b", "f"),
    ]
    assert store.list_namespaces(suffix=("f",)) == [("a", "b", "f"), ("a", "c", "f")]
    assert store.list_namespaces(prefix=("a", "*", "f")) == [("a", "b", "f"), ("a", "c", "f")]
    assert store.list_namespaces(limit=2, offset=1) == [("a", "b", "d", "e"), ("a", "b", "d", "i")]
    store.delete(("a", "c", "f"), "1")
    assert ("a", "c", "f") not in store.list_namespaces()


def test_namespace_mapping_is_configurable(memory: Memory) -> None:
    from agentmem import Scope

    store = AgentMemStore(
        memory, namespace_to_scope=lambda ns: Scope(user_id=ns[1], agent_id=ns[0])
    )
    store.put(("planner", "alice", "notes"), "n1", {"content": "plan a trip to Rome"})
    (item,) = memory.items(user_id="alice")
    assert item.scope.agent_id == "planner"
    assert store.search(("planner", "alice", "notes"), query="trip")[0].key == "n1"


def test_ttl_expires_refreshes_and_sweeps(memory: Memory, clock: ManualClock) -> None:
    store = AgentMemStore(memory, ttl={"default_ttl": 10, "refresh_on_read": True})
    assert any(isinstance(p, LangGraphTTLPolicy) for p in memory.policies)
    ns = ("memories", "alice")
    store.put(ns, "short", {"content": "short lived"})
    store.put(ns, "forever", {"content": "kept for good"}, ttl=None)
    clock.advance(timedelta(minutes=8))
    assert store.get(ns, "short") is not None  # a read refreshes: expires at 18 min now
    clock.advance(timedelta(minutes=8))
    assert store.get(ns, "short", refresh_ttl=False) is not None
    clock.advance(timedelta(minutes=3))
    assert store.get(ns, "short") is None  # expired, hidden before any sweep
    assert [hit.key for hit in store.search(ns)] == ["forever"]
    assert memory.count(user_id="alice") == 2
    changes = memory.tick()  # the TTL policy sweeps
    assert [item.metadata["langgraph_key"] for item in changes.forgotten] == ["short"]
    assert memory.count(user_id="alice") == 1
    forget = [e for e in memory.events(user_id="alice") if e.op.value == "forget"]
    assert forget and forget[-1].policy == "langgraph_ttl"
    store.put(ns, "again", {"content": "x"}, ttl=1)
    clock.advance(timedelta(minutes=2))
    assert store.sweep_ttl() == 1


def test_batch_and_abatch(store: AgentMemStore) -> None:
    ns = ("memories", "carol")
    results = store.batch(
        [
            PutOp(ns, "a", {"content": "Carol plays the cello"}),
            PutOp(ns, "b", {"content": "Carol hates olives"}),
            GetOp(ns, "a"),
            SearchOp(ns, query="cello", limit=1),
            ListNamespacesOp(match_conditions=(MatchCondition("prefix", ("memories",)),)),
        ]
    )
    assert results[0] is None and results[1] is None
    assert results[2].value["content"] == "Carol plays the cello"
    assert [hit.key for hit in results[3]] == ["a"]
    assert results[4] == [ns]

    async def main() -> list:
        await store.aput(ns, "c", {"content": "Carol flies to Oslo"})
        got, found = await asyncio.gather(
            store.aget(ns, "c"), store.asearch(ns, query="Oslo flight", limit=1)
        )
        listed = await store.alist_namespaces(prefix=("memories",))
        await store.adelete(ns, "c")
        gone = await store.aget(ns, "c")
        return [got, found, listed, gone]

    got, found, listed, gone = asyncio.run(main())
    store.close()
    assert got.value["content"] == "Carol flies to Oslo"
    assert found[0].key == "c"
    assert listed == [ns]
    assert gone is None


def test_policies_and_audit_underneath(tmp_path, clock: ManualClock) -> None:
    from agentmem.policies import CapacityPolicy

    with Memory.default(
        tmp_path / "m",
        embedder=HashEmbedder(),
        clock=clock,
        policies=[CapacityPolicy(max_items=2)],
    ) as memory:
        store = AgentMemStore(memory)
        for i in range(3):
            clock.advance(timedelta(minutes=1))
            store.put(("memories", "dan"), f"k{i}", {"content": f"fact number {i}"})
        memory.tick()
        remaining = {hit.key for hit in store.search(("memories", "dan"))}
        assert len(remaining) == 2
        assert any(e.policy == "capacity" for e in memory.events(user_id="dan"))


def test_many_async_tasks_share_the_store(store: AgentMemStore, memory: Memory) -> None:
    users = ["u0", "u1", "u2", "u3"]

    async def task(n: int) -> None:
        ns = ("memories", users[n % 4])
        await store.aput(ns, f"k{n}", {"content": f"{users[n % 4]} fact number {n}"})
        found = await store.asearch(ns, query=f"fact number {n}", limit=20)
        assert all(hit.namespace == ns for hit in found)
        assert f"k{n}" in {hit.key for hit in found}

    async def main() -> None:
        await asyncio.gather(*(task(n) for n in range(24)))

    asyncio.run(main())
    store.close()
    assert [memory.count(user_id=user) for user in users] == [6, 6, 6, 6]
