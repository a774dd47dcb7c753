"""The offline model plays ChatDB on a small ledger: accuracy is printed, never asserted.

What is asserted holds whatever the model writes: it was asked with the schema, every
statement it wrote was run through the sandbox (in the trace) and nothing else was, and
the ledger it could only read is unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from agentmem import ChatMessage, ChatResult, ManualClock, TraceRecord
from agentmem.stores import SandboxError, SymbolicStore
from agentmem.stores.symbolic import parse_reply


class _Recording:
    """Wraps a chat model and keeps every prompt it was given."""

    def __init__(self, llm: object) -> None:
        self.llm = llm
        self.prompts: list[list[ChatMessage]] = []

    def chat(self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None) -> ChatResult:
        self.prompts.append(list(messages))
        result: ChatResult = self.llm.chat(messages, max_tokens=max_tokens)  # type: ignore[attr-defined]
        return result


@pytest.mark.real_models
def test_local_model_asks_through_the_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    from agentmem.llms import LocalLLM

    started = time.monotonic()
    traces: list[TraceRecord] = []
    store = SymbolicStore(
        clock=ManualClock(datetime(2024, 6, 1, tzinfo=UTC)),
        max_steps=2,
        retries=0,
    )
    store.create_table("sales", {"day": int, "fruit": str, "kg": float, "customer": str})
    rows = [(1, "apple", 3, "Bob"), (2, "pear", 2, "Ann"), (3, "apple", 4, "Ann")]
    for row in rows:
        store.execute("INSERT INTO sales VALUES (?, ?, ?, ?)", list(row), user_id="shop")
    before = store.rows("sales", user_id="shop")
    store.tracer = traces.append
    questions = {
        "How many kg of apples were sold in total?": "7",
        "How many kg did Ann buy?": "6",
    }
    llm = _Recording(LocalLLM(max_tokens=24))
    correct, refused, written = 0, 0, 0
    for question, expected in questions.items():
        try:
            result = store.ask(question, llm=llm, user_id="shop", max_tokens=24)
        except SandboxError as exc:
            refused += 1
            print(f"{question} -> refused: {exc.reason}")
            continue
        correct += expected in result.answer
        print(f"{question} -> {result.answer!r} ({len(result.steps)} steps)")
        print(f"  rows cited: {[str(r) for r in result.rows]}")

    # The model was asked, with the schema in its prompt, once per question at least.
    assert len(llm.prompts) >= len(questions)
    for prompt in llm.prompts:
        assert "sales(day INTEGER, fruit TEXT, kg REAL, customer TEXT)" in prompt[0].content
    # Every statement the model wrote went through the sandbox, and nothing else did.
    replies = [t.response["text"] for t in traces if t.name == "symbolic.step"]
    assert len(replies) == len(llm.prompts)
    produced = [sql for _, sql, _ in map(parse_reply, replies) if sql is not None]
    sandboxed = [t.request["sql"] for t in traces if t.name == "symbolic.sql"]
    assert sandboxed == produced
    written = sum(1 for sql in produced if not sql.lstrip().upper().startswith(("SELECT", "WITH")))
    if written == 0:
        assert store.rows("sales", user_id="shop") == before
    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(
            f"\nSymbolicStore + local model: {correct}/{len(questions)} answers correct, "
            f"{len(produced)} statements written ({refused} questions refused), "
            f"{elapsed:.1f} s"
        )
    store.close()
