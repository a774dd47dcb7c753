"""``agentmem symbolic ...`` through ``agentmem.cli.main``, with a scripted local server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmem.cli import main
from agentmem.stores import SymbolicStore
from tests.chat_server import ChatServer, chat_server


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with chat_server() as running:
        yield running


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    with SymbolicStore(tmp_path) as store:
        store.create_table("sales", {"fruit": str, "kg": int, "customer": str})
        for row in [("apple", 3, "Bob"), ("pear", 2, "Ann"), ("apple", 4, "Ann")]:
            store.execute("INSERT INTO sales VALUES (?, ?, ?)", list(row), user_id="shop")
    return tmp_path


def test_tables_and_sql(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["symbolic", "tables", "--db", str(shop)]) == 0
    assert "sales(fruit TEXT, kg INTEGER, customer TEXT)" in capsys.readouterr().out
    sql = "SELECT customer, sum(kg) FROM sales WHERE fruit = ? GROUP BY customer ORDER BY 1"
    args = ["symbolic", "sql", "--db", str(shop), "--user", "shop", sql, "--params", '["apple"]']
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["Ann | 4", "Bob | 3"]
    assert main(["symbolic", "sql", "--db", str(shop), "--user", "eve", "SELECT * FROM sales"]) == 0
    assert capsys.readouterr().out.strip() == "(no rows)"  # another user sees nothing


def test_sql_refusals_and_a_missing_store(
    shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["symbolic", "sql", "--db", str(shop), "--user", "shop", "DROP TABLE sales"]) == 2
    assert "DROP TABLE sales" in capsys.readouterr().err
    assert main(["symbolic", "tables", "--db", str(tmp_path / "nowhere")]) == 2
    assert "no symbolic store" in capsys.readouterr().err


def test_ask_through_an_openai_compatible_server(
    shop: Path, server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.say(
        "SQL: SELECT customer, sum(kg) AS kg FROM sales GROUP BY customer ORDER BY kg DESC LIMIT 1",
        "ANSWER: Ann bought the most, 6 kg (step 1)",
    )
    args = ["symbolic", "ask", "--db", str(shop), "--user", "shop", "--base-url", server.url]
    assert main([*args, "Who bought the most?"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Ann bought the most, 6 kg (step 1)")
    assert "sales#2 (fruit=pear, kg=2, customer=Ann)" in out
    assert "sales#3 (fruit=apple, kg=4, customer=Ann)" in out
    assert "sales(fruit TEXT, kg INTEGER, customer TEXT)" in server.messages[0][0]["content"]
    assert "RESULT of step 1:\ncustomer | kg\nAnn | 6" in server.messages[1][-1]["content"]


def test_record_through_a_server(
    shop: Path, server: ChatServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.say(
        'SQL: INSERT INTO sales VALUES (?, ?, ?)\nPARAMS: ["kiwi", 1, "Cid"]',
        "DONE: stored the kiwi sale",
    )
    args = ["symbolic", "record", "--db", str(shop), "--user", "shop", "--base-url", server.url]
    assert main([*args, "sold 1 kg of kiwi to Cid"]) == 0
    assert "stored the kiwi sale" in capsys.readouterr().out
    with SymbolicStore(shop) as store:
        assert store.rows("sales", user_id="shop")[-1] == {
            "fruit": "kiwi",
            "kg": 1,
            "customer": "Cid",
        }


def test_facts_now_as_of_and_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", str(tmp_path), "--user", "alice"]
    assert main(["symbolic", "set-fact", *db, "alice", "city", "Lisbon", "--at", "2024-05-01"]) == 0
    assert main(["symbolic", "set-fact", *db, "alice", "city", "Porto", "--at", "2024-06-01"]) == 0
    assert main(["symbolic", "set-fact", *db, "alice", "age", "41", "--at", "2024-05-01"]) == 0
    capsys.readouterr()
    assert main(["symbolic", "facts", *db]) == 0
    assert capsys.readouterr().out.splitlines() == ["alice.age = 41", 'alice.city = "Porto"']
    assert main(["symbolic", "facts", *db, "--as-of", "2024-05-15"]) == 0
    assert 'alice.city = "Lisbon"' in capsys.readouterr().out
    assert main(["symbolic", "facts", *db, "--subject", "alice", "--history", "city"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "'Lisbon'" in lines[0] and "2024-06-01" in lines[0]
    assert lines[1].startswith("'Porto'") and lines[1].endswith("-> now")
    assert main(["symbolic", "facts", *db, "--as-of", "last week"]) == 2
    assert "not an ISO date" in capsys.readouterr().err
    assert main(["symbolic", "facts", "--db", str(tmp_path), "--user", "bob"]) == 0
    assert capsys.readouterr().out == ""  # facts are per user
