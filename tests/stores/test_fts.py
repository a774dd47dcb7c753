"""The shared FTS5 parts: the query builder, the BM25 query and the sidecar index."""

from __future__ import annotations

import sqlite3

from agentmem.stores._fts import STOP_WORDS, FtsIndex, bm25_search, match_expression


def test_match_expression_quotes_every_word_once() -> None:
    assert match_expression('Where is "Ana" AND Ana NEAR(x)?') == (
        '"where" OR "is" OR "ana" OR "and" OR "near" OR "x"'
    )
    assert match_expression("where is Ana?", STOP_WORDS) == '"ana"'
    assert match_expression("?!", STOP_WORDS) is None
    assert match_expression("what is it", STOP_WORDS) is None


def test_sidecar_index_and_bm25_search() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE items (vid INTEGER PRIMARY KEY, user_id TEXT)")
    conn.executemany("INSERT INTO items VALUES (?, ?)", [(1, "a"), (2, "a"), (3, "b")])
    conn.executescript(FtsIndex.SCHEMA)
    FtsIndex.insert(conn, [1, 2, 3], ["Ana moved to Porto", "tea in Porto", "Porto Porto"])
    match = match_expression("Porto moved")
    assert match is not None
    found = bm25_search(conn, match, "user_id = ?", ["a"], 10)
    assert [vid for vid, _ in found] == [1, 2]
    assert found[0][1] > found[1][1]
    FtsIndex.replace(conn, [1], ["nothing here"])
    FtsIndex.delete(conn, [2])
    assert bm25_search(conn, match, "user_id = ?", ["a"], 10) == []
    assert FtsIndex.bodies(conn, [1, 2, 3]) == {1: "nothing here", 3: "Porto Porto"}
