"""Derived memories and multi-hop search: evidence recall with and without them.

Everything goes through :class:`agentmem.Memory` (``add_many``, then ``search``), so a
hit on a derived memory counts as its source turns, as a user sees it. Three data sets:

- the LoCoMo development conversations (``../shared/data/locomo_dev``, categories 1-4);
- generated long conversations (``agentmem.eval.generate``, seeds 1-5, 30 sessions);
- bAbI tasks 1-3 (``../shared/data/babi``; each question searches the statements told
  before it, a ``created_before`` filter).

Rows: a main store configuration (``default``: ``Memory.in_memory``'s store as it is
now; ``conversation``: ``HybridStore(**conversation_options())``), alone and with
derived memories (``+ derived``: :class:`~agentmem.PatternDeriver` into a side store
searched by words, fused with ``DerivedMemories.open``'s defaults, weight 0.5 and
``fusion_k`` 10) and with multi-hop search
(:class:`~agentmem.MultiHop` without a model: one sub-query per person a question names,
and a second hop seeded by the best hit; ``sub-queries only``: without the hop).

``--fit`` also picks the derived fusion (weight x fusion_k) on two LoCoMo conversations
and scores it on the third, each in turn (held out).

    HF_HUB_OFFLINE=1 python benchmarks/bench_derived.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _locomo import (  # noqa: E402
    CATEGORIES,
    KS,
    DiskCachedEmbedder,
    MemoryFactory,
    dev_conversations,
    score,
    shared_data,
    summary,
)

from agentmem import DerivedMemories, ManualClock, Memory, MultiHop  # noqa: E402
from agentmem.eval import generate  # noqa: E402
from agentmem.eval.dataset import Conversation  # noqa: E402
from agentmem.eval.loaders import load_locomo  # noqa: E402
from agentmem.eval.metrics import recall_at_k  # noqa: E402
from agentmem.stores import HybridStore, conversation_options  # noqa: E402

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def system(
    main: dict[str, Any] | None,
    derived: dict[str, Any] | None = None,
    memory_options: dict[str, Any] | None = None,
) -> MemoryFactory:
    """A memory over one HybridStore (``main`` options; ``None``: the default memory)."""

    def make(embedder: Any, clock: ManualClock) -> Memory:
        side = None
        if derived is not None:
            options = dict(derived)
            side_embedder = embedder if options.pop("dense", False) else None
            side = DerivedMemories.open(None, side_embedder, clock=clock, **options)
        if main is None:
            base = Memory.in_memory(embedder=embedder, clock=clock)
            stores, policies = base.stores, base.policies
        else:
            stores = [HybridStore(None, embedder, name="vector", clock=clock, **main)]
            policies = []
        return Memory(
            stores,
            embedder=embedder,
            clock=clock,
            policies=policies,
            derived=side,
            **(memory_options or {}),
        )

    return make


CONV = conversation_options()
#: The derived fusion beside the conversation store (``--fit``: the defaults held out best).
CONV_DERIVED: dict[str, Any] = {}
SYSTEMS: dict[str, MemoryFactory] = {
    "default": system(None),
    "default + derived": system(None, {}),
    "conversation": system(CONV),
    "conversation + derived": system(CONV, CONV_DERIVED),
    "conversation + derived (dense too)": system(CONV, {**CONV_DERIVED, "dense": True}),
    "default + derived + multi-hop": system(None, {}, {"multihop": MultiHop()}),
    "default + derived + sub-queries only": system(None, {}, {"multihop": MultiHop(hop=False)}),
    "conversation + derived + multi-hop": system(CONV, CONV_DERIVED, {"multihop": MultiHop()}),
    "conversation + derived + sub-queries only": system(
        CONV, CONV_DERIVED, {"multihop": MultiHop(hop=False)}
    ),
}


def generated_conversations(seeds: Sequence[int], sessions: int) -> list[Conversation]:
    """Generated conversations with their questions of categories 1-4 (as LoCoMo is scored;
    ``bench_hybrid_quality.py`` shows the adversarial ones apart)."""
    with tempfile.TemporaryDirectory() as tmp:
        records = [generate.conversation(s, sessions=sessions) for s in seeds]
        data = load_locomo(generate.write_locomo(Path(tmp) / "gen.json", records))
    return [
        c.model_copy(
            update={
                "questions": [q for q in c.questions if q.evidence and q.category != "adversarial"]
            }
        )
        for c in data.conversations
    ]


def babi(make: MemoryFactory, embedder: Any, task: int, stories: int) -> list[list[float]]:
    path = next((shared_data() / "babi" / "en").glob(f"qa{task}_*_test.txt"))
    out: list[list[float]] = []
    story: list[tuple[str, str, list[str] | None]] = []
    told = 0

    def flush() -> None:
        if not story:
            return
        clock = ManualClock(T0)
        memory = make(embedder, clock)
        rows, asks = [], []
        for position, (number, text, support) in enumerate(story):
            when = T0 + timedelta(minutes=position)
            if support is None:
                rows.append({"text": text, "created_at": when, "metadata": {"line": number}})
            else:
                asks.append((text, support, when))
        memory.add_many(rows, user_id="u", session_id="story")
        clock.set(T0 + timedelta(days=1))
        for question, support, when in asks:
            hits = memory.search(
                question,
                user_id="u",
                k=max(KS),
                filters={"created_before": when},
                record_access=False,
            )
            got = [str(h.item.metadata["line"]) for h in hits]
            out.append([recall_at_k(got, support, k) for k in KS])
        memory.close()

    for line in path.read_text("utf-8").splitlines():
        number, _, rest = line.partition(" ")
        if number == "1":
            flush()
            story = []
            told += 1
            if told > stories:
                break
        if "\t" in rest:
            question, _answer, support = rest.split("\t")
            story.append((number, question.strip(), support.split()))
        else:
            story.append((number, rest.strip(), None))
    else:
        flush()
    return out


def fmt(values: Sequence[float]) -> str:
    return " | ".join(f"{v:.3f}" for v in values)


def locomo_table(name: str, make: MemoryFactory, embedder: Any, convos: Any) -> list[str]:
    rows = score(make, embedder, convos)
    groups = summary(rows)
    counts = {"overall": len(rows)}
    for q, _ in rows:
        counts[q.category] = counts.get(q.category, 0) + 1
    return [
        f"| {name} | {group} | {counts[group]} | {fmt(groups[group])} |"
        for group in ("overall", *CATEGORIES)
        if group in groups
    ]


def fit(embedder: Any, convos: list[Conversation]) -> list[str]:
    """Leave one conversation out: the derived fusion chosen on two, scored on the third.

    For each main store (the default's, ``conversation_options()``), beside the same
    store without derived memories on the held-out conversation.
    """
    grid = [(w, fk) for w in (0.3, 0.5, 1.0) for fk in (10, 60)]
    lines = []
    for label, main in (("default", None), ("conversation", CONV)):
        per: dict[tuple[float, int] | None, dict[str, list[list[float]]]] = {}
        for setting in [None, *grid]:
            derived = None if setting is None else {"weight": setting[0], "fusion_k": setting[1]}
            make = system(main, derived)
            per[setting] = {c.id: [r for _, r in score(make, embedder, [c])] for c in convos}

        def r10(setting: tuple[float, int] | None, ids: Sequence[str], per: Any = per) -> float:
            rows = [r for cid in ids for r in per[setting][cid]]
            return float(np.mean([r[2] for r in rows]))

        for held in convos:
            train = [c.id for c in convos if c.id != held.id]
            best = max(grid, key=lambda s: r10(s, train))
            lines.append(
                f"| {label} | {held.id} | weight {best[0]}, fusion_k {best[1]} | "
                f"{r10(best, train):.3f} | {r10(best, [held.id]):.3f} | "
                f"{r10(None, [held.id]):.3f} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    parser.add_argument("--sets", nargs="+", default=["locomo", "generated", "babi"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--stories", type=int, default=100, help="bAbI stories per task")
    parser.add_argument("--fit", action="store_true", help="leave-one-out fit of the fusion")
    args = parser.parse_args()
    from agentmem.embedders import SentenceTransformerEmbedder

    embedder = DiskCachedEmbedder(SentenceTransformerEmbedder())
    head = "| system | group | questions | " + " | ".join(f"R@{k}" for k in KS) + " |"
    rule = "|---|---|---:|" + "---:|" * len(KS)
    start = time.perf_counter()
    jobs: list[tuple[str, Callable[[str, MemoryFactory], list[str]]]] = []
    if "locomo" in args.sets:
        convos = dev_conversations()
        jobs.append(("LoCoMo dev", lambda n, m: locomo_table(n, m, embedder, convos)))
    if "generated" in args.sets:
        gen = generated_conversations(args.seeds, 30)
        jobs.append(
            (
                f"generated (seeds {args.seeds})",
                lambda n, m: locomo_table(n, m, embedder, gen)[:1],
            )
        )
    if "babi" in args.sets:
        for task in (1, 2, 3):

            def run(n: str, m: MemoryFactory, task: int = task) -> list[str]:
                rows = babi(m, embedder, task, args.stories)
                return [f"| {n} | all | {len(rows)} | {fmt(np.mean(rows, axis=0))} |"]

            jobs.append((f"bAbI task {task} ({args.stories} stories)", run))
    for title, job in jobs:
        print(f"\n### {title}\n\n{head}\n{rule}", flush=True)
        for name in args.systems:
            texts = embedder.texts
            for line in job(name, SYSTEMS[name]):
                print(line, flush=True)
            print(f"  {name}: {embedder.texts - texts} texts embedded", file=sys.stderr)
    if args.fit:
        print("\n### Held out (LoCoMo dev)\n")
        print(
            "| main store | held out | best on the other two | train R@10 | held-out R@10 "
            "| held-out R@10 without derived |"
        )
        print("|---|---|---|---:|---:|---:|")
        for line in fit(embedder, dev_conversations()):
            print(line, flush=True)
    print(f"\n{time.perf_counter() - start:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
