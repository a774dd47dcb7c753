"""Load on `agentmem serve`: concurrent clients, several worker processes, one memory folder.

    python benchmarks/bench_server_load.py --clients 8 --requests 500 --workers 2 --peer-workers 1
    python benchmarks/bench_server_load.py ... --postgres      (a PostgreSQL memory, from pgserver)

Each client owns one tenant (its own API key and user) and sends a mix of requests over
loopback: add (LoCoMo turns), search (LoCoMo questions), get, list, history, update, and
cross-tenant probes (another tenant's user id or memory id, which must get 403). The
embedding model runs in the server (end to end), unless --embedder hash.

It reports p50/p95 latency per endpoint, 5xx responses, cross-tenant hits (a probe that
was not refused, or any returned memory owned by someone else) and lost writes (an add
that returned 201 whose memory is missing, or has the wrong text or owner, once the
server has stopped). The same load against --peer-workers (default 1) runs in the same
invocation, as the peer.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from _corpus import shared_data

ROOT = Path(__file__).resolve().parent.parent


SEARCH = "/v1/memories/search"
MIX = [("add", 30), ("search", 25), ("get", 12), ("list", 8), ("history", 8), ("update", 7),
       ("probe", 10)]  # fmt: skip


def corpus() -> tuple[list[str], list[str]]:
    """Turn texts and questions from the LoCoMo development split."""
    path = shared_data() / "locomo_dev" / "locomo_dev.json"
    conversations = json.loads(path.read_text())
    turns: list[str] = []
    questions: list[str] = []
    for conversation in conversations:
        talk = conversation["conversation"]
        for key, value in talk.items():
            if key.startswith("session_") and isinstance(value, list):
                turns += [
                    f"{turn['speaker']}: {turn['text']}" for turn in value if turn.get("text")
                ]
        questions += [qa["question"] for qa in conversation["qa"]]
    return turns, questions


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(db: str, keys: Path, workers: int, embedder: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "agentmem.cli", "serve", "--db", db, "--keys",
               str(keys), "--port", str(port), "--workers", str(workers), "--embedder", embedder,
               "--log-level", "warning"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    process = subprocess.Popen(command, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"agentmem serve exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        process.kill()
        sys.exit("agentmem serve did not start within 180 s")
    return process, url


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()  # uvicorn's supervisor stops its workers
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.status: dict[int, int] = defaultdict(int)
        self.server_errors: list[str] = []
        self.cross_tenant_hits = 0
        self.probes = 0
        self.written: dict[str, tuple[str, str]] = {}  # id -> (user, text) as last acknowledged
        self.fresh_checks = 0
        self.stale_reads = 0  # a just-acknowledged add that a search on a new connection missed


def client_run(
    number: int, url: str, key: str, users: list[str], ids: dict[str, list[str]],
    turns: list[str], questions: list[str], requests: int, tally: Tally, seed: int,
) -> None:  # fmt: skip
    rng = random.Random(seed * 1000 + number)
    user = users[number]
    others = [u for u in users if u != user]
    mine: list[str] = []
    ops = [op for op, weight in MIX for _ in range(weight)]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        for n in range(requests):
            op = "add" if not mine else rng.choice(ops)
            if op == "probe":
                target = rng.choice(others)
                victim = ids.get(target) or []
                kind = rng.choice(
                    ["search", "get", "list", "delete", "add"]
                    if victim
                    else ["search", "list", "add"]
                )
                item = rng.choice(victim) if victim else ""
                theirs = {"user_id": target}
                request = {
                    "search": ("GET", SEARCH, {"params": {**theirs, "q": rng.choice(questions)}}),
                    "list": ("GET", "/v1/memories", {"params": theirs}),
                    "add": ("POST", "/v1/memories", {"json": {**theirs, "text": "intruder"}}),
                    "get": ("GET", f"/v1/memories/{item}", {}),
                    "delete": ("DELETE", f"/v1/memories/{item}", {}),
                }[kind]  # fmt: skip
            elif op == "add":
                text = f"{rng.choice(turns)} [{user} #{n}]"
                request = ("POST", "/v1/memories", {"json": {"text": text, "user_id": user}})
            elif op == "search":
                q = rng.choice(questions)
                request = (
                    "GET",
                    "/v1/memories/search",
                    {"params": {"user_id": user, "q": q, "k": 5}},
                )
            elif op == "get":
                request = ("GET", f"/v1/memories/{rng.choice(mine)}", {})
            elif op == "list":
                request = ("GET", "/v1/memories", {"params": {"user_id": user}})
            elif op == "history":
                request = ("GET", f"/v1/memories/{rng.choice(mine)}/history", {})
            else:
                target_id = rng.choice(mine)
                text = f"{rng.choice(turns)} [{user} #{n} edited]"
                request = ("PATCH", f"/v1/memories/{target_id}", {"json": {"text": text}})
            method, path, kwargs = request
            start = time.perf_counter()
            response = http.request(method, path, **kwargs)
            elapsed = time.perf_counter() - start
            name = "probe" if op == "probe" else op
            body: Any = None
            if response.headers.get("content-type", "").startswith("application/json"):
                body = response.json()
            with tally.lock:
                tally.latency[name].append(elapsed)
                tally.status[response.status_code] += 1
                if response.status_code >= 500:
                    tally.server_errors.append(
                        f"{method} {path} -> {response.status_code} {response.text[:200]}"
                    )
                if op == "probe":
                    tally.probes += 1
                    if response.status_code != 403:
                        tally.cross_tenant_hits += 1
                    continue
                if response.status_code >= 400:
                    continue
                for owner in owners(body):
                    if owner != user:
                        tally.cross_tenant_hits += 1
                if op == "add":
                    mine.append(body["id"])
                    ids.setdefault(user, []).append(body["id"])
                    tally.written[body["id"]] = (user, body["text"])
                elif op == "update":
                    tally.written[body["id"]] = (user, body["text"])
            if op == "add" and response.status_code == 201 and rng.random() < FRESH_SHARE:
                check_fresh(url, key, user, body, tally)


FRESH_SHARE = 0.1  # share of adds followed by a search for them on a new connection


def check_fresh(url: str, key: str, user: str, item: dict[str, Any], tally: Tally) -> None:
    """Search for a just-added memory over a new connection (often another worker)."""
    headers = {"Authorization": f"Bearer {key}"}
    params = {"user_id": user, "q": item["text"], "k": 20, "record_access": "false"}
    start = time.perf_counter()
    response = httpx.get(f"{url}{SEARCH}", params=params, headers=headers, timeout=60)
    elapsed = time.perf_counter() - start
    found = response.status_code == 200 and item["id"] in {h["item"]["id"] for h in response.json()}
    with tally.lock:
        tally.latency["fresh search"].append(elapsed)
        tally.status[response.status_code] += 1
        tally.fresh_checks += 1
        if not found:
            tally.stale_reads += 1


def owners(body: Any) -> list[str]:
    """The owner of every memory in a response body."""
    if isinstance(body, dict) and "scope" in body:
        return [body["scope"]["user_id"]]
    if isinstance(body, dict) and "item" in body:
        return owners(body["item"])
    if isinstance(body, dict) and "user_id" in body and "op" in body:
        return [body["user_id"]]
    if isinstance(body, list):
        return [owner for element in body for owner in owners(element)]
    return []


def run(
    workers: int, args: argparse.Namespace, turns: list[str], questions: list[str]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="agentmem-load-") as tmp:
        users = [f"tenant{n}" for n in range(args.clients)]
        keys = {secrets.token_urlsafe(24): [user] for user in users}
        keys_file = Path(tmp) / "KEYS.json"
        keys_file.write_text(json.dumps(keys))
        db = str(Path(tmp) / "memory")
        if args.postgres_url:
            schema = f"load_{workers}_{secrets.token_hex(4)}"
            db = f"{args.postgres_url}{'&' if '?' in args.postgres_url else '?'}schema={schema}"
        process, url = start(db, keys_file, workers, args.embedder)
        tally = Tally()
        ids: dict[str, list[str]] = {}
        threads = [
            threading.Thread(
                target=client_run,
                args=(n, url, key, users, ids, turns, questions, args.requests, tally, args.seed),
            )
            for n, key in enumerate(keys)
        ]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
        stop(process)
        lost = check_writes(db, tally, args.embedder)
    total = sum(len(values) for values in tally.latency.values())
    return {"workers": workers, "tally": tally, "wall": wall, "total": total, "lost": lost}


def check_writes(db: str, tally: Tally, embedder: str) -> int:
    """How many acknowledged writes are missing or wrong once the server has stopped."""
    from agentmem.cli._common import open_memory

    with open_memory(db, embedder=embedder) as memory:
        stored = {item.id: item for item in memory.items(include_closed=True)}
    lost = 0
    for item_id, (user, text) in tally.written.items():
        item = stored.get(item_id)
        if item is None or item.scope.user_id != user or item.text != text:
            lost += 1
    return lost


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=500, help="per client")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--peer-workers", type=int, default=1, help="0: no peer run")
    parser.add_argument("--embedder", choices=["default", "hash"], default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--postgres", action="store_true", help="serve a PostgreSQL memory (pgserver) instead"
    )
    args = parser.parse_args()
    args.postgres_url = None
    if args.postgres:
        import pgserver

        pg_root = Path(tempfile.mkdtemp(prefix="agentmem-load-pg-"))
        server = pgserver.get_server(pg_root / "pgdata", cleanup_mode="delete")
        args.postgres_url = str(server.get_uri())
    turns, questions = corpus()
    runs = [run(args.workers, args, turns, questions)]
    if args.peer_workers:
        runs.append(run(args.peer_workers, args, turns, questions))
    print(f"\n{args.clients} clients x {args.requests} requests, embedder {args.embedder}, "
          f"{len(turns)} LoCoMo turns / {len(questions)} questions\n")  # fmt: skip
    print("| workers | endpoint | requests | p50 ms | p95 ms |")
    print("|---|---|---|---|---|")
    for result in runs:
        for name in [*(op for op, _ in MIX), "fresh search"]:
            values = result["tally"].latency.get(name, [])
            if values:
                p50, p95 = statistics.median(values) * 1000, pct(values, 0.95)
                print(f"| {result['workers']} | {name} | {len(values)} | {p50:.1f} | {p95:.1f} |")
    print(
        "\n| workers | requests | wall s | requests/s | ratio to peer | 5xx | 429 "
        "| cross-tenant probes refused | cross-tenant hits | acknowledged writes | lost writes "
        "| fresh adds missed by a top-20 search on a new connection |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    peer_rate = runs[-1]["total"] / runs[-1]["wall"]
    for result in runs:
        tally = result["tally"]
        rate = result["total"] / result["wall"]
        fivexx = sum(count for status, count in tally.status.items() if status >= 500)
        refused = tally.probes - tally.cross_tenant_hits if tally.probes else 0
        cells = [
            result["workers"], result["total"], f"{result['wall']:.1f}", f"{rate:.1f}",
            f"{rate / peer_rate:.2f}", fivexx, tally.status.get(429, 0),
            f"{refused}/{tally.probes}", tally.cross_tenant_hits, len(tally.written),
            result["lost"], f"{tally.stale_reads}/{tally.fresh_checks}",
        ]  # fmt: skip
        print("| " + " | ".join(str(cell) for cell in cells) + " |")
        for line in tally.server_errors[:5]:
            print(f"    5xx: {line}")
    print(f"memory: {'PostgreSQL (pgserver)' if args.postgres else 'a folder (SQLite + faiss)'}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("\nstatus codes:", {r["workers"]: dict(sorted(r["tally"].status.items())) for r in runs})


if __name__ == "__main__":
    main()
