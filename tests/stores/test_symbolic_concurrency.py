"""Concurrent writers through the sandbox never lose an update."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agentmem.stores import SymbolicStore


@pytest.fixture
def store(tmp_path: Path) -> SymbolicStore:
    store = SymbolicStore(tmp_path, synchronous="NORMAL")
    store.create_table("stock", {"fruit": str, "kg": int})
    store.execute("INSERT INTO stock VALUES ('apple', 0)", user_id="shop")
    return store


def kg(store: SymbolicStore) -> int:
    return int(store.rows("stock", user_id="shop")[0]["kg"])


def test_two_open_sessions_both_count(store: SymbolicStore) -> None:
    with store.session("shop") as first, store.session("shop") as second:
        first.run("UPDATE stock SET kg = kg + 1 WHERE fruit = 'apple'")
        second.run("UPDATE stock SET kg = kg + 10 WHERE fruit = 'apple'")
        result, _ = first.run("SELECT kg FROM stock")
    assert kg(store) == 11
    assert result.rows == [[11]]  # a later step sees the other session's write
    store.close()


def test_threads_writing_the_same_row_lose_no_update(store: SymbolicStore) -> None:
    threads, rounds = 4, 15
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with store.session("shop") as session:
                start.wait()  # every session copied the rows before anyone writes
                for _ in range(rounds):
                    session.run("UPDATE stock SET kg = kg + 1 WHERE fruit = 'apple'")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert kg(store) == threads * rounds
    items = list(store.scan(include_closed=False))
    assert [i.text for i in items] == [f"stock: fruit=apple, kg={threads * rounds}"]
    store.close()


def test_a_second_process_handle_sees_fresh_rows(tmp_path: Path, store: SymbolicStore) -> None:
    other = SymbolicStore(tmp_path, synchronous="NORMAL")
    with store.session("shop") as session:
        other.execute("UPDATE stock SET kg = kg + 5", user_id="shop")
        session.run("UPDATE stock SET kg = kg + 1")
    assert kg(store) == kg(other) == 6
    other.close()
    store.close()
