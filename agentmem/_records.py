"""The records ``Memory.add_many`` takes: texts, or mappings of a text and its fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentmem._errors import InvalidInputError
from agentmem._models import MemoryItem

if TYPE_CHECKING:
    from agentmem._memory import Memory

__all__ = ["RECORD_KEYS", "record_item"]

RECORD_KEYS = frozenset(
    {"text", "agent_id", "session_id", "kind", "created_at", "importance", "metadata", "source_ids"}
)


def record_item(
    memory: Memory,
    record: str | bytes | Mapping[str, Any],
    position: int,
    user_id: str,
    defaults: Mapping[str, Any],
) -> MemoryItem:
    """One record of :meth:`add_many` as a validated item."""
    if isinstance(record, (str, bytes)):
        return memory.make_item(record, user_id=user_id, **defaults)
    if not isinstance(record, Mapping):
        got = type(record).__name__
        msg = f"add_many record {position} must be a text or a mapping, got {got}"
        raise InvalidInputError(msg)
    unknown = sorted(set(record) - RECORD_KEYS)
    if unknown or "text" not in record:
        msg = (
            f"add_many record {position}: needs 'text' and takes only "
            f"{sorted(RECORD_KEYS)}; got {sorted(record)}"
        )
        raise InvalidInputError(msg)
    fields = {**defaults, **{k: v for k, v in record.items() if k != "text"}}
    return memory.make_item(record["text"], user_id=user_id, **fields)
