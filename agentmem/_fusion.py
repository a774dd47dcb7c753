"""Reciprocal-rank fusion, the one implementation: several ranked lists into one score.

Used by :class:`~agentmem.Memory` to fuse several stores' hits and by the hybrid ranking
(:mod:`agentmem.stores._ranking`) to fuse its retrievers' lists.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

__all__ = ["RRF_K", "reciprocal_rank"]

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
