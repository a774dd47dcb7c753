"""The contracts components plug into: stores, policies, chat models and embedders."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from agentmem._models import Filters, Hit, MemoryItem, Scope

__all__ = [
    "Action",
    "ChatMessage",
    "ChatModel",
    "ChatResult",
    "Decision",
    "Embedder",
    "MemoryStore",
    "PolicyContext",
    "RetentionPolicy",
]

Role = Literal["system", "user", "assistant"]


class ChatMessage(BaseModel):
    """One message of a chat: who said it and what."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    role: Role
    content: str


class ChatResult(BaseModel):
    """What a chat model answered, with the token counts it reports (or estimates)."""

    model_config = ConfigDict(defer_build=True)

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""


@runtime_checkable
class ChatModel(Protocol):
    """A language model: messages in, text and token usage out."""

    def chat(self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None) -> ChatResult:
        """Answer the conversation ``messages``."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Texts in, L2-normalised float32 vectors out (one row per text)."""

    @property
    def dim(self) -> int:
        """The vector dimension."""
        ...

    @property
    def name(self) -> str:
        """A name that identifies the model (used to detect a changed model on reopen)."""
        ...

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed ``texts`` into an array of shape ``(len(texts), dim)``."""
        ...


@runtime_checkable
class MemoryStore(Protocol):
    """Where memories live. Every store persists, scopes by user, and passes the contract suite.

    ``search`` with ``as_of=None`` returns only open memories (``valid_to`` unset); with a
    time, only memories valid at that time. ``scan`` returns everything in scope, closed
    memories included unless ``include_closed=False``.
    """

    name: str

    def add(self, items: Sequence[MemoryItem]) -> None:
        """Store new items atomically: all of them or none."""
        ...

    def get(self, item_id: str) -> MemoryItem | None:
        """Return the item with this id, or ``None``."""
        ...

    def search(
        self,
        query: str,
        *,
        scope: Scope,
        k: int = 10,
        filters: Filters | None = None,
        as_of: datetime | None = None,
    ) -> list[Hit]:
        """Return up to ``k`` items in ``scope`` most relevant to ``query``, best first."""
        ...

    def update(self, items: Sequence[MemoryItem]) -> None:
        """Replace stored items (matched by id) atomically; unknown ids raise NotFoundError."""
        ...

    def delete(self, ids: Sequence[str]) -> int:
        """Delete items for good; return how many existed."""
        ...

    def scan(
        self,
        *,
        scope: Scope | None = None,
        filters: Filters | None = None,
        include_closed: bool = True,
    ) -> Iterator[MemoryItem]:
        """Iterate over stored items, oldest first."""
        ...

    def count(self, *, scope: Scope | None = None) -> int:
        """Count stored items (in ``scope`` if given)."""
        ...

    def close(self) -> None:
        """Flush and release resources; further calls raise ClosedError."""
        ...


class Action(StrEnum):
    """What a retention policy decided for some memories."""

    KEEP = "keep"
    DECAY = "decay"
    UPDATE = "update"
    MERGE = "merge"
    FORGET = "forget"


class Decision(BaseModel):
    """A policy's decision about some memories, with its reason.

    - ``keep``: nothing changes (recorded only in previews).
    - ``decay`` / ``update``: set ``changes`` (field -> new value) on every item in
      ``item_ids``; an update that sets ``valid_to`` closes a superseded memory.
    - ``merge``: store ``merged`` and close (``valid_to``) every item in ``item_ids``.
    - ``forget``: delete every item in ``item_ids`` for good; ``kept`` names the memory
      that stands in its place when the forgotten one duplicated it.
    """

    model_config = ConfigDict(defer_build=True)

    action: Action
    item_ids: list[str]
    reason: str
    policy: str
    changes: dict[str, Any] = Field(default_factory=dict)
    merged: MemoryItem | None = None
    kept: str | None = None


class PolicyContext(Protocol):
    """Read access to memory that a policy gets when it is asked to decide."""

    @property
    def now(self) -> datetime:
        """The current time of the memory's clock."""
        ...

    @property
    def embedder(self) -> Embedder | None:
        """The memory's embedder, if it has one."""
        ...

    def scan(
        self,
        *,
        scope: Scope | None = None,
        filters: Filters | None = None,
        include_closed: bool = False,
    ) -> Iterator[MemoryItem]:
        """Iterate over the items of every store."""
        ...

    def get(self, item_id: str) -> MemoryItem | None:
        """Return an item from any store, or ``None``."""
        ...


@runtime_checkable
class RetentionPolicy(Protocol):
    """A rule for keeping, decaying, updating, merging and forgetting memories.

    A policy only proposes :class:`Decision` objects; the ``Memory`` applies and logs them.
    """

    name: str

    def on_write(self, items: Sequence[MemoryItem], ctx: PolicyContext) -> list[Decision]:
        """Decide what changes now that ``items`` were written."""
        ...

    def on_access(self, items: Sequence[MemoryItem], ctx: PolicyContext) -> list[Decision]:
        """Decide what changes now that ``items`` were recalled."""
        ...

    def on_tick(self, ctx: PolicyContext) -> list[Decision]:
        """Decide what changes as time passes (called once per turn or on demand)."""
        ...
