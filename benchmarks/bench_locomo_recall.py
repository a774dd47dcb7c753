"""Evidence recall on real conversations: the LoCoMo development split, end to end.

Each conversation is fed to a fresh :class:`agentmem.Memory` one session at a time through
``Memory.add_many`` (turn text, speaker and turn id in metadata, the session date), then
every question of categories 1-4 is searched with ``Memory.search``; a hit on a derived
memory counts as its source turns. Recall@1/5/10/25 of the evidence turns, overall and per
category, for BM25, dense, the hybrid store as it was configured before this benchmark
(``hybrid (before)``), the default store alone (``default store``: ``HybridStore`` with
its defaults, no derived memories), today's default (``Memory.in_memory``: that store and
its derived memories), and the store with
``conversation_options()`` (with each retriever alone too).

The real bundled embedder (all-MiniLM-L6-v2) is used; each distinct text is embedded once
and cached on disk under ``benchmarks/.cache/`` (exactly the model's vectors), so a second
run takes seconds.

    HF_HUB_OFFLINE=1 python benchmarks/bench_locomo_recall.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _locomo import (  # noqa: E402
    CATEGORIES,
    KS,
    DiskCachedEmbedder,
    MemoryFactory,
    dev_conversations,
    score,
    summary,
)

from agentmem import ManualClock, Memory  # noqa: E402
from agentmem.stores import ContextOptions, conversation_options  # noqa: E402

#: The hybrid store's options before the LoCoMo work, spelled out so the row stays put.
BEFORE: dict[str, Any] = {
    "context": ContextOptions(
        speaker="none",
        date="both",
        previous_turn="none",
        relative_dates="none",
        turn_context=False,
    ),
    "signals": ("dense", "bm25"),
    "fusion": "rrf",
    "rrf_k": 60,
    "candidates": 50,
    "time_mode": "boost",
    "time_boost": 0.5,
    "name_boost": 0.3,
    "recency_boost": 0.1,
    "expand": 0.25,
}


def store_memory(**options: Any) -> MemoryFactory:
    """A memory over one HybridStore with ``options``."""

    def make(embedder: Any, clock: ManualClock) -> Memory:
        from agentmem.stores import HybridStore

        store = HybridStore(None, embedder, name="vector", clock=clock, **options)
        return Memory([store], embedder=embedder, clock=clock)

    make.options = options  # type: ignore[attr-defined]  # for the PostgreSQL twin
    return make


class OnPostgres:
    """The PostgreSQL twin of a system: the same options on PostgresStore, a fresh schema
    per conversation, on one server for the run (``--stores postgres``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.schemas = 0

    def _schema(self) -> str:
        self.schemas += 1
        return f"locomo_{self.schemas}"

    def twin(self, make: MemoryFactory) -> MemoryFactory | None:
        """``make`` on PostgreSQL, or None when it has no PostgreSQL form."""
        options = getattr(make, "options", None)
        if make is default_memory:

            def default(embedder: Any, clock: ManualClock) -> Memory:
                url = f"{self.url}{'&' if '?' in self.url else '?'}schema={self._schema()}"
                return Memory.from_url(url, embedder=embedder, clock=clock)

            return default
        if options is None:
            return None

        def store(embedder: Any, clock: ManualClock) -> Memory:
            from agentmem.stores.postgres import PostgresStore

            pg = PostgresStore(
                self.url, embedder, name="vector", schema=self._schema(), clock=clock, **options
            )
            return Memory([pg], embedder=embedder, clock=clock)

        return store


def default_memory(embedder: Any, clock: ManualClock) -> Memory:
    """What ``Memory.in_memory`` builds today."""
    return Memory.in_memory(embedder=embedder, clock=clock)


SYSTEMS: dict[str, MemoryFactory] = {
    "bm25": store_memory(**{**BEFORE, "signals": ("bm25",)}),
    "dense": store_memory(**{**BEFORE, "signals": ("dense",)}),
    "hybrid (before)": store_memory(**BEFORE),
    "default store": store_memory(),
    "default": default_memory,
    "conversation": store_memory(**conversation_options()),
    "conversation bm25": store_memory(**{**conversation_options(), "signals": ("bm25",)}),
    "conversation dense": store_memory(**{**conversation_options(), "signals": ("dense",)}),
}


def table(results: dict[str, dict[str, list[float]]], counts: dict[str, int]) -> str:
    head = "| system | group | questions | " + " | ".join(f"R@{k}" for k in KS) + " |"
    lines = [head, "|---|---|---:|" + "---:|" * len(KS)]
    for name, groups in results.items():
        for group in ("overall", *CATEGORIES):
            if group in groups:
                values = " | ".join(f"{v:.3f}" for v in groups[group])
                lines.append(f"| {name} | {group} | {counts[group]} | {values} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    parser.add_argument("--conversations", nargs="*", help="sample ids (default: all)")
    parser.add_argument(
        "--stores",
        nargs="+",
        default=["sqlite"],
        choices=["sqlite", "postgres"],
        help="postgres: each system again on PostgresStore (a temporary local server)",
    )
    args = parser.parse_args()
    from agentmem.embedders import SentenceTransformerEmbedder

    embedder = DiskCachedEmbedder(SentenceTransformerEmbedder())
    convos = dev_conversations()
    if args.conversations:
        convos = [c for c in convos if c.id in args.conversations]
    results: dict[str, dict[str, list[float]]] = {}
    counts: dict[str, int] = {}
    runs: list[tuple[str, MemoryFactory]] = []
    server = None
    if "postgres" in args.stores:
        from _corpus import start_postgres

        url, server = start_postgres()
        postgres = OnPostgres(url)
    for name in args.systems:
        if "sqlite" in args.stores:
            runs.append((name, SYSTEMS[name]))
        twin = postgres.twin(SYSTEMS[name]) if server is not None else None
        if twin is not None:
            runs.append((f"{name} [PostgreSQL]", twin))
    per_question: dict[str, list[list[float]]] = {}
    try:
        for name, make in runs:
            per_question[name] = run_one(name, make, embedder, convos, results, counts)
    finally:
        if server is not None:
            server.cleanup()
    print(f"LoCoMo dev ({', '.join(c.id for c in convos)}), categories 1-4\n")
    print(table(results, counts))
    twins = [(n, f"{n} [PostgreSQL]") for n in args.systems if f"{n} [PostgreSQL]" in per_question]
    if twins and "sqlite" in args.stores:
        print("\n" + paired(per_question, twins))


def paired(per_question: dict[str, list[list[float]]], twins: list[tuple[str, str]]) -> str:
    """PostgreSQL minus SQLite, question by question: the mean difference of recall@k with
    its bootstrap 95% interval, and the sign test over the questions where they differ."""
    from agentmem.eval.intervals import bootstrap_interval, sign_test

    lines = [
        "| system | k | PostgreSQL - SQLite | 95% interval | PostgreSQL better / worse "
        "| sign test p |",
        "|---|---:|---:|---|---|---:|",
    ]
    for sqlite_name, pg_name in twins:
        for j, k in enumerate(KS):
            diffs = [
                b[j] - a[j]
                for a, b in zip(per_question[sqlite_name], per_question[pg_name], strict=True)
            ]
            low, high = bootstrap_interval(diffs, seed=f"{sqlite_name}{k}")
            better = sum(1 for d in diffs if d > 0)
            worse = sum(1 for d in diffs if d < 0)
            p = sign_test(better, better + worse)
            mean = sum(diffs) / len(diffs)
            lines.append(
                f"| {sqlite_name} | {k} | {mean:+.3f} | [{low:+.3f}, {high:+.3f}] "
                f"| {better} / {worse} | {p:.2f} |"
            )
    return "\n".join(lines)


def run_one(
    name: str,
    make: MemoryFactory,
    embedder: Any,
    convos: Any,
    results: dict[str, dict[str, list[float]]],
    counts: dict[str, int],
) -> list[list[float]]:
    """Score one system, put its recall in ``results`` (question counts in ``counts``) and
    return each question's recall at every k."""
    start = time.perf_counter()
    rows = score(make, embedder, convos)
    results[name] = summary(rows)
    counts.clear()
    counts["overall"] = len(rows)
    for q, _ in rows:
        counts[q.category] = counts.get(q.category, 0) + 1
    took = time.perf_counter() - start
    print(f"{name}: R@10 {results[name]['overall'][2]:.3f} ({took:.0f} s)", file=sys.stderr)
    return [recalls for _, recalls in rows]


if __name__ == "__main__":
    main()
