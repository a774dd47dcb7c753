"""The sandbox fuzz corpus: hostile SQL is refused or bounded, and the database is unchanged."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentmem import UserError
from agentmem.stores import SandboxError, SandboxLimits, SymbolicStore, split_statements

SECRET = "BOB-SECRET-7731"

# Statements that must be refused (SandboxError) whoever runs them.
REFUSED = [
    "ATTACH DATABASE '{evil}' AS evil",
    "ATTACH '{evil}' AS x",
    "attach database ':memory:' as m",
    "ATTACH DATABASE 'file:{evil}?mode=rwc' AS evil",
    "DETACH DATABASE main",
    "PRAGMA writable_schema = 1",
    "PRAGMA writable_schema=ON",
    "PRAGMA journal_mode = DELETE",
    "PRAGMA database_list",
    "PRAGMA foreign_keys = OFF",
    "PRAGMA temp_store_directory = '/tmp'",
    "PRAGMA main.page_size = 512",
    "PRAGMA table_info(sqlite_master)",
    "SELECT * FROM pragma_database_list",
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT load_extension('libc.so.6', 'system')",
    "SELECT fts3_tokenizer('simple')",
    "DROP TABLE sales",
    "DROP TABLE IF EXISTS stock",
    "ALTER TABLE sales ADD COLUMN hacked TEXT",
    "ALTER TABLE sales RENAME TO sales_old",
    "CREATE TABLE evil (x)",
    "CREATE TABLE evil AS SELECT * FROM sales",
    "CREATE TEMP TABLE t (x)",
    "CREATE TEMP VIEW v AS SELECT * FROM sales",
    "CREATE VIEW v AS SELECT * FROM sales",
    "CREATE INDEX i ON sales (fruit)",
    "CREATE TRIGGER t AFTER INSERT ON sales BEGIN DELETE FROM sales; END",
    "CREATE VIRTUAL TABLE f USING fts5(x)",
    "CREATE VIRTUAL TABLE temp.f USING fts5(x)",
    "UPDATE sqlite_master SET sql = 'x'",
    "INSERT INTO sqlite_master VALUES ('table', 'x', 'x', 0, 'CREATE TABLE x(y)')",
    "DELETE FROM sqlite_master",
    "SELECT * FROM sqlite_master",
    "SELECT sql FROM sqlite_schema",
    "SELECT name FROM sqlite_temp_master",
    "SELECT count(*) FROM sqlite_master",
    "SELECT 1; SELECT 2",
    "SELECT * FROM sales; DROP TABLE sales",
    "SELECT * FROM sales;DELETE FROM sales",
    "INSERT INTO sales (fruit) VALUES ('x'); ATTACH '{evil}' AS e",
    "SELECT ';'; DELETE FROM sales",
    "SELECT 'a' -- ; \n; DELETE FROM sales",
    "SELECT /* ; */ 1; DELETE FROM sales",
    "SELECT 'unterminated",
    "SELECT (1",
    "BEGIN",
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT s",
    "RELEASE s",
    "VACUUM",
    "VACUUM INTO '{evil}'",
    "ANALYZE",
    "REINDEX",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x FROM c) SELECT sum(x) FROM c, sales",
    "SELECT count(*) FROM sales a, sales b, sales c, sales d, sales e, sales f, sales g, "
    "sales h, sales i",
    "SELECT zeroblob(2000000000)",
    "SELECT randomblob(500000000)",
    "SELECT * FROM sales WHERE _user_id = 'bob'",
    "SELECT * FROM rec_sales",
    "SELECT * FROM main.rec_sales",
    "SELECT * FROM items",
    "SELECT text FROM items WHERE user_id = 'bob'",
    "SELECT * FROM facts",
    "SELECT * FROM evil.sales",
    "SELECT * FROM temp.sales",
    "INSERT INTO items (text) VALUES ('x')",
    "UPDATE meta SET value = 'x'",
    "DELETE FROM sales WHERE 1; -- and more",  # fine alone? no: see SPLIT test below
    "",
    "   -- only a comment",
]
REFUSED.remove("DELETE FROM sales WHERE 1; -- and more")
REFUSED.append("SELECT printf('%.*c', 100000000, 'x')")  # past the string limit

# Cross-user attempts that may run but must never show another user's rows.
NO_LEAK = [
    f"SELECT * FROM sales WHERE customer = '{SECRET}'",
    "SELECT * FROM sales",
    "SELECT customer, count(*) FROM sales GROUP BY customer",
    "SELECT * FROM main.sales",
    "SELECT group_concat(customer) FROM sales",
    "SELECT * FROM stock",
    "SELECT rowid, * FROM sales WHERE rowid > 0",
    "SELECT * FROM sales WHERE rowid IN (SELECT rowid FROM sales)",
]

# Huge result sets: bounded to the row limit, with a note.
BOUNDED = [
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
    "SELECT a.fruit, b.fruit FROM sales a, sales b",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100000) "
    "SELECT x, printf('%.500c', 'y') FROM c",
]


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[Path, SymbolicStore]]:
    folder = tmp_path / "shop"
    store = SymbolicStore(folder)
    store.create_table("sales", {"day": int, "fruit": str, "kg": float, "customer": str})
    store.create_table("stock", {"fruit": str, "kg": float})
    for i in range(30):
        store.execute(
            "INSERT INTO sales (day, fruit, kg, customer) VALUES (?, ?, ?, ?)",
            [i, "apple", 1.0, "Ann"],
            user_id="alice",
        )
    store.execute("INSERT INTO stock VALUES ('apple', 5)", user_id="alice")
    store.execute("INSERT INTO sales VALUES (1, 'pear', 9, ?)", [SECRET], user_id="bob")
    store.close()
    reopened = SymbolicStore(folder, limits=SandboxLimits(max_rows=20, time_limit=0.5))
    yield folder, reopened
    reopened.close()


def test_fuzz_corpus_is_refused_or_bounded_and_changes_nothing(
    shop: tuple[Path, SymbolicStore], tmp_path: Path
) -> None:
    folder, store = shop
    evil = tmp_path / "evil.sqlite"
    corpus = len(REFUSED) + len(NO_LEAK) + len(BOUNDED)
    assert corpus >= 60
    store.close()
    before = _digest(folder)
    store = SymbolicStore(folder, limits=SandboxLimits(max_rows=20, time_limit=0.5))
    dump_before = list(store._table.conn.iterdump())
    for template in REFUSED:
        sql = template.format(evil=evil)
        with pytest.raises(SandboxError) as caught:
            store.execute(sql, user_id="alice")
        assert isinstance(caught.value, UserError)
        assert caught.value.statement.strip() or sql.strip() == "" or sql.strip().startswith("--")
        assert caught.value.reason, sql
    for sql in NO_LEAK:
        result, events = store.execute(sql, user_id="alice")
        assert SECRET not in str(result.rows), sql
        assert events == []
    for sql in BOUNDED:
        result, _ = store.execute(sql, user_id="alice")
        assert result.truncated and len(result.rows) == 20, sql
        assert "only the first 20 rows" in result.render(10_000) or "cut at" in result.render(1000)
    assert not evil.exists()
    assert list(store._table.conn.iterdump()) == dump_before
    store.close()
    assert _digest(folder) == before


def test_refusals_say_why(shop: tuple[Path, SymbolicStore]) -> None:
    _, store = shop
    cases = {
        "ATTACH 'x.sqlite' AS x": "only SELECT, INSERT, UPDATE and DELETE",
        "PRAGMA writable_schema = 1": "PRAGMA writable_schema is not allowed",
        "SELECT load_extension('x')": "load_extension() is not allowed",
        "SELECT 1; SELECT 2": "exactly one statement",
        "DROP TABLE sales": "only SELECT, INSERT, UPDATE and DELETE",
        "WITH x AS (SELECT 1) DELETE FROM sqlite_master": "may not be modified",
        "INSERT INTO sales SELECT * FROM sqlite_master": "reading 'sqlite_master'",
        "SELECT * FROM temp.sales": "no such table: temp.sales",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT count(*) FROM c": "aborted",
        "SELECT * FROM sqlite_master": "reading 'sqlite_master' is not allowed",
        "SELECT nope FROM sales": "no such column",
    }
    for sql, reason in cases.items():
        with pytest.raises(SandboxError, match=re.escape(reason)) as caught:
            store.execute(sql, user_id="alice")
        assert sql.split(";")[0] in str(caught.value)


def test_a_failing_write_is_rolled_back(shop: tuple[Path, SymbolicStore]) -> None:
    _, store = shop
    rows = store.rows("sales", user_id="alice")
    with pytest.raises(SandboxError):
        store.execute("UPDATE sales SET kg = kg + 1 WHERE day < 5 AND nope = 1", user_id="alice")
    with pytest.raises(SandboxError):  # fails half-way: the first rows are undone too
        store.execute(
            "UPDATE sales SET kg = CASE WHEN day < 20 THEN 2 ELSE zeroblob(2000000000) END",
            user_id="alice",
        )
    assert store.rows("sales", user_id="alice") == rows


def test_writes_stay_in_the_users_scope(shop: tuple[Path, SymbolicStore]) -> None:
    _, store = shop
    _, events = store.execute("DELETE FROM sales", user_id="alice")
    assert len(events) == 30 and {e.user_id for e in events} == {"alice"}
    assert store.rows("sales", user_id="alice") == []
    assert store.rows("sales", user_id="bob") == [
        {"day": 1, "fruit": "pear", "kg": 9.0, "customer": SECRET}
    ]
    _, events = store.execute("UPDATE sales SET customer = 'x'", user_id="carol")
    assert events == []
    assert store.rows("sales", user_id="bob")[0]["customer"] == SECRET


def test_rowid_games_cannot_reach_other_users(shop: tuple[Path, SymbolicStore]) -> None:
    _, store = shop
    bob_id = store._table.conn.execute(
        "SELECT _id FROM rec_sales WHERE _user_id = 'bob'"
    ).fetchone()[0]
    store.execute(
        "INSERT INTO sales (rowid, day, fruit, kg, customer) VALUES (?, 2, 'fig', 1, 'x')",
        [bob_id],
        user_id="alice",
    )
    store.execute("UPDATE sales SET rowid = ? WHERE day = 3", [bob_id + 1000], user_id="alice")
    assert store.rows("sales", user_id="bob") == [
        {"day": 1, "fruit": "pear", "kg": 9.0, "customer": SECRET}
    ]
    assert len(store.rows("sales", user_id="alice")) == 31


def test_split_statements_respects_quotes_and_comments() -> None:
    assert split_statements("SELECT ';' AS x") == ["SELECT ';' AS x"]
    assert split_statements('SELECT "a;b" FROM t; ') == ['SELECT "a;b" FROM t']
    assert split_statements("SELECT 1 -- ; x\n; SELECT [;]") == ["SELECT 1 -- ; x", "SELECT [;]"]
    assert split_statements("SELECT 'it''s;' /* ; */") == ["SELECT 'it''s;' /* ; */"]
    assert split_statements(" ; -- nothing\n ;") == []


# Statements that would run away inside one function call, flood a table, or build a
# huge result: each is refused or cut off fast, within a memory bound.
WIDE = ", ".join(["zeroblob(999999)"] * 90)
EXHAUSTING = {
    "runaway printf": ("SELECT printf('%.*c', 1000000000, 'x')", "refused"),
    "runaway format": ("SELECT format('%.*c', 2000000000, 'y')", "refused"),
    "runaway width": ("SELECT printf('%*d', 1500000000, 7) FROM sales", "refused"),
    "runaway per row": ("SELECT length(printf('%.*c', 999999999, 'x')) FROM sales", "refused"),
    "flood insert": (
        "INSERT INTO sales (day, fruit) WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL "
        "SELECT i + 1 FROM c LIMIT 20000) SELECT i, 'flood' FROM c",
        "refused",
    ),
    "flood update": (
        "INSERT INTO stock (fruit, kg) WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL "
        "SELECT i + 1 FROM c) SELECT 'x', i FROM c",
        "refused",
    ),
    "wide columns": ("SELECT " + ", ".join(["zeroblob(999999)"] * 900), "refused"),
    "wide blob rows": (f"SELECT {WIDE} FROM sales", "cut"),
    "wide blob recursive": (
        f"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 5000) "
        f"SELECT {WIDE} FROM c",
        "cut",
    ),
    "big insert blob": (
        "INSERT INTO stock (fruit, kg) WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL "
        "SELECT i + 1 FROM c LIMIT 900) SELECT zeroblob(999999), i FROM c",
        "refused",
    ),
}


@pytest.mark.parametrize("case", sorted(EXHAUSTING))
def test_exhausting_statements_are_stopped_fast_and_small(
    shop: tuple[Path, SymbolicStore], case: str
) -> None:
    import resource
    import time

    _, store = shop
    sql, outcome = EXHAUSTING[case]
    rows_before = store.rows("sales", user_id="alice")
    events_before = store.audit.events()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    if outcome == "refused":
        with pytest.raises(SandboxError) as caught:
            store.execute(sql, user_id="alice")
        assert caught.value.reason.startswith(("refused", "aborted")), caught.value.reason
    else:
        result, _ = store.execute(sql, user_id="alice")
        assert result.truncated and len(result.rows) < 20
    elapsed = time.monotonic() - started
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert elapsed < 3.0, f"{case} ran {elapsed:.1f} s"
    assert grown_mb < 400, f"{case} grew the process by {grown_mb:.0f} MB"
    assert store.rows("sales", user_id="alice") == rows_before
    assert store.audit.events() == events_before


def test_a_chain_may_write_only_so_many_rows(shop: tuple[Path, SymbolicStore]) -> None:
    _, store = shop
    capped = SymbolicStore(
        store._table.path.parent if store._table.path else None,
        limits=SandboxLimits(max_write_rows=100, max_chain_write_rows=250),
    )
    insert = (
        "INSERT INTO stock (fruit, kg) WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL "
        "SELECT i + 1 FROM c LIMIT 100) SELECT 'bulk', i FROM c"
    )
    with capped.session("alice") as session:
        session.run(insert)
        session.run(insert)
        with pytest.raises(SandboxError, match="at most 250 rows in all"):
            session.run(insert)
    assert len([r for r in capped.rows("stock", user_id="alice") if r["fruit"] == "bulk"]) == 200
    capped.close()
