"""MergePolicy on a tick: a consolidation pass over the memories already stored."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from agentmem import ManualClock, Memory
from agentmem.policies import MergePolicy
from agentmem.stores import VectorStore
from agentmem.testing import HashEmbedder

from .conftest import MakeMemory


class CountingEmbedder(HashEmbedder):
    """The hashing embedder, counting the texts it embeds."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.texts += texts
        return super().embed(texts)


def test_tick_merges_stored_near_duplicates(make_memory: MakeMemory, clock: ManualClock) -> None:
    memory = make_memory([])  # written with no policy: the duplicates are all stored
    a = memory.add("alice loves green tea", user_id="alice", importance=0.3)
    b = memory.add("alice loves green tea a lot", user_id="alice", importance=0.7)
    c = memory.add("alice loves green tea", user_id="alice", kind="fact")  # other kind
    d = memory.add("bob plays the cello", user_id="alice")
    e = memory.add("alice loves green tea", user_id="bob")  # other user
    memory.policies = [MergePolicy(threshold=0.8)]
    preview = memory.preview()
    assert [(x.action.value, x.item_ids) for x in preview] == [("merge", [a.id, b.id])]
    assert preview[0].reason.startswith("consolidation: near-duplicates")
    changes = memory.tick()
    merged = changes.written[0]
    assert merged.text == "alice loves green tea a lot"
    assert merged.source_ids == [a.id, b.id] and merged.strength == pytest.approx(2.0)
    assert merged.importance == pytest.approx(0.7)
    open_ids = {item.id for item in memory.items()}
    assert open_ids == {merged.id, c.id, d.id, e.id}
    assert memory.tick().written == []  # consolidated: nothing left to merge
    # A consolidation is undone like any merge: the merged memory goes, the sources reopen.
    event = next(ev for ev in changes.events if ev.op.value == "merge")
    assert event.id is not None
    memory.undo(event.id)
    assert {item.id for item in memory.items()} == {a.id, b.id, c.id, d.id, e.id}


def test_tick_reads_stored_embeddings(clock: ManualClock) -> None:
    embedder = CountingEmbedder(64)
    with Memory([VectorStore(None, embedder)], embedder=embedder, clock=clock) as memory:
        for text in ("the cat sat", "the cat sat", "a dog ran", "the cat sat"):
            memory.add(text, user_id="u")
        embedder.texts.clear()
        decisions = memory.preview(MergePolicy(threshold=0.99))
        assert embedder.texts == []  # decided on the embeddings SQLite holds
        assert len(decisions) == 1 and len(decisions[0].item_ids) == 3


def test_consolidation_over_thousands(make_memory: MakeMemory) -> None:
    rng = random.Random(3)
    memory = make_memory([])
    words = [f"w{n}" for n in range(5000)]
    texts = [" ".join(rng.sample(words, 6)) for _ in range(3000)]
    items = [memory.make_item(text, user_id=f"u{n % 3}") for n, text in enumerate(texts)]
    duplicates = [
        memory.make_item(texts[n], user_id=f"u{n % 3}") for n in rng.sample(range(3000), 40)
    ]
    memory.write(items + duplicates)
    decisions = MergePolicy(threshold=0.95).on_tick(memory._context)
    pairs = sorted(tuple(d.item_ids) for d in decisions)
    expected = sorted((items[texts.index(dup.text)].id, dup.id) for dup in duplicates)
    assert pairs == expected
