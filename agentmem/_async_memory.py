"""AsyncMemory: the Memory API with ``async`` methods, safe from many tasks at once.

Embedding and SQLite run in a bounded thread pool, so the event loop never waits on
them. Changes (and searches, which record access) go one at a time through a lock
shared by every :class:`AsyncMemory` over the same :class:`~agentmem.Memory`; plain
reads (``get``, ``items``, ``count``, ``history``, ``events``) run side by side.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from agentmem._clock import Clock
from agentmem._errors import UserError
from agentmem._memory import Changes, Memory
from agentmem._models import Filters, Hit, Kind, MemoryEvent, MemoryItem
from agentmem._protocols import Decision, Embedder, RetentionPolicy
from agentmem._tracing import Tracer

__all__ = ["AsyncMemory", "memory_lock"]

T = TypeVar("T")

_LOCKS: weakref.WeakKeyDictionary[Memory, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.RLock()
_SHARED_ATTR = "_agentmem_async_memory"


def memory_lock(memory: Memory) -> threading.RLock:
    """The lock that orders changes to ``memory`` made through async code paths."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(memory)
        if lock is None:
            lock = _LOCKS[memory] = threading.RLock()
        return lock


class AsyncMemory:
    """A :class:`~agentmem.Memory` for asyncio code: the same methods, awaited.

    Args:
        memory: the memory to wrap (it stays usable synchronously, but changes made
            outside async code paths do not take the shared lock).
        max_workers: threads for embedding and SQLite work (the pool is bounded, so a
            burst of tasks queues instead of spawning threads).

    Example::

        async with AsyncMemory.default("~/.agentmem/alice") as memory:
            await memory.add("Alice moved to Lisbon", user_id="alice")
            hits = await memory.search("where does Alice live?", user_id="alice")
    """

    def __init__(self, memory: Memory, *, max_workers: int = 4) -> None:
        if not isinstance(max_workers, int) or max_workers < 1:
            msg = f"max_workers must be a positive int, got {max_workers!r}"
            raise UserError(msg)
        self.memory = memory
        self.max_workers = max_workers
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="agentmem")
        self._lock = memory_lock(memory)

    # -- construction ------------------------------------------------------------------
    @classmethod
    def default(
        cls,
        path: str | os.PathLike[str],
        *,
        embedder: Embedder | None = None,
        clock: Clock | None = None,
        policies: Sequence[RetentionPolicy] | None = None,
        tracer: Tracer | None = None,
        max_workers: int = 4,
    ) -> AsyncMemory:
        """Like :meth:`Memory.default <agentmem.Memory.default>` (SQLite + faiss in ``path``)."""
        memory = Memory.default(
            path, embedder=embedder, clock=clock, policies=policies, tracer=tracer
        )
        return cls(memory, max_workers=max_workers)

    @classmethod
    def from_url(
        cls,
        url: str | os.PathLike[str],
        *,
        embedder: Embedder | None = None,
        clock: Clock | None = None,
        policies: Sequence[RetentionPolicy] | None = None,
        tracer: Tracer | None = None,
        max_workers: int = 4,
        **store_options: Any,
    ) -> AsyncMemory:
        """Like :meth:`Memory.from_url <agentmem.Memory.from_url>` (PostgreSQL or a folder)."""
        memory = Memory.from_url(
            url, embedder=embedder, clock=clock, policies=policies, tracer=tracer, **store_options
        )
        return cls(memory, max_workers=max_workers)

    @classmethod
    def in_memory(
        cls,
        *,
        embedder: Embedder | None = None,
        clock: Clock | None = None,
        policies: Sequence[RetentionPolicy] | None = None,
        tracer: Tracer | None = None,
        max_workers: int = 4,
    ) -> AsyncMemory:
        """Like :meth:`Memory.in_memory <agentmem.Memory.in_memory>`: nothing on disk."""
        memory = Memory.in_memory(embedder=embedder, clock=clock, policies=policies, tracer=tracer)
        return cls(memory, max_workers=max_workers)

    @classmethod
    def shared(cls, memory: Memory) -> AsyncMemory:
        """One AsyncMemory per Memory, reused by the async paths of adapters and agents."""
        with _LOCKS_GUARD:
            # Kept on the memory itself (a cycle the collector frees), not in a weak map
            # whose value would keep its own key alive.
            found = getattr(memory, _SHARED_ATTR, None)
            if not isinstance(found, AsyncMemory):
                found = cls(memory)
                setattr(memory, _SHARED_ATTR, found)
            return found

    # -- running work off the loop -----------------------------------------------------
    async def run(self, fn: Callable[[Memory], T]) -> T:
        """Run ``fn(memory)`` in the pool, holding the memory's change lock."""

        def locked() -> T:
            with self._lock:
                return fn(self.memory)

        return await asyncio.get_running_loop().run_in_executor(self._pool, locked)

    async def _read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def _change(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self.run(lambda _memory: fn(*args, **kwargs))

    # -- lifecycle ---------------------------------------------------------------------
    async def aclose(self) -> None:
        """Wait for running work, then close the memory and the pool."""
        await self._change(self.memory.close)
        await asyncio.get_running_loop().run_in_executor(None, self._pool.shutdown, True)

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- writing -----------------------------------------------------------------------
    def make_item(self, text: str | bytes, *, user_id: str, **fields: Any) -> MemoryItem:
        """Build a validated item (no I/O): see :meth:`Memory.make_item`."""
        return self.memory.make_item(text, user_id=user_id, **fields)

    async def add(
        self,
        text: str | bytes,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        kind: Kind | str = Kind.MESSAGE,
        created_at: datetime | None = None,
        importance: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        source_ids: Sequence[str] = (),
        store: str | None = None,
    ) -> MemoryItem:
        """Store one memory and apply the retention policies (see :meth:`Memory.add`)."""
        return await self._change(
            self.memory.add,
            text,
            user_id=user_id,
            agent_id=agent_id,
            session_id=session_id,
            kind=kind,
            created_at=created_at,
            importance=importance,
            metadata=metadata,
            source_ids=source_ids,
            store=store,
        )

    async def add_many(
        self,
        records: Iterable[str | Mapping[str, Any]],
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        kind: Kind | str = Kind.MESSAGE,
        created_at: datetime | None = None,
        importance: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        store: str | None = None,
        reason: str | None = None,
        batch: int = 1000,
    ) -> list[MemoryItem]:
        """Store many memories at once, batched (see :meth:`Memory.add_many`)."""
        return await self._change(
            self.memory.add_many,
            list(records),
            user_id=user_id,
            agent_id=agent_id,
            session_id=session_id,
            kind=kind,
            created_at=created_at,
            importance=importance,
            metadata=metadata,
            store=store,
            reason=reason,
            batch=batch,
        )

    async def write(
        self, items: Sequence[MemoryItem], *, store: str | None = None, reason: str | None = None
    ) -> Changes:
        """Store prepared items in one transaction (see :meth:`Memory.write`)."""
        return await self._change(self.memory.write, list(items), store=store, reason=reason)

    # -- reading -----------------------------------------------------------------------
    async def get(self, item_id: str) -> MemoryItem:
        """The memory with this id; raises NotFoundError if there is none."""
        return await self._read(self.memory.get, item_id)

    async def search(
        self,
        query: str,
        *,
        user_id: str,
        agent_id: str | None = None,
        session_id: str | None = None,
        k: int = 10,
        filters: Filters | Mapping[str, Any] | None = None,
        as_of: datetime | None = None,
        record_access: bool = True,
    ) -> list[Hit]:
        """The ``k`` memories of this user most relevant to ``query``, best first."""
        call = self._change if record_access else self._read
        return await call(
            self.memory.search,
            query,
            user_id=user_id,
            agent_id=agent_id,
            session_id=session_id,
            k=k,
            filters=filters,
            as_of=as_of,
            record_access=record_access,
        )

    async def items(
        self,
        *,
        user_id: str | None = None,
        include_closed: bool = False,
        filters: Filters | Mapping[str, Any] | None = None,
    ) -> list[MemoryItem]:
        """Every memory (of one user, if given), oldest first."""
        return await self._read(
            self.memory.items, user_id=user_id, include_closed=include_closed, filters=filters
        )

    async def count(self, *, user_id: str | None = None) -> int:
        """How many memories are stored (for one user, if given)."""
        return await self._read(self.memory.count, user_id=user_id)

    async def history(self, item_id: str) -> list[MemoryEvent]:
        """Every change to this memory, oldest first."""
        return await self._read(self.memory.history, item_id)

    async def events(
        self,
        *,
        user_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[MemoryEvent]:
        """Audit events, oldest first."""
        return await self._read(self.memory.events, user_id=user_id, since=since, limit=limit)

    # -- changing ----------------------------------------------------------------------
    async def update(
        self,
        item_id: str,
        *,
        text: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        importance: float | None = None,
        valid_to: datetime | None = None,
        reason: str = "updated by the user",
    ) -> MemoryItem:
        """Change a memory in place; the old values go to the audit log."""
        return await self._change(
            self.memory.update,
            item_id,
            text=text,
            metadata=metadata,
            importance=importance,
            valid_to=valid_to,
            reason=reason,
        )

    async def forget(
        self,
        *,
        user_id: str,
        ids: Sequence[str] | None = None,
        reason: str = "forgotten on request",
    ) -> int:
        """Delete memories for good (see :meth:`Memory.forget`); returns how many."""
        return await self._change(self.memory.forget, user_id=user_id, ids=ids, reason=reason)

    async def tick(self) -> Changes:
        """Let time-based policies act at the clock's current time."""
        return await self._change(self.memory.tick)

    async def preview(self, policy: RetentionPolicy | None = None) -> list[Decision]:
        """What a tick would decide now, without changing anything."""
        return await self._change(self.memory.preview, policy)

    async def apply(self, decisions: Sequence[Decision]) -> Changes:
        """Carry out policy decisions and log each with its reason."""
        return await self._change(self.memory.apply, list(decisions))

    async def undo(self, event_id: int) -> Changes:
        """Reverse one applied change (see :meth:`Memory.undo`)."""
        return await self._change(self.memory.undo, event_id)
