"""Speed on a real conversation, next to a busy process: search latency, ingest rate, tokens.

One LoCoMo development conversation (``conv-26``, 419 turns) goes into an on-disk
``Memory`` with the real bundled embedder (no cache: every text and query is embedded),
while a second, CPU-bound process the benchmark starts itself keeps a core busy (it stops
itself after ``--busy-limit`` seconds at most, and is stopped at the end). Measured:

- ingest: turns per second, one ``Memory.add`` per turn (the way before ``add_many``)
  against ``Memory.add_many`` per session;
- search: ``Memory.search`` end to end (query embedding, both retrievers, fusion, the
  access update and its audit event), p50 and p95 over the conversation's questions;
- prompt tokens: the recalled turns (k=10) for a question against the whole conversation.

Rows: ``before`` (the ranking options before the LoCoMo work, torch's own thread count for
every call, one ``add`` per turn), ``default`` (today's defaults, ``add_many``) and the
default with every embedding call, batches too, on one torch thread, in the same run.

    HF_HUB_OFFLINE=1 python benchmarks/bench_locomo_latency.py
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _locomo import dev_conversations, records  # noqa: E402
from bench_locomo_recall import BEFORE  # noqa: E402

from agentmem import ManualClock, Memory  # noqa: E402
from agentmem._tokens import estimate_tokens  # noqa: E402
from agentmem.eval.metrics import percentile  # noqa: E402


def _busy(stop: Any, limit: float) -> None:
    """Burn one core until ``stop`` is set or ``limit`` seconds have passed."""
    end = time.monotonic() + limit
    x = 0
    while not stop.is_set() and time.monotonic() < end:
        for i in range(200_000):
            x += i * i


def _memory(folder: Path, embedder: Any, clock: ManualClock, options: dict[str, Any]) -> Memory:
    from agentmem.policies import UpdatePolicy
    from agentmem.stores import HybridStore

    if not options:  # today's default stack, as Memory.default builds it
        return Memory.default(folder, embedder=embedder, clock=clock)
    store = HybridStore(folder, embedder, name="vector", clock=clock, **options)
    return Memory(
        [store],
        policies=[UpdatePolicy()],
        embedder=embedder,
        clock=clock,
        audit=store.audit_sink(),
    )


def run(
    name: str,
    convo: Any,
    embedder: Any,
    options: dict[str, Any],
    one_by_one: bool,
    k: int,
    tmp: Path,
) -> dict[str, float]:
    clock = ManualClock(convo.sessions[0].date)
    memory = _memory(tmp / name, embedder, clock, options)
    turns = 0
    start = time.perf_counter()
    for (_, rows), session in zip(records(convo), convo.sessions, strict=True):
        clock.set(session.date)
        if one_by_one:
            for row in rows:
                memory.add(user_id="u", **row)
        else:
            memory.add_many(rows, user_id="u")
        turns += len(rows)
    ingest = turns / (time.perf_counter() - start)
    clock.set(convo.end + timedelta(days=1))
    full = "\n".join(
        f"[{s.date:%d %B %Y}] {t.speaker}: {t.text}" for s, t in convo.turns() if t.text.strip()
    )
    full_tokens = estimate_tokens(full)
    memory.search("warm up", user_id="u", k=k)
    latencies, ratios = [], []
    for q in convo.questions:
        began = time.perf_counter()
        hits = memory.search(q.question, user_id="u", k=k)
        latencies.append(time.perf_counter() - began)
        lines = "\n".join(
            f"[{h.item.created_at:%d %B %Y}] {h.item.metadata.get('speaker')}: {h.item.text}"
            for h in hits
        )
        ratios.append(estimate_tokens(f"{lines}\n{q.question}") / full_tokens)
    memory.close()
    return {
        "turns": turns,
        "ingest": ingest,
        "p50": 1000 * percentile(latencies, 50),
        "p95": 1000 * percentile(latencies, 95),
        "tokens": 100 * statistics.mean(ratios),
        "questions": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversation", default="conv-26")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--no-busy", action="store_true", help="no second busy process")
    parser.add_argument("--busy-limit", type=float, default=900.0, help="seconds, at most")
    parser.add_argument(
        "--skip-before", action="store_true", help="leave out the slow one-add-per-turn row"
    )
    args = parser.parse_args()
    from agentmem.embedders import SentenceTransformerEmbedder

    convo = next(c for c in dev_conversations() if c.id == args.conversation)
    new = SentenceTransformerEmbedder()
    old = SentenceTransformerEmbedder(small_batch_threads=None)
    single = SentenceTransformerEmbedder(small_batch=1_000_000)  # every call on one thread
    new.embed(["load the model once"])
    configs: list[tuple[str, Any, dict[str, Any], bool]] = [
        ("before (add per turn, torch threads, old ranking)", old, BEFORE, True),
        ("default (add_many, 1 thread for small calls)", new, {}, False),
        ("default, every embedding call on 1 thread", single, {}, False),
    ]
    if args.skip_before:
        configs = configs[1:]
    stop = mp.Event()
    busy = None if args.no_busy else mp.Process(target=_busy, args=(stop, args.busy_limit))
    if busy is not None:
        busy.start()
    results: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, embedder, options, one_by_one in configs:
                results[name] = run(name, convo, embedder, options, one_by_one, args.k, Path(tmp))
                print(f"{name}: {results[name]}", file=sys.stderr)
    finally:
        stop.set()
        if busy is not None:
            busy.join(timeout=10)
            if busy.is_alive():
                busy.terminate()
    load = os.getloadavg()[0]
    print(
        f"LoCoMo {convo.id}: {results[configs[0][0]]['turns']:.0f} turns, "
        f"{results[configs[0][0]]['questions']:.0f} questions, k={args.k}; "
        f"{'no busy process' if busy is None else 'one busy process beside it'}; "
        f"load average {load:.1f} on {os.cpu_count()} cores\n"
    )
    print("| path | ingest turns/s | search p50 ms | search p95 ms | prompt tokens vs full |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        print(
            f"| {name} | {r['ingest']:.0f} | {r['p50']:.0f} | {r['p95']:.0f} | {r['tokens']:.1f}% |"
        )
    if not args.skip_before:
        base, now = results[configs[0][0]], results[configs[1][0]]
        print(
            f"\nratios default/before: ingest x{now['ingest'] / base['ingest']:.1f}, "
            f"search p95 x{now['p95'] / base['p95']:.2f}"
        )


if __name__ == "__main__":
    main()
