"""MergePolicy (consolidation): near-duplicate memories become one.

When a memory is written, it is compared (cosine similarity of the memory's embedder)
with the open memories of the same user and kind. On a tick, a consolidation pass does the
same over every open memory, oldest first, on the embeddings the store already holds
(blocks of matrix products in numpy, no per-pair Python). Those at or above ``threshold``
merge with it into one memory: its text is the longest of them, or written by a chat
model (prompt ``merge.md``); its ``source_ids`` hold every merged id and their sources,
its strength is the sum of theirs, its importance the highest, its access count the
sum. The merged originals are closed (``valid_to``), kept in history.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agentmem._errors import ModelError, UserError
from agentmem._frame import Frame, read_frame
from agentmem._models import MemoryItem, Scope, new_id
from agentmem._prompts import render_prompt
from agentmem._protocols import Action, ChatMessage, ChatModel, Decision, PolicyContext
from agentmem.policies.base import BasePolicy

__all__ = ["MergePolicy", "merge_items"]

logger = logging.getLogger(__name__)


def combined_use(items: Sequence[MemoryItem]) -> dict[str, Any]:
    """The weights of one memory standing for ``items``, the one rule for every merge.

    Strength and access counts add up (each copy was a reinforcement), importance is the
    highest, the last access the latest.
    """
    accessed = [i.last_accessed_at for i in items if i.last_accessed_at is not None]
    return {
        "importance": max(i.importance for i in items),
        "strength": sum(i.strength for i in items),
        "access_count": sum(i.access_count for i in items),
        "last_accessed_at": max(accessed) if accessed else None,
    }


def merge_items(items: Sequence[MemoryItem], text: str) -> MemoryItem:
    """One memory standing for ``items``: provenance, strength and use combined."""
    first = min(items, key=lambda i: (i.created_at, i.recorded_at))
    sources: list[str] = []
    for item in items:
        for source in (item.id, *item.source_ids):
            if source not in sources:
                sources.append(source)
    metadata: dict[str, object] = {}
    for item in sorted(items, key=lambda i: (i.created_at, i.recorded_at)):
        metadata.update(item.metadata)
    return MemoryItem(
        id=new_id(),
        text=text,
        kind=first.kind,
        scope=first.scope,
        created_at=first.created_at,
        recorded_at=max(i.recorded_at for i in items),
        source_ids=sources,
        metadata={**metadata, "merged_from": [i.id for i in items]},
        **combined_use(items),
    )


class MergePolicy(BasePolicy):
    """Merge each new memory with its near-duplicates.

    Args:
        threshold: the cosine similarity at or above which two memories are duplicates.
        llm: writes the merged text; ``None`` keeps the longest text.
    """

    name = "merge"

    def __init__(self, *, threshold: float = 0.9, llm: ChatModel | None = None) -> None:
        if not -1.0 <= threshold <= 1.0:
            msg = f"threshold is a cosine similarity in [-1, 1], got {threshold!r}"
            raise UserError(msg)
        self.threshold = threshold
        self.llm = llm

    def __repr__(self) -> str:
        return f"MergePolicy(threshold={self.threshold})"

    def on_write(self, items: Sequence[MemoryItem], ctx: PolicyContext) -> list[Decision]:
        """Merge each new memory with the stored ones it nearly duplicates."""
        embedder = ctx.embedder
        if embedder is None:
            msg = "MergePolicy needs an embedder: give Memory(..., embedder=...)"
            raise UserError(msg)
        decisions: list[Decision] = []
        used: set[str] = set()
        for item in items:
            if item.id in used:
                continue
            pool = [
                other
                for other in ctx.scan(scope=Scope(user_id=item.scope.user_id))
                if other.id != item.id and other.kind is item.kind and other.id not in used
            ]
            if not pool:
                continue
            vectors = embedder.embed([item.text, *(other.text for other in pool)])
            similarity = vectors[1:] @ vectors[0]
            close = [pool[i] for i in np.flatnonzero(similarity >= self.threshold)]
            if not close:
                continue
            group = [*close, item]
            used.update(member.id for member in group)
            best = float(similarity.max())
            merged = merge_items(group, self._text(group))
            decisions.append(
                Decision(
                    action=Action.MERGE,
                    item_ids=[member.id for member in group],
                    reason=f"near-duplicates (cosine up to {best:.3f} >= {self.threshold:g}) "
                    f"merged into one",
                    policy=self.name,
                    merged=merged,
                )
            )
        return decisions

    def on_tick(self, ctx: PolicyContext) -> list[Decision]:
        """Consolidate: merge every open memory with its near-duplicates of the same user and kind.

        Memories are taken oldest first; each not yet merged absorbs the later ones at or
        above the threshold (as a write would have, had the policy been on then).
        """
        frame = read_frame(ctx, extra=("text", "embedding"))
        if len(frame) < 2:
            return []
        vectors = self._vectors(frame, ctx)
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for i, key in enumerate(zip(frame.user_id.tolist(), frame.kind.tolist(), strict=True)):
            groups[key].append(i)
        clusters: list[tuple[list[int], float]] = []
        for members in groups.values():
            if len(members) > 1:
                clusters += self._clusters(np.asarray(members), vectors)
        if not clusters:
            return []
        wanted = [frame.ids[i] for cluster, _ in clusters for i in cluster]
        items = {item.id: item for item in _items(ctx, wanted)}
        decisions: list[Decision] = []
        for cluster, best in sorted(clusters, key=lambda c: c[0][0]):
            group = [items[frame.ids[i]] for i in cluster if frame.ids[i] in items]
            if len(group) < 2:
                continue
            decisions.append(
                Decision(
                    action=Action.MERGE,
                    item_ids=[member.id for member in group],
                    reason=f"consolidation: near-duplicates (cosine up to {best:.3f} >= "
                    f"{self.threshold:g}) merged into one",
                    policy=self.name,
                    merged=merge_items(group, self._text(group)),
                )
            )
        return decisions

    def _vectors(self, frame: Frame, ctx: PolicyContext) -> NDArray[np.float32]:
        """The stored embeddings; memories stored without one (or another size) are embedded."""
        blobs = frame.extra["embedding"].tolist()
        embedder = ctx.embedder
        sizes = {len(b) for b in blobs if b is not None}
        dim = int(embedder.dim) if embedder is not None else (sizes.pop() // 4 if sizes else 0)
        missing = [i for i, b in enumerate(blobs) if b is None or len(b) != dim * 4]
        if missing and embedder is None:
            msg = "MergePolicy needs an embedder: give Memory(..., embedder=...)"
            raise UserError(msg)
        vectors = np.zeros((len(blobs), dim), dtype=np.float32)
        present = [i for i, b in enumerate(blobs) if b is not None and len(b) == dim * 4]
        if present:
            joined = b"".join(blobs[i] for i in present)
            vectors[present] = np.frombuffer(joined, dtype=np.float32).reshape(len(present), dim)
        if missing:
            assert embedder is not None
            texts = [str(t) for t in frame.extra["text"][missing].tolist()]
            vectors[missing] = np.asarray(embedder.embed(texts), dtype=np.float32)
        return vectors

    def _clusters(
        self, members: NDArray[np.intp], vectors: NDArray[np.float32]
    ) -> list[tuple[list[int], float]]:
        """Greedy clusters, oldest first, of ``members`` (frame positions) by cosine."""
        x = vectors[members]
        n = len(members)
        neighbours: dict[int, NDArray[np.intp]] = {}
        scores: dict[int, NDArray[np.float32]] = {}
        step = max(1, min(n, 16_000_000 // max(n, 1)))  # at most ~64 MB of similarities
        for start in range(0, n, step):
            block = x[start : start + step] @ x.T
            rows, cols = np.nonzero(block >= self.threshold)
            keep = cols > rows + start  # later memories only: each pair once, no self-pairs
            rows, cols = rows[keep], cols[keep]
            if rows.size == 0:
                continue
            cut = np.flatnonzero(np.diff(rows)) + 1
            for row_cols, row in zip(np.split(cols, cut), np.split(rows, cut), strict=True):
                r = int(row[0])
                neighbours[start + r] = row_cols
                scores[start + r] = block[r, row_cols]
        used = np.zeros(n, dtype=bool)
        out: list[tuple[list[int], float]] = []
        for anchor in sorted(neighbours):
            if used[anchor]:
                continue
            fresh = ~used[neighbours[anchor]]
            mates = neighbours[anchor][fresh]
            if mates.size == 0:
                continue
            used[anchor] = True
            used[mates] = True
            best = float(scores[anchor][fresh].max())
            out.append(([int(members[anchor]), *members[mates].tolist()], best))
        return out

    def _text(self, group: Sequence[MemoryItem]) -> str:
        longest = max((member.text for member in group), key=len)
        if self.llm is None:
            return longest
        listing = "\n".join(f"- {member.text}" for member in group)
        prompt = render_prompt("merge", memories=listing)
        try:
            text = self.llm.chat([ChatMessage(role="user", content=prompt)], max_tokens=120).text
        except ModelError:
            logger.warning("the merge writer failed; keeping the longest text", exc_info=True)
            return longest
        return text.strip() or longest


def _items(ctx: PolicyContext, ids: Sequence[str]) -> list[MemoryItem]:
    """The memories with these ids (only the few that merge are built in full)."""
    out = []
    for item_id in ids:
        item = ctx.get(item_id)
        if item is not None:
            out.append(item)
    return out
