"""The structured-fact timeline: the same tests on SQLite (FactTable) and PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agentmem import Clock, InvalidInputError, ManualClock
from agentmem.stores import FactTable
from agentmem.stores.facts import FactTimeline
from agentmem.testing import HashEmbedder

T0 = datetime(2024, 1, 1, tzinfo=UTC)

OpenFacts = Callable[..., FactTimeline]


@pytest.fixture(params=["sqlite", "postgres"])
def open_facts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenFacts]:
    """Opens a fact table on one backend: ``open_facts(clock=, user_id=)``; the same
    backing data every time (one SQLite file, one PostgreSQL schema)."""
    opened: list[object] = []

    def sqlite(clock: Clock | None = None, user_id: str = "default") -> FactTimeline:
        table = FactTable(tmp_path / "facts.sqlite", user_id=user_id, clock=clock)
        opened.append(table)
        return table

    def postgres(clock: Clock | None = None, user_id: str = "default") -> FactTimeline:
        from agentmem.stores.postgres import PostgresStore

        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("pg_schema")
        store = PostgresStore(url, HashEmbedder(16), schema=schema, clock=clock)
        opened.append(store)
        return store.facts(user_id)

    yield sqlite if request.param == "sqlite" else postgres
    for thing in opened:
        thing.close()  # type: ignore[attr-defined]


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def test_update_closes_the_old_value(open_facts: OpenFacts) -> None:
    facts = open_facts(clock=ManualClock(T0))
    facts.upsert("alice", "city", "Lisbon", at=day(0))
    facts.upsert("alice", "city", "Porto", at=day(10))
    old, new = facts.history("alice", "city")
    assert (old.value, old.valid_from, old.valid_to) == ("Lisbon", day(0), day(10))
    assert (new.value, new.valid_from, new.valid_to) == ("Porto", day(10), None)
    assert facts.current("alice") == {"city": "Porto"}


def test_same_value_is_a_no_op(open_facts: OpenFacts) -> None:
    facts = open_facts(clock=ManualClock(T0))
    facts.upsert("alice", "city", "Lisbon", at=day(0))
    again = facts.upsert("alice", "city", "Lisbon", at=day(3))
    assert again.valid_from == day(0)
    assert len(facts.history("alice", "city")) == 1


def test_as_of_answers_for_any_time_even_with_out_of_order_updates(
    open_facts: OpenFacts,
) -> None:
    rng = random.Random(7)
    timeline = {d: f"v{d}" for d in rng.sample(range(100), 20)}
    facts = open_facts(clock=ManualClock(T0))
    for d, value in rng.sample(sorted(timeline.items()), len(timeline)):  # shuffled
        facts.upsert("box", "colour", value, at=day(d))
    facts.upsert("box", "size", 3, at=day(50))
    changes = sorted(timeline)
    for probe in [x / 2 for x in range(-4, 210)]:
        earlier = [d for d in changes if d <= probe]
        expected = timeline[earlier[-1]] if earlier else None
        got = facts.as_of("box", day(probe)).get("colour")
        assert got == expected, probe
        assert ("size" in facts.as_of("box", day(probe))) == (probe >= 50)
    history = facts.history("box", "colour")
    assert [h.value for h in history] == [timeline[d] for d in changes]
    for a, b in zip(history, history[1:], strict=False):
        assert a.valid_to == b.valid_from  # no gaps, no overlaps
    assert history[-1].valid_to is None


def test_values_keep_their_types_and_users_are_separate(open_facts: OpenFacts) -> None:
    facts = open_facts(user_id="alice", clock=ManualClock(T0))
    facts.upsert("shop", "open", True)
    facts.upsert("shop", "stock", 12.5)
    facts.upsert("shop", "owner", None)
    assert facts.current("shop") == {"open": True, "owner": None, "stock": 12.5}
    assert facts.for_user("bob").current("shop") == {}
    assert facts.subjects() == ["shop"]
    facts.close()
    reopened = open_facts(user_id="alice")
    assert reopened.current("shop")["stock"] == 12.5


def test_retract_closes_without_a_new_value(open_facts: OpenFacts) -> None:
    clock = ManualClock(T0)
    facts = open_facts(clock=clock)
    facts.upsert("alice", "job", "baker")
    clock.advance(timedelta(days=2))
    assert facts.retract("alice", "job")
    assert facts.current("alice") == {}
    assert facts.as_of("alice", day(1)) == {"job": "baker"}
    assert not facts.retract("alice", "job")


def test_bad_input_is_a_user_error(open_facts: OpenFacts) -> None:
    facts = open_facts()
    with pytest.raises(InvalidInputError):
        facts.upsert("", "city", "x")
    with pytest.raises(InvalidInputError):
        facts.upsert("a", "city", ["not", "scalar"])  # type: ignore[arg-type]
