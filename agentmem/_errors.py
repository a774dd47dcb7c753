"""The exceptions agentmem raises.

Every exception derives from :class:`AgentMemError`, so one ``except`` catches them all::

    AgentMemError                 anything agentmem raises on purpose
    ├── UserError                 the caller used the API wrongly; the message says how to fix it
    │   ├── InvalidInputError     bad text, bad scope, bad argument value
    │   ├── NotFoundError         no memory with that id (in that scope)
    │   ├── ClosedError           the Memory or store was closed
    │   ├── MissingDependencyError  an optional dependency is not installed
    │   └── ModelLoadBlockedError loading a real model while tests forbid it
    ├── ModelError                a language model or embedder failed at run time
    ├── NotKeptError              a new memory was forgotten at once by a policy
    └── StoreError                a store failed at run time (corrupt file, disk full, ...)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentmem._models import MemoryItem

__all__ = [
    "AgentMemError",
    "ClosedError",
    "InvalidInputError",
    "MissingDependencyError",
    "ModelError",
    "ModelLoadBlockedError",
    "NotFoundError",
    "NotKeptError",
    "StoreError",
    "UserError",
]


class AgentMemError(Exception):
    """Base class of every error agentmem raises on purpose."""


class UserError(AgentMemError):
    """The API was used wrongly; the message says what to change."""


class InvalidInputError(UserError, ValueError):
    """An argument has a value agentmem cannot accept (empty text, oversize text, ...)."""


class NotFoundError(UserError, KeyError):
    """No memory with the given id exists (in the given scope)."""

    def __str__(self) -> str:
        # KeyError quotes its argument; keep the message readable.
        return str(self.args[0]) if self.args else ""


class ClosedError(UserError):
    """The Memory or store was closed; open a new one."""


class MissingDependencyError(UserError, ImportError):
    """An optional dependency is missing; the message names the pip command."""

    @classmethod
    def for_extra(cls, module: str, extra: str, feature: str) -> MissingDependencyError:
        """Build the error for a missing optional module behind a pip extra."""
        msg = (
            f"{feature} needs the optional module {module!r}, which is not installed. "
            f'Install it with: pip install "agentmem[{extra}]"'
        )
        return cls(msg)


class ModelLoadBlockedError(UserError):
    """A real model was about to load while model loads are forbidden (see ``agentmem.testing``)."""


class ModelError(AgentMemError):
    """A language model or embedder failed at run time (bad reply, server error, ...)."""


class NotKeptError(AgentMemError):
    """A memory was stored, then at once forgotten by a retention policy.

    Raised by :meth:`agentmem.Memory.add`, which returns only what is stored: e.g. a
    capacity policy evicted the new memory because it was the least important one. The
    write and the policy's decision are both in the audit log; ``item`` is the memory as
    it was written and ``reasons`` the decisions' reasons. Nothing needs undoing.
    """

    def __init__(self, item: MemoryItem, reasons: list[str]) -> None:
        self.item = item
        self.reasons = reasons
        why = "; ".join(reasons) or "forgotten by a retention policy"
        super().__init__(
            f"memory {item.id} was stored and at once not kept: {why} "
            f"(memory.history({item.id!r}) has every step)"
        )


class StoreError(AgentMemError):
    """A store failed at run time (corrupt index, unreadable file, ...)."""
