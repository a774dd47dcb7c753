"""Bulk loading through Memory against the bare store, in the same run.

Three ways to load the same N memories (one user, a 384-dimension hash embedder, so
the embedding model is not what is timed) into a HybridStore folder, each ending with
the dense index caught up (its HNSW graph built):

- ``HybridStore.add`` in batches: the store alone (no audit events, no policies): the
  floor, and what a loader that bypasses ``Memory`` would cost;
- ``Memory.add_many(..., skip_policies=...)``: the audited path, one add event per
  memory written in each batch's transaction;
- ``Memory.add_many(...)`` with a policy set that runs on every batch (update, a
  capacity that evicts nothing, a 30-day TTL).

The three alternate within each round, so a busy machine slows all alike; the table
gives each one's median and its ratio to the bare store.

    python benchmarks/bench_bulk_load.py --sizes 20000 100000 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from agentmem import ManualClock, Memory, RetentionPolicy
from agentmem.policies import CapacityPolicy, TTLPolicy, UpdatePolicy
from agentmem.stores import ContextOptions, HybridStore, IndexSettings
from agentmem.testing import HashEmbedder

T0 = datetime(2024, 1, 1, tzinfo=UTC)
BATCH = 10_000


def open_store(folder: str, size: int) -> HybridStore:
    return HybridStore(
        folder,
        HashEmbedder(384),
        signals=("dense",),
        synchronous="NORMAL",
        index=IndexSettings(exact_limit=min(size - 1, 20_000)),
        context=ContextOptions(date="none"),
    )


def rows(first: int, last: int) -> list[dict[str, object]]:
    return [
        {"text": f"note {i}", "created_at": T0 + timedelta(seconds=i)} for i in range(first, last)
    ]


def bare(folder: str, size: int) -> None:
    store = open_store(folder, size)
    memory = Memory([store], clock=ManualClock(T0), policies=[])  # only to build the items
    for first in range(0, size, BATCH):
        last = min(size, first + BATCH)
        store.add(
            [
                memory.make_item(f"note {i}", user_id="u", created_at=T0 + timedelta(seconds=i))
                for i in range(first, last)
            ]
        )
    assert store.index_size == size
    store.close()


def through_memory(policies: list[RetentionPolicy], skip: str | None) -> Callable[[str, int], None]:
    def load(folder: str, size: int) -> None:
        store = open_store(folder, size)
        memory = Memory([store], clock=ManualClock(T0 + timedelta(days=1)), policies=policies)
        for first in range(0, size, BATCH):
            items = memory.add_many(
                rows(first, min(size, first + BATCH)), user_id="u", batch=BATCH, skip_policies=skip
            )
        assert store.index_size == size
        assert [e.op.value for e in memory.history(items[-1].id)] == ["add"]  # audited
        memory.close()

    return load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ways: dict[str, Callable[[str, int], None]] = {
        "HybridStore.add in batches (no audit, no policies)": bare,
        "Memory.add_many, skip_policies=reason": through_memory([], "benchmark corpus"),
        "Memory.add_many, policies run (update, capacity, ttl)": through_memory(
            [UpdatePolicy(), CapacityPolicy(10**9), TTLPolicy(timedelta(days=30))], None
        ),
    }
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print("| way | memories | median s | memories/s | ratio to the bare store |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        times: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(args.rounds):
            for name, load in ways.items():
                with tempfile.TemporaryDirectory() as folder:
                    start = time.perf_counter()
                    load(folder, size)
                    times[name].append(time.perf_counter() - start)
        floor = statistics.median(next(iter(times.values())))
        for name, seconds in times.items():
            median = statistics.median(seconds)
            rate, ratio = size / median, median / floor
            print(f"| {name} | {size:,} | {median:.1f} | {rate:,.0f} | {ratio:.2f} |")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
