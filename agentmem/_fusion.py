"""Reciprocal-rank fusion, the one implementation: several ranked lists into one score.

Used by :class:`~agentmem.Memory` to fuse several stores' hits and by the hybrid ranking
(:mod:`agentmem.stores._ranking`) to fuse its retrievers' lists.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from agentmem._models import Hit

__all__ = ["RRF_K", "fuse_hits", "reciprocal_rank"]

K = TypeVar("K", bound=Hashable)

RRF_K = 60
"""The usual RRF constant: a rank's weight is ``1 / (RRF_K + rank)``."""


def reciprocal_rank(
    lists: Sequence[tuple[float, Sequence[K]]], rrf_k: int = RRF_K
) -> dict[K, float]:
    """Reciprocal-rank fusion: ``sum(weight / (rrf_k + rank))`` per key (ranks from 1).

    ``lists`` holds ``(weight, keys best first)``. The result keeps first-seen order.
    """
    scores: dict[K, float] = {}
    for weight, keys in lists:
        for rank, key in enumerate(keys):
            scores[key] = scores.get(key, 0.0) + weight / (rrf_k + rank + 1)
    return scores


def fuse_hits(
    lists: Sequence[tuple[float, Sequence[Hit]]], k: int, rrf_k: int = RRF_K
) -> list[Hit]:
    """Weighted reciprocal-rank fusion of hit lists into the ``k`` best, scores replaced.

    A hit whose signal is ``"recent"`` (a lexical store filling its places with its newest
    memories, found by no retriever) gets no vote: such hits only fill the places left,
    in their order.
    """
    found = [(w, [h for h in hits if h.signal != "recent"]) for w, hits in lists]
    scores = reciprocal_rank([(w, [h.item.id for h in hits]) for w, hits in found], rrf_k)
    best: dict[str, Hit] = {}
    for _, hits in lists:
        for hit in hits:
            best.setdefault(hit.item.id, hit)
    ranked = sorted(scores, key=lambda item_id: -scores[item_id])[:k]
    out = [best[i].model_copy(update={"score": scores[i]}) for i in ranked]
    for _, hits in lists:
        for hit in hits:
            if len(out) >= k:
                return out
            if hit.item.id not in scores:
                scores[hit.item.id] = 0.0
                out.append(hit.model_copy(update={"score": 0.0}))
    return out
