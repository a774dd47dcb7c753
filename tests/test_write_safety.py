"""Concurrent writers lose no update, wait for locks, and fail only with a StoreError."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from agentmem import EventOp, Memory, StoreError
from agentmem.stores import HybridStore
from agentmem.stores._sqlite import ItemTable
from agentmem.testing import HashEmbedder


def hybrid_memory(path: Path | None = None) -> Memory:
    embedder = HashEmbedder(64)
    return Memory([HybridStore(path, embedder, name="vector")], embedder=embedder, policies=[])


def test_concurrent_field_updates_are_not_lost(tmp_path: Path) -> None:
    memory = hybrid_memory(tmp_path)
    item = memory.add("a memory many threads change", user_id="u", metadata={"n": 0})
    rounds = 40

    def importance() -> None:
        for i in range(1, rounds + 1):
            memory.update(item.id, importance=i / 100)

    def metadata() -> None:
        for i in range(1, rounds + 1):
            memory.update(item.id, metadata={"n": i})

    def searches() -> None:
        for _ in range(rounds):
            memory.search("memory threads", user_id="u", k=1)

    threads = [threading.Thread(target=f) for f in (importance, metadata, searches, searches)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = memory.get(item.id)
    assert final.importance == rounds / 100, "an importance update was reverted"
    assert final.metadata == {"n": rounds}, "a metadata update was reverted"
    assert final.access_count == 2 * rounds, "an access increment was lost"


def test_a_write_waits_for_another_process_holding_the_lock(tmp_path: Path) -> None:
    memory = hybrid_memory(tmp_path)
    memory.add("first", user_id="u")
    other = sqlite3.connect(
        tmp_path / "vector.sqlite", isolation_level=None, check_same_thread=False
    )
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    started = time.monotonic()
    memory.add("second", user_id="u")  # waits instead of 'database is locked'
    assert time.monotonic() - started >= 0.4
    release.join()
    other.execute("BEGIN IMMEDIATE")  # a search writes access counts: it waits too
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    started = time.monotonic()
    assert [h.item.text for h in memory.search("second", user_id="u", k=1)] == ["second"]
    assert time.monotonic() - started >= 0.4
    release.join()
    other.close()


def test_a_lock_held_past_the_timeout_is_a_store_error_saying_what_to_do(tmp_path: Path) -> None:
    table = ItemTable(tmp_path / "t.sqlite", busy_timeout=0.2)
    other = sqlite3.connect(tmp_path / "t.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreError, match="Retry later") as caught:
        with table.transaction():
            pass
    assert not isinstance(caught.value, sqlite3.Error)
    other.execute("ROLLBACK")
    with table.transaction():  # usable again once the lock is free
        pass
    other.close()
    table.close()


def test_item_and_audit_event_live_in_one_database_file(tmp_path: Path) -> None:
    memory = Memory.default(tmp_path, embedder=HashEmbedder(64), policies=[])
    item = memory.add("kept with its event", user_id="u")
    memory.close()
    assert not (tmp_path / "audit.sqlite").exists()
    conn = sqlite3.connect(tmp_path / "vector.sqlite")
    ops = [r[0] for r in conn.execute("SELECT op FROM events")]
    ids = [r[0] for r in conn.execute("SELECT id FROM items")]
    conn.close()
    assert ops == [EventOp.ADD.value] and ids == [item.id]


def test_row_ids_are_never_reused(tmp_path: Path) -> None:
    memory = hybrid_memory(tmp_path)
    first = memory.add("alice's only memory", user_id="alice")
    conn = sqlite3.connect(tmp_path / "vector.sqlite")
    (vid,) = conn.execute("SELECT vid FROM items WHERE id = ?", (first.id,)).fetchone()
    memory.forget(user_id="alice")
    second = memory.add("bob bank PIN is 4321", user_id="bob")
    (again,) = conn.execute("SELECT vid FROM items WHERE id = ?", (second.id,)).fetchone()
    conn.close()
    assert again > vid
    assert memory.search("PIN", user_id="alice") == []


def test_an_old_database_gets_never_reused_ids(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.sqlite")
    conn.executescript(
        "CREATE TABLE items (vid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, user_id TEXT NOT "
        "NULL, agent_id TEXT, session_id TEXT, kind TEXT NOT NULL, text TEXT NOT NULL, created_at "
        "INTEGER NOT NULL, recorded_at INTEGER NOT NULL, valid_from INTEGER NOT NULL, valid_to "
        "INTEGER, importance REAL NOT NULL, strength REAL NOT NULL, access_count INTEGER NOT NULL, "
        "last_accessed_at INTEGER, source_ids TEXT NOT NULL, metadata TEXT NOT NULL, embedding "
        "BLOB);"
        "INSERT INTO items VALUES (7, 'a', 'u', NULL, NULL, 'message', 't', 0, 0, 0, NULL, 0.5, "
        "1.0, 0, NULL, '[]', '{}', NULL);"
    )
    conn.close()
    table = ItemTable(tmp_path / "t.sqlite")
    schema = table.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'items'").fetchone()
    assert "AUTOINCREMENT" in schema[0].upper()
    assert table.get("a") is not None
    with table.transaction() as db:
        db.execute("DELETE FROM items WHERE vid = 7")
        db.execute(
            "INSERT INTO items (id, user_id, kind, text, created_at, recorded_at, valid_from, "
            "importance, strength, access_count, source_ids, metadata) VALUES ('b', 'u', "
            "'message', 't', 0, 0, 0, 0.5, 1.0, 0, '[]', '{}')"
        )
    (vid,) = table.conn.execute("SELECT vid FROM items WHERE id = 'b'").fetchone()
    table.close()
    assert vid > 7


def test_an_old_separate_audit_file_is_moved_into_the_store(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from agentmem import AuditLog, MemoryEvent

    old = AuditLog(tmp_path / "audit.sqlite")
    old.record(
        [
            MemoryEvent(
                op=EventOp.ADD,
                item_ids=["x1"],
                user_id="u",
                at=datetime(2024, 1, 1, tzinfo=UTC),
                reason="from before",
            )
        ]
    )
    old.close()
    memory = Memory.default(tmp_path, embedder=HashEmbedder(64), policies=[])
    assert [e.reason for e in memory.history("x1")] == ["from before"]
    memory.close()
    assert not (tmp_path / "audit.sqlite").exists()


def test_bulk_loads_are_audited_in_their_transaction(tmp_path: Path) -> None:
    store = HybridStore(tmp_path, HashEmbedder(64), name="vector")
    memory = Memory([store], embedder=HashEmbedder(64), policies=[])
    items = memory.add_many([f"bulk {i}" for i in range(30)], user_id="u0", batch=8)
    for item in items:
        assert [e.op for e in memory.history(item.id)] == [EventOp.ADD]
    undone = memory.undo(memory.history(items[0].id)[0].id or 0)
    assert [i.id for i in undone.forgotten] == [items[0].id]
    assert memory.count(user_id="u0") == 29
    memory.close()


def test_sql_writes_of_a_symbolic_store_are_audited_without_wiring() -> None:
    from agentmem.stores import SymbolicStore

    store = SymbolicStore()
    store.create_table("notes", {"body": str})
    _, events = store.execute("INSERT INTO notes (body) VALUES ('x')", user_id="u")
    assert events and [e.id for e in store.audit.events()] == [e.id for e in events]
    store.close()
