"""Evidence recall on real conversations: the LoCoMo development split, end to end.

Each conversation is fed to a fresh :class:`agentmem.Memory` one session at a time through
``Memory.add_many`` (turn text, speaker and turn id in metadata, the session date), then
every question of categories 1-4 is searched with ``Memory.search``; a hit on a derived
memory counts as its source turns. Recall@1/5/10/25 of the evidence turns, overall and per
category, for BM25, dense, the hybrid store as it was configured before this benchmark
(``hybrid (before)``), today's default (``Memory.in_memory``), and the store with
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

    return make


def default_memory(embedder: Any, clock: ManualClock) -> Memory:
    """What ``Memory.in_memory`` builds today."""
    return Memory.in_memory(embedder=embedder, clock=clock)


SYSTEMS: dict[str, MemoryFactory] = {
    "bm25": store_memory(**{**BEFORE, "signals": ("bm25",)}),
    "dense": store_memory(**{**BEFORE, "signals": ("dense",)}),
    "hybrid (before)": store_memory(**BEFORE),
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
    args = parser.parse_args()
    from agentmem.embedders import SentenceTransformerEmbedder

    embedder = DiskCachedEmbedder(SentenceTransformerEmbedder())
    convos = dev_conversations()
    if args.conversations:
        convos = [c for c in convos if c.id in args.conversations]
    results: dict[str, dict[str, list[float]]] = {}
    counts: dict[str, int] = {}
    for name in args.systems:
        start = time.perf_counter()
        rows = score(SYSTEMS[name], embedder, convos)
        results[name] = summary(rows)
        counts = {"overall": len(rows)}
        for q, _ in rows:
            counts[q.category] = counts.get(q.category, 0) + 1
        took = time.perf_counter() - start
        print(f"{name}: R@10 {results[name]['overall'][2]:.3f} ({took:.0f} s)", file=sys.stderr)
    print(f"LoCoMo dev ({', '.join(c.id for c in convos)}), categories 1-4\n")
    print(table(results, counts))


if __name__ == "__main__":
    main()
