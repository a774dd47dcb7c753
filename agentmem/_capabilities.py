"""Optional store capabilities: what a store may offer beyond :class:`MemoryStore`.

:class:`~agentmem.Memory` checks for each with ``isinstance`` and uses it when it is
there; a store without it still works (slower, or without the guarantee it gives). Every
bundled SQLite store has all of them. Write a store that offers one by giving it the
methods below; nothing needs to be subclassed.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from agentmem._models import Filters, MemoryItem, Scope
from agentmem._protocols import Embedder

if TYPE_CHECKING:
    from agentmem._audit import AuditLog

__all__ = [
    "AuditedStore",
    "BatchGetStore",
    "ColumnarStore",
    "EmbeddingStore",
    "ErasingStore",
    "FactStore",
    "LazyCommitStore",
    "PurgingStore",
    "TouchingStore",
    "TransactionalStore",
]


@runtime_checkable
class ColumnarStore(Protocol):
    """Reads items as raw columns, so policies decide over many without building items."""

    def columns(
        self,
        *,
        scope: Scope | None = None,
        filters: Filters | None = None,
        include_closed: bool = True,
        extra: Sequence[str] = (),
    ) -> dict[str, list[Any]]:
        """The frame columns (and ``extra``) of the items, oldest first, one list each."""
        ...


@runtime_checkable
class BatchGetStore(Protocol):
    """Looks up many ids in one call."""

    def get_many(self, ids: Sequence[str]) -> dict[str, MemoryItem]:
        """The items with these ids that exist here, by id."""
        ...


@runtime_checkable
class EmbeddingStore(Protocol):
    """Embeds with a known embedder: a memory's policies default to it."""

    @property
    def embedder(self) -> Embedder:
        """The embedder the store's vectors come from."""
        ...


@runtime_checkable
class TransactionalStore(Protocol):
    """Groups writes: a change and its audit events commit together."""

    def transaction(self) -> AbstractContextManager[Any]:
        """A re-entrant transaction (nested = savepoint) every call inside joins."""
        ...


@runtime_checkable
class AuditedStore(Protocol):
    """Keeps the audit log in its own database, so events commit with the changes."""

    def audit_sink(self) -> AuditLog:
        """An audit log writing into the store's database, joining its transaction."""
        ...


@runtime_checkable
class TouchingStore(Protocol):
    """Counts a recall atomically (no lost increments between processes)."""

    def touch(self, ids: Sequence[str], when: datetime) -> dict[str, int]:
        """Add one access at ``when`` to each id; return the new access counts."""
        ...


@runtime_checkable
class LazyCommitStore(Protocol):
    """Can commit bookkeeping (a search's access counts and event) without waiting for the disk.

    Inside ``lazy_commit()`` the store's next outermost transaction commits without
    flushing to the disk (SQLite: ``synchronous=NORMAL`` in WAL mode): it survives a crashed
    or killed process like any commit, and on power loss it may roll back, whole (never
    half), unless a later durable commit of the same database flushed it first.
    ``Memory.search`` uses it for the access update, so a search does not wait for an
    fsync; memories themselves are always written durably.
    """

    def lazy_commit(self) -> AbstractContextManager[Any]:
        """A block whose outermost transaction commits without an fsync."""
        ...


@runtime_checkable
class ErasingStore(Protocol):
    """Keeps more of a user than items (facts, records) and erases it with them."""

    def erase_user(self, user_id: str) -> object:
        """Delete everything of ``user_id`` the store keeps beside its items."""
        ...


class FactTableLike(Protocol):
    """What ``copy_memory`` needs of a store's fact table (``FactTable``'s methods)."""

    def users(self) -> list[str]:
        """Every user with at least one fact."""
        ...

    def set_directly(self) -> Sequence[Any]:
        """This user's fact records set directly (not drawn from a fact memory)."""
        ...

    def restore(self, records: Sequence[Any]) -> int:
        """Store records as they are unless already there; return how many."""
        ...


@runtime_checkable
class FactStore(Protocol):
    """Keeps structured facts (``subject.attribute = value`` over time) per user."""

    def facts(self, user_id: str) -> FactTableLike:
        """The user's fact table."""
        ...


@runtime_checkable
class PurgingStore(Protocol):
    """Can make deleted data unrecoverable from its files (after an erase)."""

    def purge(self) -> None:
        """Remove what deleted rows left behind (free pages, write-ahead log)."""
        ...
