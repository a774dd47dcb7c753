"""The data model: memories, scopes, search hits and audit events."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from agentmem._clock import as_utc
from agentmem._validation import check_metadata, check_time, normalize_id

__all__ = ["EventOp", "Filters", "Hit", "Kind", "MemoryEvent", "MemoryItem", "Scope", "new_id"]


def new_id() -> str:
    """Return a fresh random memory id (32 hex characters)."""
    return uuid.uuid4().hex


class Kind(StrEnum):
    """What a memory is."""

    MESSAGE = "message"
    FACT = "fact"
    THOUGHT = "thought"
    SUMMARY = "summary"
    FEEDBACK = "feedback"


class EventOp(StrEnum):
    """What an audit event did to memory."""

    ADD = "add"
    UPDATE = "update"
    MERGE = "merge"
    DECAY = "decay"
    FORGET = "forget"
    ACCESS = "access"


def _check_id(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        msg = f"{name} must be a non-empty string, got {value!r}"
        raise ValueError(msg)
    value = normalize_id(value)
    if len(value) > 256:
        msg = f"{name} is {len(value)} characters long; the limit is 256"
        raise ValueError(msg)
    return value


class Scope(BaseModel):
    """Whose memory this is: a user, optionally narrowed to an agent and a session.

    A search always names a user and never sees another user's memories; ``agent_id`` and
    ``session_id``, when given, narrow it further. Ids are kept in Unicode NFC, so two
    spellings of the same name (composed or decomposed accents) are one id.
    """

    model_config = ConfigDict(defer_build=True, frozen=True)

    user_id: str
    agent_id: str | None = None
    session_id: str | None = None

    @field_validator("user_id")
    @classmethod
    def _user(cls, value: str) -> str:
        checked = _check_id(value, "user_id")
        assert checked is not None
        return checked

    @field_validator("agent_id", "session_id")
    @classmethod
    def _optional(cls, value: str | None) -> str | None:
        return _check_id(value, "agent_id / session_id")

    def contains(self, other: Scope) -> bool:
        """Whether ``other`` lies inside this scope (same user; same agent/session if set)."""
        return (
            self.user_id == other.user_id
            and (self.agent_id is None or self.agent_id == other.agent_id)
            and (self.session_id is None or self.session_id == other.session_id)
        )


class MemoryItem(BaseModel):
    """One memory: a message, a fact, a thought, a summary or a piece of feedback.

    ``created_at`` is when it happened in the conversation, ``recorded_at`` when it was
    stored. A superseded fact is closed by setting ``valid_to``, not deleted, so history
    survives. All datetimes are aware UTC (naive ones are taken as UTC).
    """

    model_config = ConfigDict(defer_build=True, validate_assignment=True)

    id: str = Field(default_factory=new_id)
    text: str
    kind: Kind = Kind.MESSAGE
    scope: Scope
    created_at: datetime
    recorded_at: datetime
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    importance: float = Field(default=0.5, ge=0.0)
    strength: float = Field(default=1.0, gt=0.0)
    access_count: int = Field(default=0, ge=0)
    last_accessed_at: datetime | None = None
    source_ids: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("created_at", "recorded_at", "valid_from", "valid_to", "last_accessed_at")
    @classmethod
    def _utc(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        return None if value is None else as_utc(check_time(value, str(info.field_name)))

    @field_validator("metadata", mode="before")
    @classmethod
    def _json(cls, value: object) -> dict[str, Any]:
        return check_metadata(value)

    @model_validator(mode="after")
    def _validity(self) -> MemoryItem:
        if self.valid_from is None:
            # Bypass validate_assignment recursion by writing to __dict__.
            self.__dict__["valid_from"] = self.created_at
        if self.valid_to is not None and self.valid_from is not None:
            if self.valid_to < self.valid_from:
                msg = f"valid_to ({self.valid_to}) is before valid_from ({self.valid_from})"
                raise ValueError(msg)
        return self

    def is_valid_at(self, when: datetime | None) -> bool:
        """Whether the memory holds at ``when`` (``None``: whether it is still open)."""
        if when is None:
            return self.valid_to is None
        start = self.valid_from or self.created_at
        return start <= when and (self.valid_to is None or when < self.valid_to)


class Filters(BaseModel):
    """Conditions a search result must meet, beyond its scope."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    kinds: tuple[Kind, ...] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("created_after", "created_before")
    @classmethod
    def _utc(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        return None if value is None else as_utc(check_time(value, str(info.field_name)))

    @field_validator("metadata", mode="before")
    @classmethod
    def _json(cls, value: object) -> dict[str, Any]:
        return check_metadata(value)

    def matches(self, item: MemoryItem) -> bool:
        """Whether ``item`` passes every condition."""
        if self.kinds is not None and item.kind not in self.kinds:
            return False
        if self.created_after is not None and item.created_at < self.created_after:
            return False
        if self.created_before is not None and item.created_at >= self.created_before:
            return False
        return all(item.metadata.get(key) == value for key, value in self.metadata.items())


class Hit(BaseModel):
    """A search result: the memory, its score, and which store and signal found it."""

    model_config = ConfigDict(defer_build=True)

    item: MemoryItem
    score: float
    store: str
    signal: str = "dense"


class MemoryEvent(BaseModel):
    """One line of the audit log: what changed, why, and who decided."""

    model_config = ConfigDict(defer_build=True)

    id: int | None = None
    op: EventOp
    item_ids: list[str]
    user_id: str
    at: datetime
    reason: str = ""
    policy: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)
