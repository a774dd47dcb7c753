"""MergePolicy (consolidation): near-duplicate memories become one.

When a memory is written, it is compared (cosine similarity of the memory's embedder)
with the open memories of the same user and kind. Those at or above ``threshold``
merge with it into one memory: its text is the longest of them, or written by a chat
model (prompt ``merge.md``); its ``source_ids`` hold every merged id and their sources,
its strength is the sum of theirs, its importance the highest, its access count the
sum. The merged originals are closed (``valid_to``), kept in history.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from agentmem.policies.base import BasePolicy

from agentmem._errors import ModelError, UserError
from agentmem._models import MemoryItem, Scope, new_id
from agentmem._prompts import render_prompt
from agentmem._protocols import Action, ChatMessage, ChatModel, Decision, PolicyContext

__all__ = ["MergePolicy", "merge_items"]

logger = logging.getLogger(__name__)


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
    accessed = [i.last_accessed_at for i in items if i.last_accessed_at is not None]
    return MemoryItem(
        id=new_id(),
        text=text,
        kind=first.kind,
        scope=first.scope,
        created_at=first.created_at,
        recorded_at=max(i.recorded_at for i in items),
        importance=max(i.importance for i in items),
        strength=sum(i.strength for i in items),
        access_count=sum(i.access_count for i in items),
        last_accessed_at=max(accessed) if accessed else None,
        source_ids=sources,
        metadata={**metadata, "merged_from": [i.id for i in items]},
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
