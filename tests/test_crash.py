"""Killing the process mid-burst loses no memory whose ``add`` returned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import fresh_memory

WRITER = """
import sys
from tests.helpers import fresh_memory
memory = fresh_memory(sys.argv[1])
i = 0
while True:
    item = memory.add(f"burst note {i} about the sea", user_id=f"u{i % 3}")
    print(item.id, flush=True)
    i += 1
"""


def test_sigkill_mid_burst_loses_nothing_that_returned(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], cwd=root, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    returned: list[str] = []
    deadline = time.monotonic() + 60
    while len(returned) < 150 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        returned.append(line.strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    returned += [line.strip() for line in proc.stdout.read().splitlines() if line.strip()]
    proc.stdout.close()
    assert len(returned) >= 150, "the writer did not get going"

    memory = fresh_memory(tmp_path)
    try:
        stored = {item.id for item in memory.items()}
        missing = [item_id for item_id in returned if item_id not in stored]
        assert missing == []
        # the derived faiss index was rebuilt and finds what SQLite holds
        assert memory.stores[0].index_size == len(stored)  # type: ignore[attr-defined]
        hits = memory.search("burst note about the sea", user_id="u1", k=3)
        assert hits and all(h.item.scope.user_id == "u1" for h in hits)
    finally:
        memory.close()
