from __future__ import annotations

from datetime import timedelta

import pytest

from agentmem import ManualClock, UserError
from agentmem.policies import HeuristicImportance, ImportancePolicy, LLMImportance
from agentmem.testing import ScriptedLLM

from .conftest import MakeMemory


def test_importance_fades_per_turn(make_memory: MakeMemory, clock: ManualClock) -> None:
    policy = ImportancePolicy(decay=0.5, turn=timedelta(days=1), floor=0.1)
    memory = make_memory([policy])
    item = memory.add("x", user_id="alice", importance=0.8)
    clock.advance(timedelta(days=3))
    assert policy.effective([memory.get(item.id)], clock.now())[0] == pytest.approx(0.1)
    assert memory.tick().forgotten == []  # 0.8 * 0.5^3 = 0.1, not below the floor
    clock.advance(timedelta(hours=1))
    assert [i.id for i in memory.tick().forgotten] == [item.id]


def test_keeps_the_top_k(make_memory: MakeMemory, clock: ManualClock) -> None:
    memory = make_memory([ImportancePolicy(decay=0.9, top_k=2)])
    memory.add("old vital", user_id="alice", importance=0.9)  # 0.9 * 0.9^2 = 0.729
    clock.advance(timedelta(days=1))
    memory.add("mid", user_id="alice", importance=0.7)  # 0.7 * 0.9 = 0.63
    clock.advance(timedelta(days=1))
    memory.add("new trivial", user_id="alice", importance=0.6)  # 0.6
    memory.add("bob's", user_id="bob", importance=0.1)
    changes = memory.tick()
    assert [i.text for i in changes.forgotten] == ["new trivial"]
    assert "top 2" in changes.events[0].reason


def test_scorers_set_importance_on_write(make_memory: MakeMemory) -> None:
    llm = ScriptedLLM(["8", "I'd say 3/10", "no idea"])
    memory = make_memory([ImportancePolicy(scorer=LLMImportance(llm), floor=0.01)])
    items = [memory.add(t, user_id="alice") for t in ("I am allergic to nuts", "ok", "hm")]
    assert [memory.get(i.id).importance for i in items] == [0.8, 0.3, 0.5]
    assert "allergic to nuts" in llm.calls[0][0].content

    heuristic = HeuristicImportance()
    fact = memory.make_item("My daughter Eva was born in 2019", user_id="a", kind="fact")
    chat = memory.make_item("ok thanks", user_id="a")
    assert heuristic.score(fact) > 0.8 > 0.2 > heuristic.score(chat)


def test_needs_a_rule() -> None:
    with pytest.raises(UserError, match="top_k"):
        ImportancePolicy()
