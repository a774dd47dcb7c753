"""The offline model plays ChatDB on a small ledger: accuracy is printed, never asserted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from agentmem.stores import SandboxError, SymbolicStore

from agentmem import ManualClock, TraceRecord


@pytest.mark.real_models
def test_local_model_asks_through_the_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    from agentmem.llms import LocalLLM

    traces: list[TraceRecord] = []
    store = SymbolicStore(
        clock=ManualClock(datetime(2024, 6, 1, tzinfo=UTC)), max_steps=2, tracer=traces.append
    )
    store.create_table("sales", {"day": int, "fruit": str, "kg": float, "customer": str})
    rows = [(1, "apple", 3, "Bob"), (2, "pear", 2, "Ann"), (3, "apple", 4, "Ann")]
    for row in rows:
        store.execute("INSERT INTO sales VALUES (?, ?, ?, ?)", list(row), user_id="shop")
    questions = {
        "How many kg of apples were sold in total?": "7",
        "How many kg did Ann buy?": "6",
    }
    llm = LocalLLM(max_tokens=32)
    correct, steps = 0, 0
    for question, expected in questions.items():
        try:
            result = store.ask(question, llm=llm, user_id="shop", max_tokens=32)
        except SandboxError as exc:
            print(f"refused: {exc.reason}")
            continue
        steps += len(result.steps)
        correct += expected in result.answer
        print(f"{question} -> {result.answer!r} ({len(result.steps)} steps)")
    sql_traces = [t for t in traces if t.name == "symbolic.sql"]
    assert [t for t in traces if t.kind == "llm"], "the model was never called"
    assert len(sql_traces) >= steps  # every statement it wrote went through the sandbox
    with capsys.disabled():
        print(f"\nSymbolicStore + local model: {correct}/{len(questions)} answers correct")
    store.close()
