"""A search's access update commits without an fsync, and is not lost when the process dies."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from agentmem import EventOp, LazyCommitStore, ManualClock, Memory
from agentmem.testing import HashEmbedder
from tests.deploy_workers import T0

ROOT = Path(__file__).resolve().parent.parent


def _memory(folder: Path) -> Memory:
    return Memory.default(folder, embedder=HashEmbedder(64), clock=ManualClock(T0), policies=[])


def test_access_update_commits_lazily_and_writes_stay_durable(tmp_path: Path) -> None:
    memory = _memory(tmp_path / "m")
    store = memory.stores[0]
    assert isinstance(store, LazyCommitStore)
    conn = store._table.conn  # type: ignore[attr-defined]
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        memory.add("my sister lives in Porto", user_id="u")
        add_statements = list(seen)
        seen.clear()
        hits = memory.search("sister Porto", user_id="u", k=3)
        search_statements = list(seen)
    finally:
        conn.set_trace_callback(None)
    assert hits and hits[0].item.access_count == 1
    assert not any("synchronous" in s for s in add_statements)  # memories: FULL, as opened
    relax = search_statements.index("PRAGMA synchronous=NORMAL")
    begin = search_statements.index("BEGIN IMMEDIATE")
    commit = search_statements.index("COMMIT")
    restore = search_statements.index("PRAGMA synchronous=FULL")
    assert relax < begin < commit < restore
    assert any(s.startswith("UPDATE items SET access_count") for s in search_statements)
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again
    memory.close()


def test_lazy_commit_inside_an_open_transaction_changes_nothing(tmp_path: Path) -> None:
    memory = _memory(tmp_path / "m")
    store = memory.stores[0]
    table = store._table  # type: ignore[attr-defined]
    with table.transaction(), table.lazy_commit():
        assert table.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    with table.lazy_commit():
        assert table.conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    assert table.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    memory.close()


_WORKER = """
import os, signal, sys
from pathlib import Path
from tests.test_access_commit import _memory
memory = _memory(Path(sys.argv[1]))
memory.add("my sister lives in Porto", user_id="u")
for _ in range(int(sys.argv[2])):
    assert memory.search("sister Porto", user_id="u", k=1)
print("searched", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_access_counts_and_events_survive_a_killed_process(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    proc = subprocess.run(
        [sys.executable, "-c", _WORKER, str(folder), "5"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "searched" in proc.stdout
    conn = sqlite3.connect(folder / "vector.sqlite")
    try:
        ((count,),) = conn.execute("SELECT access_count FROM items").fetchall()
        accesses = conn.execute(
            "SELECT COUNT(*) FROM events WHERE op = ?", (EventOp.ACCESS.value,)
        ).fetchone()[0]
    finally:
        conn.close()
    assert count == 5
    assert accesses == 5
    memory = _memory(folder)
    assert memory.items(user_id="u")[0].access_count == 5
    memory.close()
