"""LSH benchmark: recall@10 against exact search, and how many similarities each costs.

Builds the ThoughtStore's LSH index (``agentmem.stores._lsh.LSHIndex``) over N vectors
and compares its top 10 with exact inner-product search for a set of held-out queries.

The vectors are synthetic and clustered (embedding 100k real texts with the bundled
model takes far longer than this benchmark may run on 2 cores): cluster centres are
random unit vectors in 384 dimensions, cluster sizes are log-normal (some topics are
talked about far more than others), and every point is its centre plus Gaussian noise,
normalised. Queries are fresh points drawn the same way, so their true neighbours are
mostly, not always, in their own cluster.

    python benchmarks/bench_lsh.py                       # the default grid, 100k vectors
    python benchmarks/bench_lsh.py --n 20000 --grid 12,8,32
    python benchmarks/bench_lsh.py --n 8000 --grid 8,16,100 10,24,400 \
        --real ../shared/data/conflictqa/conflictQA-strategyQA-chatgpt.json  # real sentences

With ``--real``, the vectors are real: sentences of ConflictQA's evidence passages
embedded with the bundled all-MiniLM-L6-v2, queried with its questions (only a few
thousand, to keep embedding under two minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np

from agentmem.stores._lsh import LSHIndex


def clustered(
    rng: np.random.Generator, n: int, dim: int, clusters: int, noise: float
) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = rng.lognormal(0.0, 1.0, clusters)
    labels = rng.choice(clusters, size=n, p=weights / weights.sum())
    points = centres[labels] + noise * rng.standard_normal((n, dim)).astype(np.float32) / np.sqrt(
        dim
    )
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points.astype(np.float32), labels


def real_vectors(
    path: Path, n: int, queries: int, cache: Path | None
) -> tuple[np.ndarray, np.ndarray]:
    if cache is not None and cache.exists():
        saved = np.load(cache)
        return saved["base"][:n], saved["queries"][:queries]
    from agentmem.embedders import SentenceTransformerEmbedder

    sentences: dict[str, None] = {}
    questions: list[str] = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        questions.append(record["question"])
        for field in ("parametric_memory", "counter_memory"):
            for sentence in re.split(r"(?<=[.!?])\s+", record.get(field) or ""):
                if len(sentence) > 20:
                    sentences.setdefault(sentence.strip(), None)
    texts = list(sentences)[:n]
    embedder = SentenceTransformerEmbedder()
    start = time.perf_counter()
    base = embedder.embed(texts)
    asked = embedder.embed(questions[:queries])
    print(
        f"embedded {len(texts)} sentences and {len(asked)} questions from {path.name} "
        f"in {time.perf_counter() - start:.0f} s"
    )
    if cache is not None:
        np.savez(cache, base=base, queries=asked)
    return np.asarray(base, dtype=np.float32), np.asarray(asked, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="vectors indexed")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--clusters", type=int, default=2000)
    parser.add_argument("--noise", type=float, default=1.0, help="noise norm relative to centre")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real", type=Path, help="ConflictQA JSON lines: use real embeddings")
    parser.add_argument("--cache", type=Path, help="with --real: keep the embeddings in this .npz")
    parser.add_argument(
        "--grid",
        nargs="+",
        default=["12,16,400", "14,32,1000", "14,32,2000", "14,32,3000"],
        help="bits,tables,probes settings to try",
    )
    args = parser.parse_args()
    if args.real is not None:
        base, queries = real_vectors(args.real, args.n, args.queries, args.cache)
        args.n, args.dim, args.queries = len(base), base.shape[1], len(queries)
    else:
        rng = np.random.default_rng(args.seed)
        data, _ = clustered(rng, args.n + args.queries, args.dim, args.clusters, args.noise)
        base, queries = data[: args.n], data[args.n :]
    start = time.perf_counter()
    truth = np.argsort(-(queries @ base.T), axis=1)[:, : args.k]
    exact_ms = (time.perf_counter() - start) * 1000 / args.queries
    start = time.perf_counter()
    for query in queries:
        scores = base @ query
        top = np.argpartition(-scores, args.k)[: args.k]
        _ = top[np.argsort(-scores[top])]
    single_ms = (time.perf_counter() - start) * 1000 / args.queries
    neighbour = float(np.mean(np.sort(queries @ base.T, axis=1)[:, -args.k :]))
    print(
        f"N={args.n} dim={args.dim} "
        + ("real embeddings " if args.real else f"clusters={args.clusters} noise={args.noise} ")
        + f"queries={args.queries} k={args.k}; mean cosine of the true top {args.k}: "
        f"{neighbour:.3f}; exact: {args.n} similarities/query, {exact_ms:.2f} ms/query "
        f"batched, {single_ms:.2f} ms/query one at a time"
    )
    print(
        "| bits | tables | probes | recall@10 | similarities/query | fewer than exact | "
        "buckets/query | ms/query | build s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for setting in args.grid:
        bits, tables, probes = (int(x) for x in setting.split(","))
        index = LSHIndex(args.dim, bits=bits, tables=tables, probes=probes, seed=args.seed)
        start = time.perf_counter()
        for lo in range(0, args.n, 10_000):
            index.add(list(range(lo, min(lo + 10_000, args.n))), base[lo : lo + 10_000])
        build = time.perf_counter() - start
        hits = scored = buckets = 0
        start = time.perf_counter()
        for row, query in enumerate(queries):
            result = index.search(query, args.k)
            hits += len(set(result.vids) & set(truth[row].tolist()))
            scored += result.scored
            buckets += result.buckets
        ms = (time.perf_counter() - start) * 1000 / args.queries
        per_query = scored / args.queries
        print(
            f"| {bits} | {tables} | {probes} | {hits / (args.k * args.queries):.3f} | "
            f"{per_query:,.0f} | {args.n / max(per_query, 1):.1f}x | "
            f"{buckets / args.queries:.0f} | {ms:.2f} | {build:.1f} |"
        )


if __name__ == "__main__":
    main()
