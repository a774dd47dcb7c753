"""Real servers on 127.0.0.1 for the server tests: uvicorn in a thread or `agentmem serve`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

ALICE_KEY = "alice-key-0123456789abcdef"
BOB_KEY = "bob-key-0123456789abcdefgh"
ADMIN_KEY = "admin-key-0123456789abcdef"
KEYS = {ALICE_KEY: ["alice"], BOB_KEY: ["bob"], ADMIN_KEY: "*"}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Run ``app`` under uvicorn on a free loopback port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            msg = "uvicorn did not start"
            raise RuntimeError(msg)
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_cli(
    folder: Path, *extra: str, keys: dict[str, Any] | None = None, db: str | None = None
) -> Iterator[str]:
    """Run ``agentmem serve`` in a subprocess over ``folder`` (or ``db``); yield its base URL."""
    keys_file = folder.parent / f"{folder.name}-keys.json"
    keys_file.write_text(json.dumps(keys or KEYS))
    port = free_port()
    command = [
        sys.executable, "-m", "agentmem.cli", "serve", "--db", db or str(folder),
        "--port", str(port), "--keys", str(keys_file), "--embedder", "hash", *extra,
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                msg = f"agentmem serve exited with {process.returncode}: {process.stderr.read()}"  # type: ignore[union-attr]
                raise RuntimeError(msg)
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                msg = "agentmem serve did not answer within 60 s"
                raise RuntimeError(msg)
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
