"""Fit HybridStore's fusion weights on the LoCoMo dev split, leave one conversation out.

``--base default`` (the default) fits the default's knobs: the weights of the in-context
lists (``dense-context``, ``bm25-context``) and ``rrf_k``; ``--base conversation`` fits
the ranking of ``conversation_options()`` (BM25 weight, ``rrf_k``, name boost).

The split: the three development conversations of ``../shared/data/locomo_dev`` (conv-26,
conv-30, conv-41), questions of categories 1-4. For each conversation in turn, every
setting of the grid is scored (mean evidence recall@10) on the other two, the best is
picked, and it is scored on the held-out one. The held-out numbers are the honest ones:
the settings never saw the conversation they are scored on. The last line picks the
setting that is best on all three (what a default would take).

End to end through ``Memory`` (``add_many`` then ``search``) with the real embedder;
embeddings are cached on disk (``benchmarks/.cache/``).

    HF_HUB_OFFLINE=1 python benchmarks/fit_locomo_fusion.py
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _locomo import CATEGORIES, DiskCachedEmbedder, dev_conversations, score, summary  # noqa: E402
from bench_locomo_recall import store_memory  # noqa: E402

from agentmem.stores import conversation_options  # noqa: E402

#: The grids: each key is a HybridStore option (or a list's weight), each value the
#: settings tried.
GRIDS: dict[str, dict[str, list[Any]]] = {
    "default": {
        "dense-context": [0.5, 1.0, 1.5, 2.0, 3.0],
        "bm25-context": [0.5, 1.0, 1.5, 2.0],
        "rrf_k": [30],
    },
    "conversation": {
        "bm25": [1.0, 2.0, 3.0],
        "rrf_k": [10, 30, 60],
        "name_boost": [0.3, 0.5, 1.0],
    },
}
_WEIGHTS = ("dense", "bm25", "dense-context", "bm25-context")


def options(setting: dict[str, Any], base: str = "default") -> dict[str, Any]:
    """HybridStore keyword arguments for one grid setting on top of ``base``'s options."""
    out = conversation_options() if base == "conversation" else {}
    out.update({k: v for k, v in setting.items() if k not in _WEIGHTS})
    weights = {k: v for k, v in setting.items() if k in _WEIGHTS}
    out["weights"] = {**out.get("weights", {}), **weights}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=10, help="the recall cut-off fitted")
    parser.add_argument("--base", choices=list(GRIDS), default="default")
    args = parser.parse_args()
    grid_of = GRIDS[args.base]
    ki = {1: 0, 5: 1, 10: 2, 25: 3}[args.k]
    from agentmem.embedders import SentenceTransformerEmbedder

    embedder = DiskCachedEmbedder(SentenceTransformerEmbedder())
    convos = dev_conversations()
    grid = itertools.product(*grid_of.values())
    settings = [dict(zip(grid_of, values, strict=True)) for values in grid]
    # per setting, per conversation: the question rows
    rows: dict[int, dict[str, list[Any]]] = {}
    for n, setting in enumerate(settings):
        make = store_memory(**options(setting, args.base))
        rows[n] = {c.id: score(make, embedder, [c]) for c in convos}
        mean = summary([r for c in convos for r in rows[n][c.id]])["overall"][ki]
        print(f"{setting}: R@{args.k} {mean:.3f}", file=sys.stderr)
    held: list[Any] = []
    print(f"| held out | best setting on the other two | train R@{args.k} | held-out R@{args.k} |")
    print("|---|---|---:|---:|")
    for convo in convos:
        train = [c.id for c in convos if c.id != convo.id]

        def train_score(n: int, train: list[str] = train) -> float:
            return summary([r for c in train for r in rows[n][c]])["overall"][ki]

        best = max(range(len(settings)), key=train_score)
        held += rows[best][convo.id]
        test = summary(rows[best][convo.id])["overall"][ki]
        print(f"| {convo.id} | {settings[best]} | {train_score(best):.3f} | {test:.3f} |")
    pooled = summary(held)
    cats = ", ".join(f"{c} {pooled[c][ki]:.3f}" for c in CATEGORIES if c in pooled)
    print(f"\nheld-out R@{args.k}, pooled over the 3 folds: {pooled['overall'][ki]:.3f} ({cats})")
    everything = max(
        range(len(settings)),
        key=lambda n: summary([r for c in convos for r in rows[n][c.id]])["overall"][ki],
    )
    print(f"best on all three: {settings[everything]}")
    if args.base == "default":
        shipped = {c.id: score(store_memory(), embedder, [c]) for c in convos}
        per = ", ".join(f"{c} {summary(r)['overall'][ki]:.3f}" for c, r in shipped.items())
        both = summary([r for rs in shipped.values() for r in rs])
        print(f"the shipped default: R@{args.k} {both['overall'][ki]:.3f} ({per})")


if __name__ == "__main__":
    main()
