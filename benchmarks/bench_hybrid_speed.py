"""HybridStore speed: add throughput, search p50/p95 and recall@10 against exact search.

Vectors are real all-MiniLM-L6-v2 embeddings of real text (every distinct bAbI
statement of tasks 1-20 and the turns of generated conversations, as many as embed in
the time given), padded to the target size with perturbed copies (each a real vector
plus Gaussian noise, renormalised); queries are perturbed copies too. Embedding is
excluded from every timing: a lookup embedder hands back the precomputed vectors.

Peers measured in the same run on the same vectors: NumPy brute force (exact; its top
10 is the truth for recall@10), LangChain's FAISS vector store (exact ``IndexFlatL2``;
``langchain-community`` is not a dependency: pass the folder of its unpacked wheel with
``--langchain-community``), and langchain-core's ``InMemoryVectorStore``.

    python benchmarks/bench_hybrid_speed.py --sizes 10000 100000 --queries 200
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from _corpus import DIM, embed_real, padded, peak_mb, recall, timed
from numpy.typing import NDArray

from agentmem import ManualClock, Memory, Scope
from agentmem.stores import ContextOptions, HybridStore, IndexSettings

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class LookupEmbedder:
    """Returns the vector registered for each text (texts are 'v<i>' or 'q<i>')."""

    name = "lookup"
    dim = DIM

    def __init__(self, vectors: NDArray[np.float32], queries: NDArray[np.float32]) -> None:
        self.vectors, self.queries = vectors, queries

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        rows = [
            self.queries[int(t[1:])] if t[0] == "q" else self.vectors[int(t[1:])] for t in texts
        ]
        return np.stack(rows)


def run(
    size: int, queries: int, base: NDArray[np.float32], args: argparse.Namespace
) -> list[dict[str, Any]]:
    vectors = padded(base, size, seed=size)
    qvecs = padded(base, queries, seed=size + 1)[::-1].copy()
    qvecs = padded(qvecs, queries, seed=size + 2)
    embedder = LookupEmbedder(vectors, qvecs)
    rows: list[dict[str, Any]] = []
    # NumPy brute force: the truth.
    start = time.perf_counter()
    matrix = vectors.copy()
    numpy_add = time.perf_counter() - start

    def brute(q: int) -> list[int]:
        scores = matrix @ qvecs[q]
        top = np.argpartition(-scores, 10)[:10]
        return [int(i) for i in top[np.argsort(-scores[top])]]

    times, truth = timed(brute, queries)
    rows.append(row("numpy brute force (exact)", size, numpy_add, times, 1.0))

    def load(memory: Memory) -> None:
        """Bulk-load the corpus through Memory, 20,000 at a time (an add event each)."""
        for first in range(0, size, 20_000):
            rows = [
                {"text": f"v{i}", "created_at": T0 + timedelta(seconds=i)}
                for i in range(first, min(size, first + 20_000))
            ]
            memory.add_many(rows, user_id="u", batch=20_000, skip_policies="benchmark corpus")

    configs = [
        (
            "HybridStore dense, HNSW",
            IndexSettings(
                exact_limit=min(size - 1, 20_000),
                hnsw_m=args.hnsw_m,
                ef_construction=args.ef_construction,
                ef_search=args.ef,
            ),
        )
    ]
    if size <= args.exact_store_max:
        configs.insert(0, ("HybridStore dense, exact", IndexSettings(exact_limit=10**9)))
    for label, settings in configs:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            store = HybridStore(
                tmp,
                embedder,
                signals=("dense",),
                synchronous="NORMAL",
                index=settings,
                recency_boost=0.0,
                time_mode="off",
                context=ContextOptions(date="none"),
            )
            memory = Memory([store], clock=ManualClock(T0), policies=[])
            start = time.perf_counter()
            load(memory)
            assert store.index_size == size  # the dense index caught up: graphs built
            add_s = time.perf_counter() - start
            print(f"{label}: loaded {size:,} in {add_s:.0f} s", file=sys.stderr, flush=True)
            scope = Scope(user_id="u")

            def search(q: int, store: HybridStore = store, scope: Scope = scope) -> list[int]:
                return [int(h.item.text[1:]) for h in store.search(f"q{q}", scope=scope, k=10)]

            times, got = timed(search, queries)
            extra: dict[str, Any] = {}
            if args.reopen:
                start = time.perf_counter()
                memory.close()  # closes the store: the dense index is saved
                extra["save s"] = time.perf_counter() - start
                start = time.perf_counter()
                store = HybridStore(
                    tmp,
                    embedder,
                    signals=("dense",),
                    synchronous="NORMAL",
                    index=settings,
                    context=ContextOptions(date="none"),
                )
                extra["reopen s"] = time.perf_counter() - start
            rows.append(row(label, size, add_s, times, recall(got, truth), **extra))
            memory.close()
            store.close()
    if args.langchain_community:
        sys.path.insert(0, args.langchain_community)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from langchain_community.vectorstores import FAISS
        from langchain_core.embeddings import Embeddings

        class Fixed(Embeddings):
            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return [vectors[int(t[1:])].tolist() for t in texts]

            def embed_query(self, text: str) -> list[float]:
                return qvecs[int(text[1:])].tolist()

        start = time.perf_counter()
        lc = FAISS.from_embeddings(
            [(f"v{i}", vectors[i]) for i in range(size)], Fixed(), ids=[str(i) for i in range(size)]
        )
        lc_add = time.perf_counter() - start

        def lc_search(q: int) -> list[int]:
            docs = lc.similarity_search_with_score_by_vector(qvecs[q].tolist(), k=10)
            return [int(d.page_content[1:]) for d, _ in docs]

        times, got = timed(lc_search, queries)
        rows.append(
            row("LangChain FAISS (exact, IndexFlatL2)", size, lc_add, times, recall(got, truth))
        )
    if size <= args.inmemory_max:
        from langchain_core.embeddings import Embeddings
        from langchain_core.vectorstores import InMemoryVectorStore

        class Fixed2(Embeddings):
            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return [vectors[int(t[1:])].tolist() for t in texts]

            def embed_query(self, text: str) -> list[float]:
                return qvecs[int(text[1:])].tolist()

        mem = InMemoryVectorStore(Fixed2())
        start = time.perf_counter()
        mem.add_texts([f"v{i}" for i in range(size)])
        mem_add = time.perf_counter() - start
        few = min(queries, 20)

        def mem_search(q: int) -> list[int]:
            docs = mem.similarity_search_by_vector(qvecs[q].tolist(), k=10)
            return [int(d.page_content[1:]) for d in docs]

        times, got = timed(mem_search, few)
        rows.append(
            row(
                f"langchain-core InMemoryVectorStore ({few} queries)",
                size,
                mem_add,
                times,
                recall(got, truth[:few]),
            )
        )
    return rows


def row(
    label: str, size: int, add_s: float, times: list[float], rec: float, **extra: float
) -> dict[str, Any]:
    out = {
        **extra,
        "system": label,
        "items": size,
        "adds/s": size / add_s if add_s > 0 else float("inf"),
        "p50": float(np.percentile(times, 50)),
        "p95": float(np.percentile(times, 95)),
        "recall@10": rec,
        "peak RSS MB": peak_mb(),
    }
    # Each row as soon as it is measured: a run cut short by a time limit keeps its rows.
    print(f"row: {out}", file=sys.stderr, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--real", type=int, default=20_000, help="real texts to embed at most")
    parser.add_argument("--embed-seconds", type=float, default=100)
    parser.add_argument("--ef", type=int, default=96, help="HNSW efSearch")
    parser.add_argument("--langchain-community", default=None, help="folder of the unpacked wheel")
    parser.add_argument("--inmemory-max", type=int, default=10_000)
    parser.add_argument("--exact-store-max", type=int, default=100_000, help="exact-store rows")
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=80)
    parser.add_argument("--reopen", action="store_true", help="time close and reopen")
    parser.add_argument("--tmp", default=None, help="folder for the stores' databases")
    args = parser.parse_args()
    base = embed_real(args.real, args.embed_seconds)[1]
    lines = [
        "| system | items | adds/s | search p50 ms | search p95 ms | recall@10 vs exact "
        "| p50 ratio to HybridStore HNSW | peak RSS MB (process) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    for size in args.sizes:
        rows = run(size, args.queries, base, args)
        ours = next(r for r in rows if r["system"] == "HybridStore dense, HNSW")
        for r in rows:
            lines.append(
                f"| {r['system']} | {r['items']:,} | {r['adds/s']:,.0f} | {r['p50']:.2f} | "
                f"{r['p95']:.2f} | {r['recall@10']:.3f} | {r['p50'] / ours['p50']:.1f} | "
                f"{r['peak RSS MB']:,.0f} |"
            )
        print("\n".join(lines[-len(rows) :]), flush=True)
        for r in rows:
            if "reopen s" in r:
                notes.append(
                    f"- {r['system']}, {r['items']:,} items: close (saves the index) "
                    f"{r['save s']:.1f} s, reopen {r['reopen s']:.1f} s"
                )
                print(notes[-1], flush=True)
    print("\n".join(lines + [""] + notes))


if __name__ == "__main__":
    main()
