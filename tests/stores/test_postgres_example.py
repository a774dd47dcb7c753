from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_example_runs_against_the_server(postgres_url: str, pg_schema: str) -> None:
    url = f"{postgres_url}{'&' if '?' in postgres_url else '?'}schema={pg_schema}"
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "postgres_memory.py"), url],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "ana says the meeting moved to Thursday" in lines[0]
    assert "ben says the meeting moved to Thursday" in lines[0]
    assert lines[1].startswith("Alice moved to Lisbon in May")
    assert lines[3] == "bob sees ['Bob prefers green tea']"
    assert lines[4] == "alice now {'lives_in': 'Porto'} in June {'lives_in': 'Lisbon'}"
