from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from agentmem import ManualClock, Memory
from agentmem.server import create_app
from agentmem.testing import HashEmbedder
from tests.helpers import T0
from tests.server.live import ADMIN_KEY, ALICE_KEY, BOB_KEY, KEYS, auth, serve_in_thread


@dataclass
class Live:
    url: str
    memory: Memory
    clock: ManualClock
    alice: httpx.Client
    bob: httpx.Client
    admin: httpx.Client
    anonymous: httpx.Client


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    """A real server on 127.0.0.1 over a fresh memory folder (hashing embedder)."""
    clock = ManualClock(T0)
    memory = Memory.default(tmp_path / "memory", embedder=HashEmbedder(64), clock=clock)
    app = create_app(memory, KEYS, close_memory=True)
    with serve_in_thread(app) as url:
        clients = [
            httpx.Client(base_url=url, headers=auth(key), timeout=30)
            for key in (ALICE_KEY, BOB_KEY, ADMIN_KEY)
        ]
        anonymous = httpx.Client(base_url=url, timeout=30)
        try:
            yield Live(url, memory, clock, *clients, anonymous)
        finally:
            for client in [*clients, anonymous]:
                client.close()
