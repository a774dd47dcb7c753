"""Where recall is lost on real conversations: the evidence the default memory misses.

For every question of the LoCoMo development conversations (categories 1-4), the
default ``Memory`` (``Memory.in_memory``: the default store and its derived memories,
through ``add_many`` and ``search``) returns its 10 best turns. Each evidence turn is
then a hit (among them) or a miss, and each is put in one of three groups by what the
two retrievers could see of it:

- ``shares a word``: the turn shares a word with the question, after FTS5's porter
  stemming and without stop words or the conversation's speaker names (BM25 can match
  it);
- ``near by meaning only``: no shared word, but the embedder puts the turn among the 50
  nearest turns to the question (dense search can find it);
- ``neither``: no shared word and not among the 50 nearest by the embedder: nothing a
  retriever over these texts and this embedder sees points to it.

Misses in ``neither`` need something else: facts written at write time by a model that
understands the turn, or a stronger embedder. ``--show N`` prints N of them.

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python benchmarks/bench_locomo_misses.py
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _locomo import CATEGORIES, DiskCachedEmbedder, dev_conversations, ingest, turn_ids  # noqa: E402
from bench_locomo_recall import default_memory  # noqa: E402

from agentmem.stores._fts import STOP_WORDS, match_expression  # noqa: E402

GROUPS = ("shares a word", "near by meaning only", "neither")
NEAR = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=10, help="the cut-off (default 10)")
    parser.add_argument("--show", type=int, default=8, help="misses in 'neither' to print")
    args = parser.parse_args()
    from agentmem.embedders import SentenceTransformerEmbedder

    embedder = DiskCachedEmbedder(SentenceTransformerEmbedder())
    counts: Counter[tuple[str, str, str]] = Counter()
    shown: list[str] = []
    for convo in dev_conversations():
        turns = [t for s in convo.sessions for t in s.turns if t.text.strip()]
        where = {t.id: n for n, t in enumerate(turns)}
        names = {t.speaker.lower() for t in turns}
        vectors = embedder.embed([t.text for t in turns])
        words = sqlite3.connect(":memory:")
        words.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize='porter unicode61')")
        words.executemany(
            "INSERT INTO t (rowid, body) VALUES (?, ?)", [(n, t.text) for n, t in enumerate(turns)]
        )
        memory, _ = ingest(default_memory, embedder, convo)
        try:
            for q in convo.questions:
                top = set(turn_ids(memory, q.question, args.k)[: args.k])
                question = " ".join(
                    w for w in re.findall(r"\w+", q.question) if w.lower() not in names
                )
                match = match_expression(question, STOP_WORDS)
                lexical = (
                    {
                        int(r[0])
                        for r in words.execute("SELECT rowid FROM t WHERE t MATCH ?", (match,))
                    }
                    if match
                    else set()
                )
                order = np.argsort(-(vectors @ embedder.embed([q.question])[0]))
                near = {int(i) for i in order[:NEAR]}
                for evidence in q.evidence:
                    if evidence not in where:
                        continue
                    n = where[evidence]
                    group = GROUPS[0] if n in lexical else GROUPS[1] if n in near else GROUPS[2]
                    found = "hit" if evidence in top else "miss"
                    for category in ("overall", q.category):
                        counts[(found, group, category)] += 1
                    if found == "miss" and group == GROUPS[2] and len(shown) < args.show:
                        shown.append(f"- {q.question} -> {turns[n].speaker}: {turns[n].text[:110]}")
        finally:
            memory.close()
    print(f"LoCoMo dev, categories 1-4: evidence turns in the default memory's top {args.k}\n")
    print("| group | evidence turns | found | missed | " + " | ".join(GROUPS) + " (missed) |")
    print("|---|---:|---:|---:|" + "---:|" * len(GROUPS))
    for category in ("overall", *CATEGORIES):
        hit = sum(counts[("hit", g, category)] for g in GROUPS)
        miss = sum(counts[("miss", g, category)] for g in GROUPS)
        by_group = " | ".join(str(counts[("miss", g, category)]) for g in GROUPS)
        print(f"| {category} | {hit + miss} | {hit} | {miss} | {by_group} |")
    print("\nFound, by group: " + ", ".join(f"{g} {counts[('hit', g, 'overall')]}" for g in GROUPS))
    if shown:
        print(f"\nMissed, in 'neither' (first {len(shown)}):")
        print("\n".join(shown))


if __name__ == "__main__":
    main()
