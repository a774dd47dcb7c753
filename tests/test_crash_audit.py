"""Killed at any point, a memory loses no acknowledged write and no audit event."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from agentmem import EventOp
from tests.deploy_workers import open_memory, read_journal

ROOT = Path(__file__).resolve().parent.parent


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
