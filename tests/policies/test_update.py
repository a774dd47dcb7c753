from __future__ import annotations

from datetime import timedelta

from agentmem import Action, Kind, ManualClock, Memory
from agentmem.policies import LLMUpdateDecider, UpdatePolicy
from agentmem.testing import ScriptedLLM

from .conftest import MakeMemory


def fact(memory: Memory, value: str, *, attribute: str = "city", **extra: object) -> str:
    item = memory.add(
        f"alice {attribute} {value}",
        user_id="alice",
        kind=Kind.FACT,
        metadata={"subject": "alice", "attribute": attribute, "value": value, **extra},
    )
    return item.id


def open_values(memory: Memory) -> list[str]:
    return [i.metadata.get("value", i.text) for i in memory.items(user_id="alice")]


def test_structured_pass_replace_append_delete(make_memory: MakeMemory, clock: ManualClock) -> None:
    memory = make_memory([UpdatePolicy()])
    lisbon = fact(memory, "Lisbon")
    clock.advance(timedelta(days=1))
    fact(memory, " lisbon ")  # PASS: same value, the copy is dropped
    assert open_values(memory) == ["Lisbon"]
    assert memory.events()[-1].reason.startswith("PASS")
    clock.advance(timedelta(days=1))
    porto = fact(memory, "Porto")  # REPLACE
    assert open_values(memory) == ["Porto"]
    closed = memory.get(lisbon)
    assert closed.valid_to == memory.get(porto).created_at
    assert closed.metadata["superseded_by"] == porto
    fact(memory, "tennis", attribute="hobby", multi=True)
    fact(memory, "chess", attribute="hobby", multi=True)  # APPEND
    assert open_values(memory) == ["Porto", "tennis", "chess"]
    clock.advance(timedelta(days=1))
    fact(memory, "none", attribute="hobby", negated=True)  # DELETE: both hobbies closed
    assert open_values(memory) == ["Porto", "none"]
    assert [e.reason.split(":")[0] for e in memory.events()[-2:]] == ["DELETE", "DELETE"]


def test_structured_is_scoped_to_subject_and_user(make_memory: MakeMemory) -> None:
    memory = make_memory([UpdatePolicy()])
    fact(memory, "Lisbon")
    memory.add(
        "bob city Rome",
        user_id="alice",
        kind=Kind.FACT,
        metadata={"subject": "bob", "attribute": "city", "value": "Rome"},
    )
    memory.add(
        "carol city Oslo",
        user_id="carol",
        kind=Kind.FACT,
        metadata={"subject": "alice", "attribute": "city", "value": "Oslo"},
    )
    fact(memory, "Porto")
    assert open_values(memory) == ["Rome", "Porto"]
    assert [i.text for i in memory.items(user_id="carol")] == ["carol city Oslo"]


def test_structured_newest_by_event_time_then_recorded(
    make_memory: MakeMemory, clock: ManualClock
) -> None:
    memory = make_memory([UpdatePolicy()])
    start = clock.now()
    fact_at = start + timedelta(days=5)
    memory.add(
        "alice city Porto",
        user_id="alice",
        kind=Kind.FACT,
        created_at=fact_at,
        metadata={"subject": "alice", "attribute": "city", "value": "Porto"},
    )
    clock.advance(timedelta(days=10))
    # Recorded later but happened earlier: it is the outdated one.
    late = memory.add(
        "alice city Lisbon",
        user_id="alice",
        kind=Kind.FACT,
        created_at=start,
        metadata={"subject": "alice", "attribute": "city", "value": "Lisbon"},
    )
    assert open_values(memory) == ["Porto"]
    assert memory.get(late.id).valid_to == fact_at
    # Same event time: the later recorded wins.
    clock.advance(timedelta(days=1))
    memory.add(
        "alice city Faro",
        user_id="alice",
        kind=Kind.FACT,
        created_at=fact_at,
        metadata={"subject": "alice", "attribute": "city", "value": "Faro"},
    )
    assert open_values(memory) == ["Faro"]


def test_a_batch_settles_in_event_order(make_memory: MakeMemory, clock: ManualClock) -> None:
    memory = make_memory([UpdatePolicy()])
    items = [
        memory.make_item(
            f"alice city {v}",
            user_id="alice",
            kind="fact",
            created_at=clock.now() + timedelta(hours=h),
            metadata={"subject": "alice", "attribute": "city", "value": v},
        )
        for v, h in (("C", 3), ("A", 1), ("B", 2))
    ]
    memory.write(items)
    assert open_values(memory) == ["C"]
    when = clock.now() + timedelta(hours=2, minutes=30)
    hits = memory.search("alice city", user_id="alice", as_of=when, record_access=False)
    assert [h.item.metadata["value"] for h in hits] == ["B"]


def _said(memory: Memory, text: str, clock: ManualClock) -> str:
    clock.advance(timedelta(days=1))
    return memory.add(text, user_id="alice", metadata={"subject": "car"}).id


def test_llm_decider_each_operation(make_memory: MakeMemory, clock: ManualClock) -> None:
    llm = ScriptedLLM(["PASS", "Replace.", "append", "DELETE"])
    memory = make_memory([UpdatePolicy(LLMUpdateDecider(llm))])
    red = _said(memory, "I drive a red car", clock)
    _said(memory, "My car is red", clock)  # PASS: dropped
    assert [i.text for i in memory.items(user_id="alice")] == ["I drive a red car"]
    blue = _said(memory, "I painted my car blue", clock)  # REPLACE: red closed
    assert memory.get(red).valid_to is not None
    assert memory.get(red).metadata["superseded_by"] == blue
    _said(memory, "My car has a roof rack", clock)  # APPEND vs blue
    assert len(memory.items(user_id="alice")) == 2
    # DELETE: asked about the first open memory (blue); the roof rack gets the default.
    llm_default = ScriptedLLM(["DELETE", "APPEND"])
    memory.policies = [UpdatePolicy(LLMUpdateDecider(llm_default))]
    sold = _said(memory, "I sold my car", clock)
    assert memory.get(blue).metadata["invalidated_by"] == sold
    assert [i.text for i in memory.items(user_id="alice")] == [
        "My car has a roof rack",
        "I sold my car",
    ]
    prompt = llm.calls[1][0].content
    assert "I painted my car blue" in prompt and "I drive a red car" in prompt


def test_llm_decider_falls_back_and_touches_only_the_subject(
    make_memory: MakeMemory, clock: ManualClock
) -> None:
    llm = ScriptedLLM(["no idea"])
    memory = make_memory([UpdatePolicy(LLMUpdateDecider(llm))])
    _said(memory, "I drive a red car", clock)
    memory.add("I have a cat", user_id="alice", metadata={"subject": "pet"})
    decisions = memory.policies[0].on_write(
        [memory.make_item("my car is old", user_id="alice", metadata={"subject": "car"})],
        memory._context,
    )
    assert [d.action for d in decisions] == [Action.KEEP]  # APPEND, cat never asked about
    assert len(llm.calls) == 1
