"""AsyncMemory: the Memory API with ``async`` methods, safe from many tasks at once.

Each method is :class:`~agentmem.Memory`'s own, forwarded (same arguments, same
docstring), so the two APIs cannot drift apart.

Embedding and SQLite run in a bounded thread pool, so the event loop never waits on
them. Changes (and searches, which record access) go one at a time through a lock
shared by every :class:`AsyncMemory` over the same :class:`~agentmem.Memory`; plain
reads (``get``, ``items``, ``count``, ``history``, ``events``) run side by side.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import weakref
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec, TypeVar, Unpack

from agentmem._errors import UserError
from agentmem._memory import Memory
from agentmem._models import MemoryItem
from agentmem._records import ItemFields

__all__ = ["AsyncMemory", "memory_lock"]

T = TypeVar("T")
P = ParamSpec("P")

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


def _awaited(
    method: Callable[Concatenate[Memory, P], T],
    *,
    changes: bool | Callable[[dict[str, Any]], bool] = True,
) -> Callable[Concatenate[AsyncMemory, P], Coroutine[Any, Any, T]]:
    """``method`` of :class:`Memory` as a coroutine method of :class:`AsyncMemory`.

    Same arguments, same docstring; it runs in the pool, under the change lock when it
    ``changes`` memory (a bool, or a test of the keyword arguments: a search changes
    memory only when it records the access).
    """

    async def call(self: AsyncMemory, /, *args: P.args, **kwargs: P.kwargs) -> T:
        locked = changes(kwargs) if callable(changes) else changes
        run = self._change if locked else self._read
        return await run(method, self.memory, *args, **kwargs)

    functools.update_wrapper(call, method)
    call.__qualname__ = f"AsyncMemory.{method.__name__}"
    return call


def _opening(open_memory: Callable[P, Memory]) -> Callable[P, AsyncMemory]:
    """A :class:`Memory` constructor as an :class:`AsyncMemory` one (same arguments)."""

    def opened(*args: P.args, **kwargs: P.kwargs) -> AsyncMemory:
        return AsyncMemory(open_memory(*args, **kwargs))

    functools.update_wrapper(opened, open_memory)
    opened.__qualname__ = f"AsyncMemory.{open_memory.__name__}"
    return opened


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
    # Memory's own constructors, wrapped (same arguments); the pool gets max_workers=4.
    # For another pool size: AsyncMemory(Memory.default(path), max_workers=8).
    default = staticmethod(_opening(Memory.default))
    from_url = staticmethod(_opening(Memory.from_url))
    in_memory = staticmethod(_opening(Memory.in_memory))

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

    # -- the Memory API, awaited -------------------------------------------------------
    def make_item(
        self, text: str | bytes, *, user_id: str, **fields: Unpack[ItemFields]
    ) -> MemoryItem:
        """Build a validated item (no I/O): see :meth:`Memory.make_item`."""
        return self.memory.make_item(text, user_id=user_id, **fields)

    add = _awaited(Memory.add)
    add_many = _awaited(Memory.add_many)
    write = _awaited(Memory.write)
    get = _awaited(Memory.get, changes=False)
    search = _awaited(Memory.search, changes=lambda kw: bool(kw.get("record_access", True)))
    items = _awaited(Memory.items, changes=False)
    count = _awaited(Memory.count, changes=False)
    history = _awaited(Memory.history, changes=False)
    events = _awaited(Memory.events, changes=False)
    update = _awaited(Memory.update)
    forget = _awaited(Memory.forget)
    tick = _awaited(Memory.tick)
    preview = _awaited(Memory.preview)
    apply = _awaited(Memory.apply)
    undo = _awaited(Memory.undo)
