"""Shared pieces of the LoCoMo benchmarks: data, a disk-cached embedder, ingest and scoring.

Not a benchmark itself: ``bench_locomo_recall.py``, ``bench_locomo_latency.py`` and
``fit_locomo_fusion.py`` import it. Everything goes through :class:`agentmem.Memory`
(``add_many`` then ``search``), as a user's code would.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from _corpus import shared_data
from numpy.typing import NDArray

from agentmem import ManualClock, Memory
from agentmem.eval.dataset import Conversation, Question
from agentmem.eval.loaders import load_locomo
from agentmem.eval.metrics import recall_at_k

KS = (1, 5, 10, 25)
CATEGORIES = ("multi-hop", "temporal", "open-domain", "single-hop")
CACHE = Path(__file__).resolve().parent / ".cache"


def dev_conversations() -> list[Conversation]:
    """The LoCoMo development conversations, with questions of categories 1-4 only."""
    data = load_locomo(shared_data() / "locomo_dev" / "locomo_dev.json")
    out = []
    for convo in data.conversations:
        questions = [q for q in convo.questions if q.category in CATEGORIES and q.evidence]
        out.append(convo.model_copy(update={"questions": questions}))
    return out


class DiskCachedEmbedder:
    """Wraps an embedder: each distinct text is embedded once, ever (SQLite on disk).

    Only for iterating on ranking: vectors are exactly the inner embedder's. ``calls``
    counts the ``embed`` calls made, ``texts`` the texts asked for.
    """

    def __init__(self, inner: Any, path: Path | None = None) -> None:
        self.inner = inner
        self.calls = 0
        self.texts = 0
        path = path or CACHE / f"embeddings-{_slug(inner.name)}.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS e (h TEXT PRIMARY KEY, v BLOB NOT NULL)")

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    @property
    def name(self) -> str:
        return str(self.inner.name)

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls += 1
        self.texts += len(texts)
        keys = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
        found: dict[str, bytes] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            rows = self._db.execute(
                f"SELECT h, v FROM e WHERE h IN ({', '.join('?' * len(chunk))})", chunk
            ).fetchall()
            found.update((str(h), bytes(v)) for h, v in rows)
        todo = [(k, t) for k, t in dict(zip(keys, texts, strict=True)).items() if k not in found]
        if todo:
            vectors = self.inner.embed([t for _, t in todo])
            rows_new = [
                (k, np.asarray(v, np.float32).tobytes())
                for (k, _), v in zip(todo, vectors, strict=True)
            ]
            self._db.executemany("INSERT OR IGNORE INTO e VALUES (?, ?)", rows_new)
            self._db.commit()
            found.update(rows_new)
        flat = np.frombuffer(b"".join(found[k] for k in keys), dtype=np.float32)
        return flat.reshape(len(texts), self.dim).copy()


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)[-60:]


def records(convo: Conversation) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each session's turns as ``add_many`` records (speaker and turn id in metadata)."""
    out = []
    for session in convo.sessions:
        rows = [
            {
                "text": turn.text,
                "session_id": session.id,
                "created_at": session.date + timedelta(seconds=i),
                "metadata": {"speaker": turn.speaker, "turn": turn.id},
            }
            for i, turn in enumerate(session.turns)
            if turn.text.strip()
        ]
        out.append((session.id, rows))
    return out


MemoryFactory = Callable[[Any, ManualClock], Memory]


def ingest(make: MemoryFactory, embedder: Any, convo: Conversation) -> tuple[Memory, ManualClock]:
    """A fresh memory holding ``convo``, fed one session at a time through ``add_many``."""
    clock = ManualClock(convo.sessions[0].date)
    memory = make(embedder, clock)
    for (_, rows), session in zip(records(convo), convo.sessions, strict=True):
        clock.set(session.date)
        memory.add_many(rows, user_id="u")
    clock.set(convo.end + timedelta(days=1))
    return memory, clock


def turn_ids(memory: Memory, question: str, k: int) -> list[str]:
    """The turn ids a search hands back, in order (derived memories give their sources)."""
    hits = memory.search(question, user_id="u", k=k, record_access=False)
    out: list[str] = []
    for hit in hits:
        turn = hit.item.metadata.get("turn")
        ids = [str(turn)] if turn is not None else [str(s) for s in hit.item.source_ids]
        out += [i for i in ids if i not in out]
    return out


def score(
    make: MemoryFactory, embedder: Any, convos: Sequence[Conversation]
) -> list[tuple[Question, list[float]]]:
    """Recall at every k of ``KS`` for every question of ``convos``."""
    out = []
    for convo in convos:
        memory, _ = ingest(make, embedder, convo)
        try:
            for q in convo.questions:
                got = turn_ids(memory, q.question, max(KS))
                out.append((q, [recall_at_k(got, q.evidence, k) for k in KS]))
        finally:
            memory.close()
    return out


def summary(rows: Sequence[tuple[Question, list[float]]]) -> dict[str, list[float]]:
    """Mean recall at each k, overall and per category."""
    groups: dict[str, list[list[float]]] = {"overall": [r for _, r in rows]}
    for q, r in rows:
        groups.setdefault(q.category, []).append(r)
    return {
        name: [float(x) for x in np.mean(np.asarray(values), axis=0)]
        for name, values in groups.items()
    }
