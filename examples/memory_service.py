"""Memory as a service: start `agentmem serve` on 127.0.0.1 and talk to it over HTTP.

Run:  python examples/memory_service.py            (the bundled embedding model)
      python examples/memory_service.py --embedder hash   (no model: quick)

It writes a KEYS.json with one key for alice and one for bob, starts the server on a free
port in a temporary folder, stores and searches alice's memories, shows a history, checks
that bob's key cannot read alice's memories, and forgets one memory.
"""

from __future__ import annotations

import argparse
import json
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"agentmem serve exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    sys.exit("agentmem serve did not start within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", choices=["default", "hash"], default="default")
    args = parser.parse_args()
    alice_key, bob_key = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "KEYS.json"
        keys.write_text(json.dumps({alice_key: ["alice"], bob_key: ["bob"]}))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "agentmem.cli", "serve", "--db", f"{tmp}/memory",
                   "--keys", str(keys), "--port", str(port), "--embedder", args.embedder,
                   "--log-level", "warning"]  # fmt: skip
        process = subprocess.Popen(command)
        try:
            wait_until_up(url, process)
            alice = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {alice_key}"})
            bob = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {bob_key}"})
            home = alice.post(
                "/v1/memories", json={"text": "Alice lives in Porto", "user_id": "alice"}
            ).json()
            alice.post(
                "/v1/memories/batch",
                json={"memories": [
                    {"text": "Alice's sister is called Maria", "user_id": "alice"},
                    {"text": "Alice plays the cello", "user_id": "alice"},
                ]},
            )  # fmt: skip
            alice.patch(f"/v1/memories/{home['id']}", json={"text": "Alice lives in Lisbon"})
            hits = alice.get(
                "/v1/memories/search", params={"user_id": "alice", "q": "who is alice's sister"}
            ).json()
            print("search:", [(h["item"]["text"], round(h["score"], 3), h["signal"]) for h in hits])
            history = alice.get(f"/v1/memories/{home['id']}/history").json()
            print("history:", [(e["op"], e["reason"]) for e in history])
            refused = bob.get("/v1/memories", params={"user_id": "alice"})
            print("bob reads alice:", refused.status_code, refused.json()["detail"])
            forgot = alice.delete(f"/v1/memories/{home['id']}").json()
            left = alice.get("/v1/memories", params={"user_id": "alice"}).json()
            print("forgot:", forgot["forgotten"], "left:", [m["text"] for m in left])
            print(f"(the inspector page would be at {url}/ and the API docs at {url}/docs)")
            alice.close()
            bob.close()
        finally:
            process.terminate()
            process.wait(30)


if __name__ == "__main__":
    main()
