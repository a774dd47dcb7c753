"""A new memory's optional fields, and the records ``Memory.add_many`` takes.

The fields are written once, here, as a ``TypedDict``: ``Memory.make_item``, ``add`` and
``add_many`` (and so ``AsyncMemory``'s) take them as typed keywords.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from agentmem._errors import InvalidInputError
from agentmem._models import Kind, MemoryItem

if TYPE_CHECKING:
    from agentmem._memory import Memory

__all__ = ["RECORD_KEYS", "ItemFields", "record_item"]


class ItemFields(TypedDict, total=False):
    """The optional fields of a new memory, as keywords (each may be left out)."""

    agent_id: str | None
    session_id: str | None
    kind: Kind | str
    created_at: datetime | None
    importance: float | None
    metadata: Mapping[str, Any] | None
    source_ids: Sequence[str]


RECORD_KEYS = frozenset({"text", *ItemFields.__optional_keys__})


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
