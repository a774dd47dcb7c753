"""VectorStore speed: add throughput and scoped search latency, against NumPy brute force.

Embedding is excluded: a lookup embedder hands back precomputed unit vectors, so the
numbers measure the store (SQLite + faiss + scoping), not the model.

    python benchmarks/bench_vector.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from agentmem import MemoryItem, Scope
from agentmem.stores import VectorStore

DIM = 384
T0 = datetime(2024, 1, 1, tzinfo=UTC)


class LookupEmbedder:
    """Returns the vector registered for each text (texts are 'v<i>')."""

    name = "lookup"
    dim = DIM

    def __init__(self, vectors: NDArray[np.float32]) -> None:
        self.vectors = vectors

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self.vectors[[int(t[1:]) for t in texts]]


def run(size: int, queries: int, users: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((size + queries, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    embedder = LookupEmbedder(vectors)
    items = [
        MemoryItem(
            text=f"v{i}",
            scope=Scope(user_id=f"u{i % users}"),
            created_at=T0 + timedelta(seconds=i),
            recorded_at=T0,
        )
        for i in range(size)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        store = VectorStore(tmp, embedder, synchronous="NORMAL")
        start = time.perf_counter()
        for batch in range(0, size, 1000):
            store.add(items[batch : batch + 1000])
        add_s = time.perf_counter() - start
        scope = Scope(user_id="u0")
        owned = np.arange(0, size, users)
        store_ms, numpy_ms, agree = [], [], 0
        for q in range(queries):
            text = f"v{size + q}"
            start = time.perf_counter()
            hits = store.search(text, scope=scope, k=10)
            store_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            scores = vectors[owned] @ vectors[size + q]
            top = owned[np.argsort(-scores)[:10]]
            numpy_ms.append((time.perf_counter() - start) * 1000)
            agree += {h.item.text for h in hits} == {f"v{i}" for i in top}
        store.close()
    return {
        "adds_per_s": size / add_s,
        "store_p50": statistics.median(store_ms),
        "store_p95": float(np.percentile(store_ms, 95)),
        "numpy_p50": statistics.median(numpy_ms),
        "exact": agree / queries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--users", type=int, default=4)
    args = parser.parse_args()
    print(
        "| items | users | adds/s | search p50 ms | search p95 ms | numpy p50 ms | "
        "p50 ratio store/numpy | same top-10 as numpy |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        r = run(size, args.queries, args.users)
        print(
            f"| {size:,} | {args.users} | {r['adds_per_s']:,.0f} | {r['store_p50']:.2f} | "
            f"{r['store_p95']:.2f} | {r['numpy_p50']:.2f} | "
            f"{r['store_p50'] / r['numpy_p50']:.2f} | {r['exact']:.0%} |"
        )


if __name__ == "__main__":
    main()
