"""PostgresStore against the SQLite default in the same run: adds/s, search p50/p95, recall@10.

Memories are real texts (bAbI statements of tasks 1-20 from ``../shared/data/babi`` and
the turns of generated conversations) with their real all-MiniLM-L6-v2 embeddings, as
many as embed in ``--embed-seconds``; past that the set is padded with perturbed copies
(a real text and vector, the vector plus Gaussian noise, renormalised; the text gets a
numeric tag so that no two are equal). Queries are perturbed copies of real texts.
Embedding is timed separately (once) and excluded from the store timings: a lookup
embedder hands back the precomputed vectors, so both stores wait on the same nothing.

Rows, for each size:

- ``dense``: dense search only; recall@10 against exact search (NumPy brute force over
  the same vectors) measures the approximate index (pgvector HNSW; HybridStore's own
  HNSW past 20,000 memories per user, exact below).
- ``hybrid``: the default search (dense + BM25 / full-text, fused and boosted): what a
  user waits for. No exact reference exists for a fused ranking, so no recall.
- adds/s: ``add`` in batches of ``--batch`` memories (each batch one transaction), the
  way an application writes; the PostgreSQL server runs on this same machine.

    python benchmarks/bench_postgres.py --sizes 10000 100000 --queries 200
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from _corpus import DIM, embed_real, padded, recall, start_postgres, timed
from numpy.typing import NDArray

from agentmem import MemoryItem, Scope
from agentmem.stores import ContextOptions, HybridStore

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class LookupEmbedder:
    """Hands back the vector registered for a text's tag (``#i``: memory, ``?i``: query).

    An untagged text (the names a second-hop search looks for) gets a hash-seeded random
    vector: the hop's database work is timed, not a model.
    """

    name = "lookup-minilm"
    dim = DIM

    def __init__(self, vectors: NDArray[np.float32], queries: NDArray[np.float32]) -> None:
        self.vectors, self.queries = vectors, queries

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        rows = []
        for text in texts:
            tag = text.rsplit(" ", 1)[-1]
            if tag[:1] in ("#", "?") and tag[1:].isdigit():
                table = self.queries if tag[0] == "?" else self.vectors
                rows.append(table[int(tag[1:])])
            else:  # an untagged text (a second-hop query of names): a cheap stand-in vector
                rows.append(self.stand_in(text))
        return np.stack(rows)

    @staticmethod
    def stand_in(text: str) -> NDArray[np.float32]:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
        return vector / np.linalg.norm(vector)


def run(
    size: int, args: argparse.Namespace, texts: list[str], base: NDArray[np.float32]
) -> list[dict[str, Any]]:
    # Rows past len(base) are noisy copies of the real vectors padded() draws; the same
    # draw, re-derived, gives each copy the text of the vector it copies.
    vectors = padded(base, size, seed=size)
    draw = np.random.default_rng(size).integers(0, len(base), size)
    names = [texts[i] if i < len(base) else texts[int(draw[i])] for i in range(size)]
    rng = np.random.default_rng(size + 1)
    qdraw = rng.integers(0, len(base), args.queries)
    qvecs = base[qdraw] + (0.35 / np.sqrt(DIM)) * rng.standard_normal((args.queries, DIM))
    qvecs = (qvecs / np.linalg.norm(qvecs, axis=1, keepdims=True)).astype(np.float32)
    qtexts = [texts[int(i)] for i in qdraw]
    embedder = LookupEmbedder(vectors, qvecs)
    scope = Scope(user_id="u")
    items = [
        MemoryItem(
            text=f"{names[i]} #{i}",
            scope=scope,
            created_at=T0 + timedelta(seconds=i),
            recorded_at=T0,
        )
        for i in range(size)
    ]
    matrix = vectors

    def brute(q: int) -> list[int]:
        scores = matrix @ qvecs[q]
        top = np.argpartition(-scores, 10)[:10]
        return [int(i) for i in top[np.argsort(-scores[top])]]

    _, truth = timed(brute, args.queries)
    rows: list[dict[str, Any]] = []
    context = ContextOptions(date="none")  # the embedded text is the text itself
    for system in args.systems:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            stores: dict[str, Any] = {}
            for signals in (("dense",), ("dense", "bm25")):
                label = "+".join(signals)
                # Dense rows rank by similarity alone (no boosts, no second hop), so that
                # recall@10 against exact search measures the index and nothing else.
                plain = (
                    {"recency_boost": 0.0, "time_mode": "off", "expand": 0.0}
                    if label == "dense"
                    else {}
                )
                if system == "postgres":
                    from agentmem.stores.postgres import PostgresStore

                    stores[label] = PostgresStore(
                        args.url,
                        embedder,
                        schema=f"bench_{size}",
                        signals=signals,  # type: ignore[arg-type]
                        context=context,
                        **plain,
                    )
                else:
                    stores[label] = HybridStore(
                        tmp,
                        embedder,
                        signals=signals,  # type: ignore[arg-type]
                        context=context,
                        synchronous="NORMAL",
                        **plain,
                    )
            writer = stores["dense"]
            start = time.perf_counter()
            for i in range(0, size, args.batch):
                writer.add(items[i : i + args.batch])
            add_s = time.perf_counter() - start
            name = "PostgresStore" if system == "postgres" else "HybridStore (SQLite default)"
            print(f"{name}: added {size:,} in {add_s:.0f} s", file=sys.stderr, flush=True)
            if system == "sqlite":
                # the second SQLite store (hybrid) is another handle on the same folder: reopen
                stores["dense+bm25"].close()
                stores["dense+bm25"] = HybridStore(
                    tmp, embedder, signals=("dense", "bm25"), context=context, synchronous="NORMAL"
                )
            for label, store in stores.items():

                def search(q: int, store: Any = store) -> list[int]:
                    hits = store.search(f"{qtexts[q]} ?{q}", scope=scope, k=10)
                    return [int(h.item.text.rsplit("#", 1)[1]) for h in hits]

                search(0)  # warm: connections, caches
                times, got = timed(search, args.queries)
                rows.append(
                    {
                        "system": name,
                        "search": "dense" if label == "dense" else "hybrid (dense+BM25)",
                        "items": size,
                        "adds/s": size / add_s,
                        "p50": float(np.percentile(times, 50)),
                        "p95": float(np.percentile(times, 95)),
                        "recall@10": recall(got, truth) if label == "dense" else None,
                    }
                )
                print(f"row: {rows[-1]}", file=sys.stderr, flush=True)
            if system == "postgres":
                rows += lexical_rows(writer, size, [qtexts[q] for q in range(args.queries)])
                with writer.transaction() as conn:
                    conn.execute(f"DROP SCHEMA IF EXISTS bench_{size} CASCADE")
            for store in stores.values():
                store.close()
    return rows


# The lexical ranking as it was computed before the rank-first search: every posting of
# the query's words, every one checked against the filters, BM25 in numeric. The reference
# for the lexical rows' recall@10.
EXACT_BM25 = (
    "WITH query AS (SELECT DISTINCT lexeme FROM unnest(to_tsvector('english', %s))), "
    "posting AS MATERIALIZED (SELECT t.lexeme, t.vid, t.tf, t.tokens FROM terms AS t "
    "JOIN query USING (lexeme) WHERE t.user_id = %s), "
    "df AS (SELECT lexeme, count(*) AS n FROM posting GROUP BY lexeme), "
    "coll AS (SELECT count(*) AS n, coalesce(avg(tokens), 1) AS mean FROM items "
    "WHERE user_id = %s), "
    "passing AS MATERIALIZED (SELECT vid FROM items "
    "WHERE vid IN (SELECT vid FROM posting) AND {where}) "
    "SELECT h.vid, sum(greatest(ln((c.n - df.n + 0.5) / (df.n + 0.5)), 1e-6) * h.tf * 2.2 "
    "/ (h.tf + 1.2 * (0.25 + 0.75 * h.tokens / greatest(c.mean, 1)))) AS score "
    "FROM posting AS h JOIN passing USING (vid) JOIN df USING (lexeme) CROSS JOIN coll AS c "
    "GROUP BY h.vid ORDER BY score DESC, h.vid LIMIT %s"
)


def lexical_rows(store: Any, size: int, texts: list[str]) -> list[dict[str, Any]]:
    """Lexical search alone (depth 50, as a hybrid search asks): today's, and the exact
    reference it must match (recall@10: the same memories, a tie with the 10th counting)."""
    from agentmem.stores._fts import STOP_WORDS, words
    from agentmem.stores._pg_items import lexical_search, where_clause

    where, params = where_clause(Scope(user_id="u"), None, open_only=True)
    with store.transaction() as conn:  # planner statistics, as autovacuum would soon take
        conn.execute("ANALYZE items")
        conn.execute("ANALYZE terms")
    with store.transaction("u") as conn:

        def ours(q: int) -> list[tuple[int, float]]:
            return lexical_search(conn, words(texts[q], STOP_WORDS), "u", where, params, 50)

        def exact(q: int) -> list[tuple[int, float]]:
            found = conn.execute(
                EXACT_BM25.format(where=where),
                (" ".join(words(texts[q], STOP_WORDS)), "u", "u", *params, 50),
            ).fetchall()
            return [(int(v), float(x)) for v, x in found]

        ours(0), exact(0)  # warm
        new_t, new = timed(ours, len(texts))  # type: ignore[arg-type]
        old_t, old = timed(exact, len(texts))  # type: ignore[arg-type]
    hits = []
    for got, truth in zip(new, old, strict=True):
        top = {v for v, _ in truth[:10]}
        tenth = truth[min(9, len(truth) - 1)][1] if truth else 0.0
        hits.append(
            sum(1 for v, x in got[:10] if v in top or x >= tenth - 1e-6)
            / max(1, min(10, len(truth)))
        )
    out = []
    for label, times, rec in (
        ("BM25 alone (rank first, filter the best)", new_t, float(np.mean(hits))),
        ("BM25 alone (before: filter every match)", old_t, 1.0),
    ):
        out.append(
            {
                "system": "PostgresStore",
                "search": label,
                "items": size,
                "adds/s": float("nan"),
                "p50": float(np.percentile(times, 50)),
                "p95": float(np.percentile(times, 95)),
                "recall@10": rec,
            }
        )
        print(f"row: {out[-1]}", file=sys.stderr, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1000, help="memories per add() call")
    parser.add_argument("--real", type=int, default=20_000, help="real texts to embed at most")
    parser.add_argument("--embed-seconds", type=float, default=60)
    parser.add_argument("--systems", nargs="+", default=["postgres", "sqlite"])
    parser.add_argument("--postgres-url", help="an existing server (default: a temporary one)")
    parser.add_argument("--tmp", default=None, help="folder for the SQLite stores")
    args = parser.parse_args()
    texts, base, rate = embed_real(args.real, args.embed_seconds)
    server = None
    args.url = args.postgres_url
    if args.url is None and "postgres" in args.systems:
        args.url, server = start_postgres()
    lines = [
        f"Real texts embedded: {len(base):,} (all-MiniLM-L6-v2, {rate:.0f} texts/s, excluded "
        "below); the rest are perturbed copies.",
        "",
        "| system | search | items | adds/s | search p50 ms | search p95 ms | recall@10 vs exact "
        "| p50 ratio to SQLite |",
        "|---|---|---|---|---|---|---|---|",
    ]
    try:
        for size in args.sizes:
            rows = run(size, args, texts, base)
            for r in rows:
                peer = next(
                    (
                        p
                        for p in rows
                        if p["system"].startswith("HybridStore") and p["search"] == r["search"]
                    ),
                    None,
                )
                ratio = "-" if peer is None else f"{r['p50'] / peer['p50']:.1f}"
                rec = "-" if r["recall@10"] is None else f"{r['recall@10']:.3f}"
                adds = "-" if r["adds/s"] != r["adds/s"] else f"{r['adds/s']:,.0f}"
                lines.append(
                    f"| {r['system']} | {r['search']} | {r['items']:,} | {adds} | "
                    f"{r['p50']:.2f} | {r['p95']:.2f} | {rec} | {ratio} |"
                )
            print("\n".join(lines[-len(rows) :]), flush=True)
    finally:
        if server is not None:
            server.cleanup()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
