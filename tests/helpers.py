"""Shared test helpers."""

from __future__ import annotations

from datetime import UTC, datetime

from agentmem import ManualClock, Memory
from agentmem.policies import UpdatePolicy
from agentmem.stores import VectorStore
from agentmem.testing import HashEmbedder

T0 = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)


def fresh_memory(
    path: object = None, *, clock: ManualClock | None = None, **kwargs: object
) -> Memory:
    """A Memory over a VectorStore with a HashEmbedder (in memory unless ``path``)."""
    embedder = HashEmbedder(128)
    return Memory(
        [VectorStore(path, embedder)],  # type: ignore[arg-type]
        policies=[UpdatePolicy()],
        embedder=embedder,
        clock=clock or ManualClock(T0),
        **kwargs,  # type: ignore[arg-type]
    )
