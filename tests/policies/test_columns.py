"""The columnar read policies decide on agrees with scan(), item by item."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from agentmem import InvalidInputError, ManualClock, Memory, Scope
from agentmem._columns import item_columns
from agentmem._frame import Frame
from agentmem.stores import VectorStore
from agentmem.testing import HashEmbedder

from .conftest import START


def test_columns_match_scan(clock: ManualClock) -> None:
    store = VectorStore(None, HashEmbedder(16))
    with Memory([store], clock=clock) as memory:
        offsets = [5, 1, 3, 1, 0, 4]  # out of insertion order, with a tie
        for n, days in enumerate(offsets):
            memory.add(
                f"memory {n}",
                user_id=f"u{n % 2}",
                agent_id="bot" if n == 2 else None,
                kind="fact" if n % 3 == 0 else "message",
                created_at=START - timedelta(days=days),
                importance=n / 10,
                metadata={"n": n},
            )
        memory.search("memory 3", user_id="u1", k=1)  # sets last_accessed_at on one
        extra = ("text", "metadata", "valid_to")
        read = store.columns(include_closed=False, extra=extra)
        built = item_columns(store.scan(include_closed=False), extra)
        assert read == built
        assert read["id"] == [item.id for item in memory.items()]
        scoped = store.columns(scope=Scope(user_id="u1"), include_closed=False)
        assert scoped == item_columns(store.scan(scope=Scope(user_id="u1"), include_closed=False))
        frame = Frame.from_columns(read)
        assert np.array_equal(frame.last_used(), Frame.from_items(memory.items()).last_used())
        assert store.columns(scope=Scope(user_id="nobody"))["id"] == []
        with pytest.raises(InvalidInputError, match="unknown extra columns"):
            store.columns(extra=("vid; DROP TABLE items",))
