"""How long the full retention-policy stack takes to decide over 100k memories.

Run: .venv/bin/python benchmarks/bench_policies.py [--items 100000] [--store]

Measures ``Policies([TTL, Decay, Importance, Capacity]).on_tick`` over 100k memories
of 100 users already read into columns (the policies' own decision time), next to a naive
per-item Python loop that decides the same thing (and is checked to agree). With
``--store`` it also runs the real path on a SQLite + faiss VectorStore holding the same
memories: ``Memory.preview()`` (a columnar read of the few fields policies need, then the
decisions) and ``Memory.apply()`` (batched deletes, audit log with undo snapshots), next
to the naive path (``scan()`` building every item, a per-item loop, one delete per memory).
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from agentmem import Action, Decision, Kind, ManualClock, Memory, MemoryItem, Scope
from agentmem._columns import item_columns
from agentmem.policies import CapacityPolicy, DecayPolicy, ImportancePolicy, Policies, TTLPolicy

NOW = datetime(2024, 6, 1, tzinfo=UTC)
TTL = timedelta(days=60)
THRESHOLD = 0.05
DECAY, TOP_K, CAPACITY = 0.98, 900, 800


def make_items(n: int, users: int = 100, seed: int = 0) -> list[MemoryItem]:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        created = NOW - timedelta(days=rng.uniform(0, 90))
        accessed = created + timedelta(days=rng.uniform(0, 10)) if rng.random() < 0.5 else None
        items.append(
            MemoryItem.model_construct(
                id=f"m{i:07d}",
                text=f"memory {i} of user {i % users}",
                kind=Kind.MESSAGE if rng.random() < 0.6 else Kind.FACT,
                scope=Scope.model_construct(
                    user_id=f"u{i % users}", agent_id=None, session_id=None
                ),
                created_at=created,
                recorded_at=created,
                valid_from=created,
                valid_to=None,
                importance=rng.random(),
                strength=rng.choice([1.0, 2.0, 5.0, 10.0, 30.0]),
                access_count=0,
                last_accessed_at=accessed,
                source_ids=[],
                metadata={},
            )
        )
    return items


class ListContext:
    """A policy context over a list of memories (no store), already read into columns."""

    def __init__(self, items: list[MemoryItem]) -> None:
        self.items = items
        self.now = NOW
        self.embedder = None
        self._columns = item_columns(items)

    def columns(self, *, scope=None, filters=None, include_closed=False, extra=()):  # type: ignore[no-untyped-def]
        if scope is None and filters is None and not extra:
            return self._columns
        return item_columns(self.scan(scope=scope, filters=filters), extra)

    def scan(self, *, scope=None, filters=None, include_closed=False) -> Iterator[MemoryItem]:  # type: ignore[no-untyped-def]
        for item in self.items:
            if scope is None or item.scope.user_id == scope.user_id:
                yield item

    def get(self, item_id: str) -> MemoryItem | None:
        return None


def stack() -> Policies:
    return Policies(
        [
            TTLPolicy(TTL, kinds=["message"]),
            DecayPolicy(threshold=THRESHOLD),
            ImportancePolicy(decay=DECAY, top_k=TOP_K),
            CapacityPolicy(CAPACITY, evict="lru"),
        ]
    )


def naive(items: list[MemoryItem]) -> set[str]:
    """The same decisions, one memory at a time in plain Python."""
    gone: set[str] = set()
    for item in items:
        if item.kind is Kind.MESSAGE and (NOW - item.created_at) >= TTL:
            gone.add(item.id)
    for item in items:
        if item.id in gone:
            continue
        t = (NOW - (item.last_accessed_at or item.created_at)) / timedelta(days=1)
        if math.exp(-t / item.strength) < THRESHOLD:
            gone.add(item.id)
    by_user: dict[str, list[tuple[float, MemoryItem]]] = defaultdict(list)
    for item in items:
        if item.id not in gone:
            t = (NOW - (item.last_accessed_at or item.created_at)) / timedelta(days=1)
            by_user[item.scope.user_id].append((item.importance * DECAY**t, item))
    for members in by_user.values():
        members.sort(key=lambda pair: -pair[0])
        gone.update(item.id for _, item in members[TOP_K:])
        kept = [item for _, item in members[:TOP_K]]
        if len(kept) > CAPACITY:
            kept.sort(key=lambda i: (i.last_accessed_at or i.created_at, i.created_at))
            gone.update(item.id for item in kept[: len(kept) - CAPACITY])
    return gone


def timed(fn, repeat: int = 5, gc_off: bool = True):  # type: ignore[no-untyped-def]
    """Median wall time of ``fn``; like ``timeit``, the garbage collector is paused."""
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        if gc_off:
            gc.disable()
        try:
            start = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--store", action="store_true", help="also time Memory.preview()")
    args = parser.parse_args()
    items = make_items(args.items)
    ctx = ListContext(items)
    seconds, decisions = timed(lambda: stack().on_tick(ctx))
    forgotten = {i for d in decisions for i in d.item_ids}
    naive_seconds, naive_forgotten = timed(lambda: naive(items))
    assert forgotten == naive_forgotten, "the policies and the naive loop disagree"
    gc_seconds, _ = timed(lambda: stack().on_tick(ctx), gc_off=False)
    naive_gc_seconds, _ = timed(lambda: naive(items), gc_off=False)
    print(
        f"items: {len(items)} (100 users); forgotten: {len(forgotten)}; decisions: {len(decisions)}"
    )
    print("median of 5 runs     | GC paused (as timeit) | GC on")
    print(f"policy stack on_tick | {seconds * 1000:12.0f} ms | {gc_seconds * 1000:6.0f} ms")
    naive_ms, naive_gc_ms = naive_seconds * 1000, naive_gc_seconds * 1000
    print(f"naive per-item loop  | {naive_ms:12.0f} ms | {naive_gc_ms:6.0f} ms")
    if args.store:
        store_run(items, forgotten)


def store_run(items: list[MemoryItem], forgotten: set[str]) -> None:
    """Preview and apply through a SQLite + faiss VectorStore, next to the naive path."""
    import faiss

    from agentmem.stores import VectorStore
    from agentmem.testing import HashEmbedder

    faiss.omp_set_num_threads(1)
    embedder = HashEmbedder(16)

    def fresh() -> Memory:
        memory = Memory(
            [VectorStore(None, embedder)],
            policies=[stack()],
            embedder=embedder,
            clock=ManualClock(NOW),
        )
        memory.stores[0].add(items)
        return memory

    start = time.perf_counter()
    memory = fresh()
    print(
        f"(loading {len(items)} memories into the VectorStore: {time.perf_counter() - start:.1f} s)"
    )
    store = memory.stores[0]
    seconds, preview = timed(memory.preview, repeat=3)
    assert {i for d in preview for i in d.item_ids} == forgotten
    read_seconds, _ = timed(lambda: store.columns(include_closed=False), repeat=3)
    scan_seconds, _ = timed(lambda: sum(1 for _ in store.scan(include_closed=False)), repeat=3)
    naive_seconds, naive_gone = timed(
        lambda: naive(list(store.scan(include_closed=False))), repeat=3
    )
    assert naive_gone == forgotten
    rows = [
        ("Memory.preview(): columnar read + decide", seconds),
        ("  of which the columnar read (VectorStore.columns)", read_seconds),
        ("naive: VectorStore.scan() of every item + per-item loop", naive_seconds),
        ("  of which VectorStore.scan()", scan_seconds),
    ]
    print("median of 3 runs, GC on                                   |    ms")
    for label, value in rows:
        print(f"{label:<58}| {value * 1000:6.0f}")
    start = time.perf_counter()
    changes = memory.apply(preview)
    applied = time.perf_counter() - start
    assert len(changes.forgotten) == len(forgotten) and store.count() == len(items) - len(forgotten)
    label = f"Memory.apply(): {len(preview)} decisions, {len(forgotten)} forgets, batched"
    print(f"{label:<58}| {applied * 1000:6.0f}")
    memory.close()
    # The path before batching: one lookup, one delete and one audit write per memory.
    memory = fresh()
    sample = [i for d in preview for i in d.item_ids][:1000]
    start = time.perf_counter()
    for item_id in sample:
        memory.apply([Decision(action=Action.FORGET, item_ids=[item_id], reason="", policy="")])
    per_item = (time.perf_counter() - start) / len(sample)
    label = f"naive apply: one forget at a time, first {len(sample)} memories"
    print(f"{label:<58}| {per_item * len(sample) * 1000:6.0f} ({per_item * 1e3:.2f} ms each)")
    memory.close()


if __name__ == "__main__":
    main()
