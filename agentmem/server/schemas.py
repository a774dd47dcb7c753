"""Request bodies of the HTTP API, and the few response envelopes that wrap library models.

Responses are otherwise the library's own pydantic models (:class:`~agentmem.MemoryItem`,
:class:`~agentmem.Hit`, :class:`~agentmem.MemoryEvent`, :class:`~agentmem.Decision`,
:class:`~agentmem.Changes`, :class:`~agentmem.Reply`), so the OpenAPI schema is theirs.
Values are checked again by :class:`~agentmem.Memory` itself, whose messages reach the
client as 422 responses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentmem._models import Kind, MemoryItem
from agentmem._protocols import Decision

__all__ = [
    "ChatRequest",
    "Forgotten",
    "MemoryPatch",
    "NewMemories",
    "NewMemory",
    "PolicyPreview",
    "PolicyRequest",
    "UndoRequest",
    "Users",
]

_STRICT = ConfigDict(extra="forbid")


class NewMemory(BaseModel):
    """A memory to store: ``POST /v1/memories``."""

    model_config = _STRICT

    text: str
    user_id: str
    agent_id: str | None = None
    session_id: str | None = None
    kind: Kind = Kind.MESSAGE
    created_at: datetime | None = Field(None, description="when it happened (default: now)")
    importance: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    source_ids: list[str] = Field(default_factory=list)


class NewMemories(BaseModel):
    """Several memories stored in one transaction: ``POST /v1/memories/batch``."""

    model_config = _STRICT

    memories: list[NewMemory] = Field(min_length=1, max_length=1000)


class MemoryPatch(BaseModel):
    """Fields to change in place: ``PATCH /v1/memories/{id}`` (old values go to history)."""

    model_config = _STRICT

    text: str | None = None
    metadata: dict[str, Any] | None = None
    importance: float | None = None
    valid_to: datetime | None = Field(None, description="close the memory at this time")
    reason: str = "updated through the API"


class PolicyRequest(BaseModel):
    """Which user's memories a policy tick is previewed or applied on, and by which policy."""

    model_config = _STRICT

    user_id: str
    policy: str | None = Field(
        None,
        description="a policy spec such as 'decay:threshold=0.2+capacity:max_items=200'; "
        "default: the server's own policies",
    )


class UndoRequest(BaseModel):
    """The audit event to reverse: ``POST /v1/policy/undo``."""

    model_config = _STRICT

    event_id: int


class ChatRequest(BaseModel):
    """One user turn for the agent: ``POST /v1/chat``."""

    model_config = _STRICT

    message: str
    user_id: str
    session_id: str | None = None
    agent_id: str | None = None


class Forgotten(BaseModel):
    """How many memories a forget removed for good."""

    forgotten: int


class Users(BaseModel):
    """The users a key may see; ``admin`` keys see every user that has memories."""

    users: list[str]
    admin: bool


class PolicyPreview(BaseModel):
    """What a tick would do to one user's memories, without changing anything."""

    decisions: list[Decision]
    items: dict[str, MemoryItem] = Field(
        default_factory=dict, description="the memories the decisions name, by id"
    )
