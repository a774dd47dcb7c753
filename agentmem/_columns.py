"""Items as raw columns: what a store's fast ``columns`` read returns, built from items.

Stores that keep items in SQLite answer ``columns(...)`` straight from SQL; for any other
store (or a list of items) :func:`item_columns` builds the same lists, so code that decides
over many memories at once has one input format.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from agentmem._models import MemoryItem
from agentmem._time import opt_micros, to_micros

__all__ = ["FRAME_COLUMNS", "item_columns", "merge_columns"]

# What retention policies decide on: read column by column, no item objects built.
FRAME_COLUMNS = (
    "id",
    "user_id",
    "agent_id",
    "session_id",
    "kind",
    "created_at",
    "recorded_at",
    "valid_from",
    "importance",
    "strength",
    "last_accessed_at",
)


def _column(items: list[MemoryItem], name: str) -> list[Any]:
    if name in ("user_id", "agent_id", "session_id"):
        return [getattr(item.scope, name) for item in items]
    if name == "kind":
        return [item.kind.value for item in items]
    if name == "valid_from":
        return [to_micros(item.valid_from or item.created_at) for item in items]
    if name in ("created_at", "recorded_at", "last_accessed_at", "valid_to"):
        return [opt_micros(getattr(item, name)) for item in items]
    if name == "metadata":
        return [json.dumps(item.metadata, sort_keys=True, default=str) for item in items]
    if name == "embedding":
        return [None] * len(items)
    return [getattr(item, name) for item in items]


def item_columns(items: Iterable[MemoryItem], extra: Sequence[str] = ()) -> dict[str, list[Any]]:
    """The columns a store's ``columns`` read returns, built from items (no embeddings)."""
    listed = list(items)
    return {name: _column(listed, name) for name in (*FRAME_COLUMNS, *extra)}


def merge_columns(parts: Sequence[dict[str, list[Any]]]) -> dict[str, list[Any]]:
    """Several stores' columns as one (concatenated in order)."""
    if len(parts) == 1:
        return parts[0]
    out: dict[str, list[Any]] = {name: [] for name in parts[0]}
    for part in parts:
        for name, values in part.items():
            out[name] += values
    return out
