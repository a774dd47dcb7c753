"""What the embedder's CPU policy costs and gives: bfloat16 batches, threads, beside a busy process.

Two parts, both on the LoCoMo development conversations with the real bundled embedder
(nothing cached):

- cost: CPU and wall milliseconds per text for one session's turns embedded in one call
  (the ingest path) and per single question (the search path), in float32 and bfloat16,
  on 1 and 2 torch threads, while a CPU-bound process the benchmark starts keeps a core
  busy;
- quality: evidence recall@1/5/10/25 (categories 1-4) of today's default memory with
  batches in float32 and in bfloat16 (queries are float32 in both), and the cosine
  between the two kinds of vectors for every turn.

    HF_HUB_OFFLINE=1 python benchmarks/bench_embed_precision.py
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _corpus import busy_core  # noqa: E402
from _locomo import KS, dev_conversations, score, summary  # noqa: E402

from agentmem import ManualClock, Memory  # noqa: E402


def _default(embedder: Any, clock: ManualClock) -> Memory:
    return Memory.in_memory(embedder=embedder, clock=clock)


def costs(convos: list[Any]) -> list[tuple[str, float, float, float, float]]:
    """(setting, batch CPU ms/text, batch wall ms/text, query CPU ms, query wall ms)."""
    from agentmem.embedders import SentenceTransformerEmbedder

    sessions = [
        [f"[{s.date:%d %B %Y}] {t.text}" for t in s.turns if t.text.strip()]
        for s in convos[0].sessions
    ]
    questions = [q.question for q in convos[0].questions[:60]]
    out = []
    for precision in ("float32", "bfloat16"):
        for threads in (1, 2):
            embedder = SentenceTransformerEmbedder(
                precision=precision,  # type: ignore[arg-type]
                batch_threads=threads,
                small_batch_threads=threads,
            )
            embedder.embed(sessions[0])
            embedder.embed(questions[:2])
            n = sum(map(len, sessions))
            cpu, wall = time.process_time(), time.perf_counter()
            for texts in sessions:
                embedder.embed(texts)
            batch = (
                1000 * (time.process_time() - cpu) / n,
                1000 * (time.perf_counter() - wall) / n,
            )
            cpu, wall = time.process_time(), time.perf_counter()
            for q in questions:
                embedder.embed([q])
            m = len(questions)
            query = (
                1000 * (time.process_time() - cpu) / m,
                1000 * (time.perf_counter() - wall) / m,
            )
            name = f"{precision} (queries float32), {threads} thread(s)"
            out.append((name, *batch, *query))
            print(out[-1], file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-busy", action="store_true")
    parser.add_argument("--skip-recall", action="store_true")
    args = parser.parse_args()
    from agentmem.embedders import SentenceTransformerEmbedder

    convos = dev_conversations()
    stop = mp.Event()
    busy = None if args.no_busy else mp.Process(target=busy_core, args=(stop, 900.0))
    if busy is not None:
        busy.start()
    try:
        cost_rows = costs(convos)
        load = os.getloadavg()[0]
    finally:
        stop.set()
        if busy is not None:
            busy.join(timeout=10)
    print(
        f"Embedding cost, LoCoMo {convos[0].id} ({'one busy process' if busy else 'no busy'}"
        f" beside it, load average {load:.1f} on {os.cpu_count()} cores)\n"
    )
    print(
        "| batches, threads | batch CPU ms/text | batch wall ms/text "
        "| query CPU ms | query wall ms |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, bc, bw, qc, qw in cost_rows:
        print(f"| {name} | {bc:.1f} | {bw:.1f} | {qc:.1f} | {qw:.1f} |")
    if args.skip_recall:
        return
    texts = [f"[{s.date:%d %B %Y}] {t.text}" for c in convos for s, t in c.turns()]
    exact = SentenceTransformerEmbedder(precision="float32").embed(texts)
    fast = SentenceTransformerEmbedder(precision="bfloat16").embed(texts)
    cos = (exact * fast).sum(axis=1)
    print(
        f"\ncosine float32 vs bfloat16 over {len(texts)} turns: min {cos.min():.5f}, "
        f"mean {cos.mean():.6f}\n"
    )
    print("| batches | " + " | ".join(f"R@{k}" for k in KS) + " |")
    print("|---|" + "---:|" * len(KS))
    for precision in ("float32", "bfloat16"):
        embedder = SentenceTransformerEmbedder(precision=precision)  # type: ignore[arg-type]
        rows = score(_default, embedder, convos)
        values = summary(rows)["overall"]
        print(f"| {precision} | " + " | ".join(f"{v:.3f}" for v in values) + " |")


if __name__ == "__main__":
    main()
