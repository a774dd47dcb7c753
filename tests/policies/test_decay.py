from __future__ import annotations

from datetime import timedelta

import pytest

from agentmem import Action, ManualClock, UserError
from agentmem.policies import DecayPolicy

from .conftest import MakeMemory


@pytest.mark.parametrize(
    ("strength", "days", "expected"),
    [
        (1.0, 1, 0.36787944),  # e^-1
        (1.0, 7, 0.00091188),  # e^-7
        (1.0, 30, 9.3576e-14),  # e^-30
        (7.0, 1, 0.86687789),  # e^-(1/7)
        (7.0, 7, 0.36787944),  # e^-1
        (7.0, 30, 0.01376379),  # e^-(30/7)
        (30.0, 1, 0.96721610),  # e^-(1/30)
        (30.0, 7, 0.79187185),  # e^-(7/30)
        (30.0, 30, 0.36787944),  # e^-1
    ],
)
def test_retention_after_1_7_30_days(
    make_memory: MakeMemory, clock: ManualClock, strength: float, days: int, expected: float
) -> None:
    memory = make_memory([])
    item = memory.add("alice likes tea", user_id="alice").model_copy(update={"strength": strength})
    clock.advance(timedelta(days=days))
    assert DecayPolicy().retention(item, clock.now()) == pytest.approx(expected, rel=1e-4)


def test_tick_forgets_below_threshold_only(make_memory: MakeMemory, clock: ManualClock) -> None:
    memory = make_memory([DecayPolicy(threshold=0.2)])
    weak = memory.add("weak memory about tea", user_id="alice")
    strong = memory.add("strong memory about coffee", user_id="alice")
    memory.stores[0].update([memory.get(strong.id).model_copy(update={"strength": 7.0})])
    clock.advance(timedelta(days=2))  # weak: e^-2 = 0.135 < 0.2; strong: e^-(2/7) = 0.751
    changes = memory.tick()
    assert [item.id for item in changes.forgotten] == [weak.id]
    assert changes.events[0].reason == "retention 0.14 < 0.2 (strength 1, 2 days since last recall)"
    assert memory.get(strong.id).valid_to is None


def test_recall_reinforces_add_and_multiply(make_memory: MakeMemory, clock: ManualClock) -> None:
    memory = make_memory([DecayPolicy(reinforce="add", increment=1.0)])
    item = memory.add("alice lives in lisbon", user_id="alice")
    memory.search("lisbon", user_id="alice", k=1)
    memory.search("lisbon", user_id="alice", k=1)
    assert memory.get(item.id).strength == pytest.approx(3.0)  # 1 + 1 + 1

    other = make_memory([DecayPolicy(reinforce="multiply", factor=2.5)])
    kept = other.add("bob lives in porto", user_id="bob")
    other.search("porto", user_id="bob", k=1)
    other.search("porto", user_id="bob", k=1)
    assert other.get(kept.id).strength == pytest.approx(6.25)  # 1 * 2.5 * 2.5


def test_recall_restarts_the_curve(make_memory: MakeMemory, clock: ManualClock) -> None:
    memory = make_memory([DecayPolicy(threshold=0.2)])
    item = memory.add("alice lives in lisbon", user_id="alice")
    clock.advance(timedelta(days=1))
    memory.search("lisbon", user_id="alice", k=1)  # strength 2, t restarts
    clock.advance(timedelta(days=3))  # e^-(3/2) = 0.223 > 0.2: kept
    assert memory.tick().forgotten == []
    clock.advance(timedelta(hours=12))  # e^-(3.5/2) = 0.174 < 0.2: forgotten
    assert [i.id for i in memory.tick().forgotten] == [item.id]


def test_archive_closes_instead_of_deleting(make_memory: MakeMemory, clock: ManualClock) -> None:
    memory = make_memory([DecayPolicy(threshold=0.5, archive=True)])
    item = memory.add("alice likes tea", user_id="alice")
    clock.advance(timedelta(days=1))
    memory.tick()
    assert memory.get(item.id).valid_to == clock.now()
    assert memory.items(user_id="alice") == []


def test_stochastic_forgetting_repeats_with_a_seed(
    make_memory: MakeMemory, clock: ManualClock
) -> None:
    def survivors(seed: int) -> list[str]:
        clock.set(clock.now().replace(year=2024, month=1, day=1))
        memory = make_memory([DecayPolicy(stochastic=True, seed=seed)])
        for n in range(40):
            memory.add(f"memory number {n}", user_id="alice")
        clock.advance(timedelta(days=1))  # each survives with probability e^-1
        memory.tick()
        return [item.text for item in memory.items(user_id="alice")]

    first, again = survivors(3), survivors(3)
    assert first == again
    assert 4 <= len(first) <= 28  # 40 * 0.368 = 14.7 expected


def test_preview_proposes_without_applying(make_memory: MakeMemory, clock: ManualClock) -> None:
    memory = make_memory([DecayPolicy(threshold=0.2)])
    item = memory.add("alice likes tea", user_id="alice")
    clock.advance(timedelta(days=5))
    decisions = memory.preview()
    assert [(d.action, d.item_ids) for d in decisions] == [(Action.FORGET, [item.id])]
    assert memory.get(item.id).id == item.id
    memory.apply(decisions)
    assert memory.items(user_id="alice") == []


def test_bad_settings_say_how_to_fix() -> None:
    with pytest.raises(UserError, match="between 0 and 1"):
        DecayPolicy(threshold=2)
    with pytest.raises(UserError, match="add"):
        DecayPolicy(reinforce="square")  # type: ignore[arg-type]
