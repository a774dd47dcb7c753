"""One memory folder, many processes: isolation, visibility, a saved index never trusted."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

from tests.deploy_workers import live_items, open_memory, read_journal

ROOT = Path(__file__).resolve().parent.parent


def test_many_processes_on_one_folder_see_every_write_and_only_their_users(
    tmp_path: Path,
) -> None:
    folder, journal = tmp_path / "memory", tmp_path / "journal.jsonl"
    open_memory(folder).close()
    ctx = multiprocessing.get_context("spawn")
    from tests.deploy_workers import property_worker

    workers = [
        ctx.Process(target=property_worker, args=(str(folder), str(journal), n, 6.0))
        for n in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=90)
    codes = [worker.exitcode for worker in workers]
    assert codes == [0, 0, 0], "a worker saw a cross-user hit, a missed write or an exception"
    records = read_journal(journal)
    assert sum(r["op"] == "search" or r["op"] == "add" for r in records) > 30
    live = live_items(records)
    memory = open_memory(folder)
    store = memory.stores[0]
    assert store.index_size == store.count() == len(live)  # type: ignore[attr-defined]
    for item_id, want in list(live.items())[:50]:
        hits = memory.search(f"note {want['token']}", user_id=want["user"], k=3)
        assert item_id in [h.item.id for h in hits]
    memory.close()


def test_a_stale_process_never_returns_another_users_memory(tmp_path: Path) -> None:
    folder = tmp_path / "memory"
    a, b = open_memory(folder), open_memory(folder)
    alice = a.add("alice keeps a secret diary", user_id="alice")
    assert [h.item.id for h in b.search("secret diary", user_id="alice")] == [alice.id]
    a.forget(user_id="alice")
    bob = a.add("bob bank PIN is 4321", user_id="bob")
    assert b.search("bank PIN", user_id="alice") == []
    assert b.search("secret diary", user_id="alice") == []
    assert [h.item.id for h in b.search("bank PIN", user_id="bob")] == [bob.id]
    a.close()
    b.close()  # the stale one closes last: its save must not leak either
    c = open_memory(folder)
    assert c.search("bank PIN", user_id="alice") == []
    store = c.stores[0]
    assert store.index_size == store.count() == 1  # type: ignore[attr-defined]
    c.close()


def test_writes_of_other_processes_reach_dense_search_and_the_saved_index(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "memory"
    memories = [open_memory(folder) for _ in range(3)]
    for n, memory in enumerate(memories):
        for i in range(30):
            memory.add(f"writer{n} entry{i} zq", user_id="u")
    for memory in memories:  # each sees the others' writes, by dense search too
        hits = memory.search("writer2 entry7 zq", user_id="u", k=3)
        assert hits and hits[0].item.text == "writer2 entry7 zq"
        assert "dense" in hits[0].signal
    for memory in memories:
        memory.close()
    fresh = open_memory(folder)
    store = fresh.stores[0]
    assert store.index_size == store.count() == 90  # type: ignore[attr-defined]
    fresh.close()


def test_a_corrupt_saved_index_is_rebuilt_not_trusted(tmp_path: Path) -> None:
    folder = tmp_path / "memory"
    memory = open_memory(folder)
    for i in range(20):
        memory.add(f"entry {i} about boats", user_id="u")
    memory.close()
    damage = [
        lambda d: next(d.glob("*.npz")).write_bytes(next(d.glob("*.npz")).read_bytes()[:50]),
        lambda d: (d / "key.json").write_text("{not json"),
        lambda d: (d / "manifest.json").write_text('{"format": 1, "dim": 64, "users": [7]}'),
    ]
    for hurt in damage:
        hurt(folder / "dense")
        reopened = open_memory(folder)  # opens although the save is broken
        store = reopened.stores[0]
        assert store.index_size == store.count() == 20  # type: ignore[attr-defined]
        assert reopened.search("entry 3 about boats", user_id="u", k=1)[0].item.text == (
            "entry 3 about boats"
        )
        reopened.add("one more write, so close saves again", user_id="u")
        reopened.close()
        memory = open_memory(folder)
        memory.forget(user_id="u", ids=[i.id for i in memory.items(user_id="u")][-1:])
        memory.close()


def test_the_many_workers_example_runs(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "many_workers.py"), str(tmp_path / "m")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "60 memories; user2's best hit: 'worker 2 wrote note 5'" in out
    assert "user1's search finds only user1's memories: True" in out
    assert "erased 20 memories of user0" in out
    assert "files still holding user0's words: []" in out
