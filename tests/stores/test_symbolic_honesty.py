"""Symbolic commands say what they did: no SQL step, no answer; no changed row, no record.
Structured facts (``set-fact``) are visible to ``tables``, ``sql`` and ``ask``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentmem._errors import InvalidInputError
from agentmem.cli import main
from agentmem.stores import SymbolicStore
from agentmem.stores._sql_sandbox import SandboxError
from agentmem.testing import ScriptedLLM

PROSE = "Alice lives in the city of Ashwood, a lovely place by the sea."


@pytest.fixture
def shop() -> SymbolicStore:
    store = SymbolicStore(None)
    store.create_table("sales", {"fruit": str, "kg": int})
    store.execute("INSERT INTO sales VALUES ('apple', 3)", user_id="shop")
    return store


def test_ask_answered_by_prose_alone_is_not_answered(shop: SymbolicStore) -> None:
    result = shop.ask("Where does Alice live?", llm=ScriptedLLM([PROSE]), user_id="shop")
    assert not result.answered
    assert result.answer == ""
    assert "no SQL step" in result.reason and "Ashwood" in result.reason
    assert result.cited().startswith("not answered: the model wrote no SQL step")


def test_ask_whose_steps_all_failed_is_not_answered(shop: SymbolicStore) -> None:
    llm = ScriptedLLM(["SQL: SELECT nope FROM sales", "ANSWER: 3 kg"])
    shop.retries = 2
    result = shop.ask("How many kg?", llm=llm, user_id="shop")
    assert not result.answered and result.answer == ""
    assert "every SQL step failed" in result.reason and "nope" in result.reason


def test_ask_with_a_step_is_answered(shop: SymbolicStore) -> None:
    llm = ScriptedLLM(["SQL: SELECT sum(kg) FROM sales", "ANSWER: 3 kg (step 1)"])
    result = shop.ask("How many kg?", llm=llm, user_id="shop")
    assert result.answered and result.answer == "3 kg (step 1)" and result.reason == ""


def test_record_in_prose_writes_nothing_and_says_so(shop: SymbolicStore) -> None:
    llm = ScriptedLLM(["You bought 3 kg of apples, great choice!"])
    result = shop.record("I bought 3 kg of apples", llm=llm, user_id="shop")
    assert not result.written and result.events == [] and result.note == ""
    assert "nothing was stored" in result.reason
    assert shop.rows("sales", user_id="shop") == [{"fruit": "apple", "kg": 3}]


def test_record_that_only_reads_writes_nothing(shop: SymbolicStore) -> None:
    llm = ScriptedLLM(["SQL: SELECT * FROM sales", "DONE: stored it"])
    result = shop.record("I bought 3 kg of apples", llm=llm, user_id="shop")
    assert not result.written and result.note == ""
    assert result.reason == "no SQL step changed a row"


def test_facts_are_a_read_only_table_for_sql_and_ask() -> None:
    store = SymbolicStore(None)
    facts = store.facts("alice")
    facts.upsert("alice", "city", "Lisbon", at=datetime(2024, 5, 1, tzinfo=UTC))
    facts.upsert("alice", "city", "Porto", at=datetime(2024, 6, 1, tzinfo=UTC))
    store.facts("bob").upsert("bob", "city", "Oslo", at=datetime(2024, 5, 1, tzinfo=UTC))
    assert "facts(subject TEXT, attribute TEXT, value ANY" in store.describe()
    result, _ = store.execute(
        "SELECT value FROM facts WHERE attribute = 'city' AND valid_to IS NULL", user_id="alice"
    )
    assert result.rows == [["Porto"]]  # alice's current value only; bob's is not visible
    with pytest.raises(SandboxError, match="read-only"):
        store.execute("DELETE FROM facts", user_id="alice")
    llm = ScriptedLLM(
        [
            "SQL: SELECT value FROM facts WHERE subject = 'alice' AND attribute = 'city' "
            "AND valid_to IS NULL",
            "ANSWER: Porto (step 1)",
        ]
    )
    answer = store.ask("Where does Alice live?", llm=llm, user_id="alice")
    assert answer.answered and answer.answer == "Porto (step 1)"
    assert "facts(subject TEXT" in llm.calls[0][0].content  # the model sees the table


def test_the_facts_name_is_reserved_for_facts() -> None:
    store = SymbolicStore(None)
    with pytest.raises(InvalidInputError, match="reserved"):
        store.create_table("facts", {"x": str})


def test_cli_set_fact_then_tables_sql_and_ask(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = ["--db", str(tmp_path), "--user", "alice"]
    assert main(["symbolic", "set-fact", *db, "alice", "city", "Porto"]) == 0
    assert main(["symbolic", "tables", "--db", str(tmp_path)]) == 0
    assert "facts(subject TEXT, attribute TEXT" in capsys.readouterr().out
    assert main(["symbolic", "sql", *db, "SELECT subject, value FROM facts"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["alice | Porto"]

    replies = iter(
        [
            [PROSE],
            ["SQL: SELECT value FROM facts WHERE attribute = 'city'", "ANSWER: Porto (step 1)"],
            ["You bought 3 kg of apples."],
        ]
    )
    monkeypatch.setattr("agentmem.cli.symbolic._llm", lambda args: ScriptedLLM(next(replies)))
    assert main(["symbolic", "ask", *db, "Where does Alice live?", "--json"]) == 1
    out = capsys.readouterr().out
    assert '"answered": false' in out and "no SQL step" in out
    assert main(["symbolic", "ask", *db, "Where does Alice live?"]) == 0
    assert capsys.readouterr().out.startswith("Porto (step 1)")
    assert main(["symbolic", "record", *db, "I bought 3 kg of apples"]) == 1
    assert "nothing written: the model wrote no SQL step" in capsys.readouterr().out
