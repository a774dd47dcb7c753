from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

import pytest

from agentmem import ManualClock, Memory, RetentionPolicy
from agentmem.stores import VectorStore
from agentmem.testing import HashEmbedder

START = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)

MakeMemory = Callable[[Sequence[RetentionPolicy]], Memory]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def make_memory(clock: ManualClock) -> Iterator[MakeMemory]:
    opened: list[Memory] = []

    def make(policies: Sequence[RetentionPolicy]) -> Memory:
        embedder = HashEmbedder(64)
        memory = Memory(
            [VectorStore(None, embedder)], policies=policies, embedder=embedder, clock=clock
        )
        opened.append(memory)
        return memory

    yield make
    for memory in opened:
        memory.close()


@pytest.fixture(autouse=True)
def _one_faiss_thread() -> Iterator[None]:
    # faiss's OpenMP threads spin on a busy 2-core machine: a tiny search then takes 15 ms.
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)
