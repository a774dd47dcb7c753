from __future__ import annotations

from datetime import timedelta

import pytest

from agentmem import ManualClock, UserError
from agentmem._time import describe_duration
from agentmem.policies import CapacityPolicy, TTLPolicy

from .conftest import MakeMemory


def _texts(memory: object, user: str = "alice") -> list[str]:
    return [item.text for item in memory.items(user_id=user)]  # type: ignore[attr-defined]


def test_capacity_evicts_least_recently_used(make_memory: MakeMemory, clock: ManualClock) -> None:
    memory = make_memory([CapacityPolicy(3, evict="lru")])
    for word in ("apple", "banana", "cherry"):
        memory.add(f"fruit {word}", user_id="alice")
        clock.advance(timedelta(hours=1))
    memory.search("apple", user_id="alice", k=1)  # apple used at 12:00: now the freshest
    clock.advance(timedelta(hours=1))
    memory.add("fruit damson", user_id="alice")  # 4 > 3: banana (09+1h, never used) goes
    assert _texts(memory) == ["fruit apple", "fruit cherry", "fruit damson"]
    memory.add("fruit elder", user_id="alice")  # then cherry
    assert _texts(memory) == ["fruit apple", "fruit damson", "fruit elder"]


def test_capacity_evicts_oldest_first(make_memory: MakeMemory, clock: ManualClock) -> None:
    memory = make_memory([CapacityPolicy(2, evict="oldest")])
    start = clock.now()
    memory.add("b", user_id="alice", created_at=start + timedelta(days=2))
    memory.add("a", user_id="alice", created_at=start + timedelta(days=1))
    memory.search("a", user_id="alice", k=2)  # recall does not save the oldest
    memory.add("c", user_id="alice", created_at=start + timedelta(days=3))
    assert _texts(memory) == ["b", "c"]


def test_capacity_evicts_least_important(make_memory: MakeMemory, clock: ManualClock) -> None:
    memory = make_memory([CapacityPolicy(2, evict="least_important")])
    memory.add("vital", user_id="alice", importance=0.9)
    memory.add("trivial", user_id="alice", importance=0.1)
    memory.add("middling", user_id="alice", importance=0.5)
    assert sorted(_texts(memory)) == ["middling", "vital"]


def test_capacity_is_per_scope(make_memory: MakeMemory) -> None:
    memory = make_memory([CapacityPolicy(1, per="session")])
    memory.add("one", user_id="alice", session_id="s1")
    memory.add("two", user_id="alice", session_id="s2")
    memory.add("three", user_id="bob", session_id="s1")
    assert memory.count() == 3
    memory.add("four", user_id="alice", session_id="s1")
    assert _texts(memory) == ["two", "four"]
    assert "exceed 1" in memory.events()[-1].reason


def test_capacity_on_tick(make_memory: MakeMemory) -> None:
    policy = CapacityPolicy(2, evict="oldest")
    memory = make_memory([])
    for n in range(5):
        memory.add(f"m{n}", user_id="alice")
    memory.add("other", user_id="bob")
    memory.policies = [policy]
    assert len(memory.tick().forgotten) == 3
    assert _texts(memory) == ["m3", "m4"] and _texts(memory, "bob") == ["other"]


def test_ttl_expires_only_its_kinds(make_memory: MakeMemory, clock: ManualClock) -> None:
    memory = make_memory([TTLPolicy(timedelta(days=7), kinds=["message"])])
    memory.add("hello there", user_id="alice")
    memory.add("alice is vegetarian", user_id="alice", kind="fact")
    clock.advance(timedelta(days=6, hours=23))
    assert memory.tick().forgotten == []
    clock.advance(timedelta(hours=1))  # exactly 7 days: expired
    assert [i.text for i in memory.tick().forgotten] == ["hello there"]
    assert _texts(memory) == ["alice is vegetarian"]


def test_ttl_refresh_on_read(make_memory: MakeMemory, clock: ManualClock) -> None:
    memory = make_memory([TTLPolicy(timedelta(days=2), refresh_on_read=True)])
    memory.add("alice has a cat", user_id="alice")
    memory.add("bob has a dog", user_id="alice")
    clock.advance(timedelta(days=1))
    memory.search("cat", user_id="alice", k=1)
    clock.advance(timedelta(days=1, hours=12))  # dog: 2.5 days old; cat: read 1.5 days ago
    assert [i.text for i in memory.tick().forgotten] == ["bob has a dog"]


def test_ttl_archive_and_bad_ttl(make_memory: MakeMemory, clock: ManualClock) -> None:
    memory = make_memory([TTLPolicy(timedelta(hours=1), archive=True)])
    item = memory.add("short lived", user_id="alice")
    clock.advance(timedelta(hours=2))
    memory.tick()
    assert memory.get(item.id).valid_to == clock.now()
    with pytest.raises(UserError, match="timedelta"):
        TTLPolicy(0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("span", "said"),
    [
        (timedelta(days=14), "14 days"),
        (timedelta(days=1, hours=6, minutes=5), "1 day 6 hours"),
        (timedelta(hours=2, minutes=30), "2 hours 30 minutes"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(seconds=45), "45 seconds"),
        (timedelta(milliseconds=250), "0.25 seconds"),
    ],
)
def test_durations_read_as_people_say_them(span: timedelta, said: str) -> None:
    assert describe_duration(span) == said


def test_a_ttl_reason_says_the_duration_in_words(
    make_memory: MakeMemory, clock: ManualClock
) -> None:
    memory = make_memory([TTLPolicy(timedelta(days=14))])
    memory.add("We chatted about the weather", user_id="u")
    clock.advance(timedelta(days=30))
    (decision,) = memory.preview()
    assert decision.reason == f"TTL: older than 14 days on {clock.now():%Y-%m-%d %H:%M}"
