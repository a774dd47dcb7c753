"""Schema mode: tables proposed by the model, approved, rejected, or created inside a chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmem import InvalidInputError
from agentmem.stores import SandboxError, SchemaProposal, SymbolicStore
from agentmem.testing import ScriptedLLM

GOOD = """Here are the tables:
```sql
CREATE TABLE deliveries (day INTEGER, fruit TEXT, kg REAL);
CREATE TABLE suppliers (name TEXT, city TEXT);
```"""


def test_an_approved_proposal_is_applied() -> None:
    store = SymbolicStore()
    seen: list[SchemaProposal] = []

    def approve(proposal: SchemaProposal) -> bool:
        seen.append(proposal)
        return True

    llm = ScriptedLLM([GOOD])
    proposal = store.propose_schema("fruit deliveries", llm=llm, approve=approve)
    assert "fruit deliveries" in llm.calls[0][0].content
    assert seen == [proposal] and len(proposal.statements) == 2
    assert store.tables() == {
        "deliveries": [("day", "INTEGER"), ("fruit", "TEXT"), ("kg", "REAL")],
        "suppliers": [("name", "TEXT"), ("city", "TEXT")],
    }
    store.execute("INSERT INTO deliveries VALUES (1, 'apple', 2.5)", user_id="u")
    assert store.rows("deliveries", user_id="u") == [{"day": 1, "fruit": "apple", "kg": 2.5}]


def test_a_rejected_proposal_changes_nothing_until_applied() -> None:
    store = SymbolicStore()
    proposal = store.propose_schema(
        "fruit deliveries", llm=ScriptedLLM([GOOD]), approve=lambda p: False
    )
    assert store.tables() == {}
    assert proposal.tables["deliveries"] == [("day", "INTEGER"), ("fruit", "TEXT"), ("kg", "REAL")]
    assert store.apply_schema(proposal) == ["deliveries", "suppliers"]
    assert set(store.tables()) == {"deliveries", "suppliers"}


MALICIOUS = [
    ("CREATE TABLE a (x TEXT);\nATTACH DATABASE '/tmp/evil.db' AS evil;", "only CREATE TABLE"),
    (
        "CREATE TABLE a (x TEXT);\nCREATE TRIGGER t AFTER INSERT ON a BEGIN DELETE FROM a; END;",
        "TRIGGER",
    ),
    ("CREATE TABLE a (x TEXT); DROP TABLE a;", "only CREATE TABLE"),
    ("CREATE TABLE a (x TEXT);\nPRAGMA writable_schema = 1;", "only CREATE TABLE"),
    ("CREATE TEMP TABLE a (x TEXT);", "TEMP"),
    ("CREATE VIEW v AS SELECT 1;", "VIEW"),
    ("CREATE VIRTUAL TABLE v USING fts5(x);", "VTABLE"),
    ("CREATE TABLE a AS SELECT * FROM sqlite_master;", "AS SELECT"),
    ("CREATE TABLE sqlite_evil (x TEXT);", "reserved"),
    ("CREATE TABLE a (x TEXT); INSERT INTO a VALUES (load_extension('x'));", "only CREATE"),
]


@pytest.mark.parametrize(("reply", "why"), MALICIOUS)
def test_a_malicious_schema_is_refused_whole(tmp_path: Path, reply: str, why: str) -> None:
    store = SymbolicStore(tmp_path)
    approvals: list[SchemaProposal] = []

    def approve(proposal: SchemaProposal) -> bool:
        approvals.append(proposal)
        return True

    with pytest.raises(SandboxError, match=why) as raised:
        store.propose_schema("x", llm=ScriptedLLM([reply]), approve=approve)
    assert raised.value.statement
    assert approvals == [] and store.tables() == {}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["symbolic.sqlite"] + [
        n for n in ("symbolic.sqlite-shm", "symbolic.sqlite-wal") if (tmp_path / n).exists()
    ]


def test_a_reply_without_tables_is_refused() -> None:
    with pytest.raises(SandboxError, match="no usable CREATE TABLE"):
        SymbolicStore().propose_schema("x", llm=ScriptedLLM(["I cannot help with that."]))


# -- schema mode inside a chain -------------------------------------------------------------

CHAIN = [
    "SQL: CREATE TABLE visits (day INTEGER, person TEXT)",
    'SQL: INSERT INTO visits VALUES (?, ?)\nPARAMS: [3, "Bob"]',
    "DONE: stored the visit",
]


def test_off_refuses_create_table() -> None:
    store = SymbolicStore(retries=0)
    llm = ScriptedLLM(CHAIN)
    with pytest.raises(SandboxError, match="only in schema mode"):
        store.record("Bob visited on day 3", llm=llm, user_id="u")
    assert store.tables() == {}
    assert "CREATE TABLE" not in llm.calls[0][0].content  # the prompt does not offer it


def test_allow_creates_the_table_and_the_chain_uses_it() -> None:
    store = SymbolicStore()
    llm = ScriptedLLM(CHAIN)
    result = store.record("Bob visited on day 3", llm=llm, user_id="u", schema_mode="allow")
    assert "CREATE TABLE" in llm.calls[0][0].content
    assert "table visits(day INTEGER, person TEXT) created" in llm.calls[1][-1].content
    assert store.tables() == {"visits": [("day", "INTEGER"), ("person", "TEXT")]}
    assert store.rows("visits", user_id="u") == [{"day": 3, "person": "Bob"}]
    assert result.note == "stored the visit" and len(result.events) == 1
    asked = store.ask(
        "who visited?",
        llm=ScriptedLLM(["SQL: SELECT person FROM visits", "ANSWER: Bob (step 1)"]),
        user_id="u",
    )
    assert asked.answer == "Bob (step 1)" and [r.values for r in asked.rows] == [
        {"day": 3, "person": "Bob"}
    ]


def test_approve_asks_first_and_a_no_is_shown_to_the_model() -> None:
    store = SymbolicStore()
    asked: list[SchemaProposal] = []

    def no(proposal: SchemaProposal) -> bool:
        asked.append(proposal)
        return False

    llm = ScriptedLLM([CHAIN[0], "DONE: could not store it"])
    result = store.record("Bob visited", llm=llm, user_id="u", schema_mode="approve", approve=no)
    assert [p.tables for p in asked] == [{"visits": [("day", "INTEGER"), ("person", "TEXT")]}]
    assert "did not approve" in llm.calls[1][-1].content and store.tables() == {}
    assert result.steps[0].error is not None

    yes = SymbolicStore()
    yes.record(
        "Bob visited on day 3",
        llm=ScriptedLLM(CHAIN),
        user_id="u",
        schema_mode="approve",
        approve=lambda p: p.tables.keys() == {"visits"},
    )
    assert yes.rows("visits", user_id="u") == [{"day": 3, "person": "Bob"}]


def test_schema_mode_is_checked() -> None:
    store = SymbolicStore()
    with pytest.raises(InvalidInputError, match="needs approve="):
        store.ask("q", llm=ScriptedLLM([]), user_id="u", schema_mode="approve")
    with pytest.raises(InvalidInputError, match="schema_mode must be"):
        store.ask("q", llm=ScriptedLLM([]), user_id="u", schema_mode="yes")  # type: ignore[arg-type]


def test_a_hostile_create_in_a_chain_is_refused(tmp_path: Path) -> None:
    store = SymbolicStore(tmp_path, retries=0)
    llm = ScriptedLLM(["SQL: CREATE TRIGGER t AFTER INSERT ON x BEGIN SELECT 1; END"])
    with pytest.raises(SandboxError, match="TRIGGER"):
        store.ask("q", llm=llm, user_id="u", schema_mode="allow")
    llm = ScriptedLLM(["SQL: CREATE TABLE a (x TEXT); ATTACH 'y' AS y"])
    with pytest.raises(SandboxError, match="exactly one statement"):
        store.ask("q", llm=llm, user_id="u", schema_mode="allow")
    assert store.tables() == {}
