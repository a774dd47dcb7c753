"""The read-only view of a memory that retention policies decide on."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agentmem._capabilities import ColumnarStore
from agentmem._columns import item_columns, merge_columns
from agentmem._models import Filters, MemoryItem, Scope
from agentmem._protocols import Embedder

if TYPE_CHECKING:
    from agentmem._memory import Memory

__all__ = ["MemoryContext"]


class MemoryContext:
    """The read-only view of memory that policies decide on."""

    def __init__(self, memory: Memory) -> None:
        self._memory = memory

    @property
    def now(self) -> datetime:
        return self._memory.clock.now()

    @property
    def embedder(self) -> Embedder | None:
        return self._memory.embedder

    def scan(
        self,
        *,
        scope: Scope | None = None,
        filters: Filters | None = None,
        include_closed: bool = False,
    ) -> Iterator[MemoryItem]:
        for store in self._memory.stores:
            yield from store.scan(scope=scope, filters=filters, include_closed=include_closed)

    def columns(
        self,
        *,
        scope: Scope | None = None,
        filters: Filters | None = None,
        include_closed: bool = False,
        extra: Sequence[str] = (),
    ) -> dict[str, list[Any]]:
        """Raw columns of every store's items (see ``VectorStore.columns``), no items built."""
        parts = []
        for store in self._memory.stores:
            read = store.columns if isinstance(store, ColumnarStore) else None
            if read is not None:
                parts.append(
                    read(scope=scope, filters=filters, include_closed=include_closed, extra=extra)
                )
            else:
                found = store.scan(scope=scope, filters=filters, include_closed=include_closed)
                parts.append(item_columns(found, extra))
        return merge_columns(parts)

    def get(self, item_id: str) -> MemoryItem | None:
        found = self._memory._locate(item_id)
        return None if found is None else found[1]
