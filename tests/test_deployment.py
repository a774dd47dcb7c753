"""One memory folder, many processes: isolation, visibility, durability under kill -9."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from agentmem import EventOp
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
        ctx.Process(target=property_worker, args=(str(folder), str(journal), n, 8.0))
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


def _audited(folder: Path) -> tuple[set[str], set[str], set[str]]:
    """Ids in the store, ids with an add event, ids with a forget event."""
    conn = sqlite3.connect(folder / "vector.sqlite")
    try:
        present = {str(r[0]) for r in conn.execute("SELECT id FROM items")}
        added, forgotten = set(), set()
        for op, item_id in conn.execute(
            "SELECT e.op, i.item_id FROM event_items AS i JOIN events AS e ON e.id = i.event_id"
        ):
            (added if op == EventOp.ADD.value else forgotten if op == "forget" else set()).add(
                str(item_id)
            )
    finally:
        conn.close()
    return present, added, forgotten


def test_kill_9_loses_no_acknowledged_write_and_no_audit_event(tmp_path: Path) -> None:
    folder, journal = tmp_path / "memory", tmp_path / "journal.jsonl"
    rng = random.Random(7)
    code = (
        "import sys; from tests.deploy_workers import crash_worker; "
        "crash_worker(sys.argv[1], sys.argv[2], int(sys.argv[3]))"
    )
    started = time.monotonic()
    kills = 0
    while time.monotonic() - started < 25 and kills < 12:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(folder), str(journal), str(kills)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        time.sleep(rng.uniform(0.8, 2.5))
        if proc.poll() is not None:
            raise AssertionError(f"the crash worker died on its own (exit {proc.returncode})")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        records = read_journal(journal)
        memory = open_memory(folder)  # reopens after every kill: nothing to repair by hand
        present, added, forgotten = _audited(folder)
        assert present <= added, "a stored memory has no add event"
        acked = {i for r in records if r["op"] == "add" for i in r["ids"]}
        erased = {i for r in records if r["op"] == "forget" for i in r["ids"]}
        lost = acked - present - forgotten
        assert not lost, f"{len(lost)} acknowledged memories vanished without a forget event"
        assert not (erased & present), "a memory forgotten on request is still stored"
        for user in {r["user"] for r in records if r["op"] == "forget"}:
            for hit in memory.search("crash note bulk", user_id=user, k=20):
                assert hit.item.id not in erased
        store = memory.stores[0]
        assert store.index_size == store.count()  # type: ignore[attr-defined]
        memory.close()
    assert kills >= 5
