"""Item fields as numpy arrays, so a policy decides over 100k memories without a Python loop."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agentmem._columns import FRAME_COLUMNS, item_columns
from agentmem._models import Filters, Kind, MemoryItem, Scope
from agentmem._protocols import PolicyContext
from agentmem._time import from_micros

__all__ = ["NEVER", "Frame", "ages", "read_columns", "read_frame", "seconds", "to_seconds"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NEVER = np.iinfo(np.int64).min  # ``last_accessed_at`` of a memory never recalled


def to_seconds(when: datetime) -> float:
    """Seconds since the Unix epoch of an aware datetime."""
    return (when - _EPOCH).total_seconds()


def seconds(delta: timedelta) -> float:
    """A duration in seconds."""
    return delta.total_seconds()


def ages(times: Sequence[datetime], now: datetime) -> NDArray[np.float64]:
    """Seconds from each of ``times`` to ``now`` (negative for times in the future)."""
    stamps = np.fromiter((t.timestamp() for t in times), dtype=np.float64, count=len(times))
    return now.timestamp() - stamps


def _micros(values: list[Any]) -> NDArray[np.int64]:
    return np.asarray(values, dtype=np.int64)


def _objects(values: Sequence[Any]) -> NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


_STRINGS = ("ids", "user_id", "agent_id", "session_id", "kind")
_NUMBERS = ("created_at", "recorded_at", "valid_from", "last_accessed_at", "importance", "strength")


@dataclass
class Frame:
    """Memories as columns: what the time-based policies decide on.

    Times are integer microseconds since the epoch (``last_accessed_at`` is ``NEVER``
    when the memory was never recalled); ``extra`` holds any extra columns read
    (``text``, ``metadata``, ``embedding``) as object arrays.
    """

    ids: NDArray[np.object_]
    user_id: NDArray[np.object_]
    agent_id: NDArray[np.object_]
    session_id: NDArray[np.object_]
    kind: NDArray[np.object_]
    created_at: NDArray[np.int64]
    recorded_at: NDArray[np.int64]
    valid_from: NDArray[np.int64]
    last_accessed_at: NDArray[np.int64]
    importance: NDArray[np.float64]
    strength: NDArray[np.float64]
    extra: dict[str, NDArray[np.object_]]

    @classmethod
    def from_columns(cls, columns: dict[str, list[Any]]) -> Frame:
        """A frame from a store's raw ``columns`` read."""
        accessed = columns["last_accessed_at"]
        return cls(
            ids=_objects(columns["id"]),
            user_id=_objects(columns["user_id"]),
            agent_id=_objects(columns["agent_id"]),
            session_id=_objects(columns["session_id"]),
            kind=_objects(columns["kind"]),
            created_at=_micros(columns["created_at"]),
            recorded_at=_micros(columns["recorded_at"]),
            valid_from=_micros(columns["valid_from"]),
            last_accessed_at=_micros([NEVER if a is None else a for a in accessed]),
            importance=np.asarray(columns["importance"], dtype=np.float64),
            strength=np.asarray(columns["strength"], dtype=np.float64),
            extra={k: _objects(v) for k, v in columns.items() if k not in FRAME_COLUMNS},
        )

    @classmethod
    def from_items(cls, items: Iterable[MemoryItem], extra: Sequence[str] = ()) -> Frame:
        """A frame of a list of items."""
        return cls.from_columns(item_columns(items, extra))

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, positions: NDArray[np.intp]) -> Frame:
        """The memories at ``positions``, as a new frame."""
        fields: dict[str, Any] = {name: getattr(self, name)[positions] for name in _STRINGS}
        fields.update({name: getattr(self, name)[positions] for name in _NUMBERS})
        return Frame(**fields, extra={k: v[positions] for k, v in self.extra.items()})

    def last_used(self) -> NDArray[np.int64]:
        """The last recall, or when it happened if never recalled."""
        return np.where(self.last_accessed_at != NEVER, self.last_accessed_at, self.created_at)

    def ages(self, stamps: NDArray[np.int64], now: datetime) -> NDArray[np.float64]:
        """Seconds from each of ``stamps`` (microseconds) to ``now``."""
        return now.timestamp() - stamps / 1e6

    def of_kinds(self, kinds: frozenset[Kind] | None) -> NDArray[np.intp]:
        """Positions of the memories of these kinds (every position when ``None``)."""
        if kinds is None:
            return np.arange(len(self.ids))
        return np.flatnonzero(np.isin(self.kind, [kind.value for kind in kinds]))

    def time(self, position: int, column: str) -> datetime:
        """One memory's time column as a datetime."""
        return from_micros(int(getattr(self, column)[position]))


def read_columns(
    ctx: PolicyContext,
    *,
    scope: Scope | None = None,
    filters: Filters | None = None,
    include_closed: bool = False,
    extra: Sequence[str] = (),
) -> dict[str, list[Any]]:
    """Raw columns of ``ctx``'s memories: a fast columnar read when it offers one."""
    read = getattr(ctx, "columns", None)
    if read is not None:
        columns: dict[str, list[Any]] = read(
            scope=scope, filters=filters, include_closed=include_closed, extra=extra
        )
        return columns
    found = ctx.scan(scope=scope, filters=filters, include_closed=include_closed)
    return item_columns(found, extra)


def read_frame(
    ctx: PolicyContext,
    *,
    scope: Scope | None = None,
    filters: Filters | None = None,
    extra: Sequence[str] = (),
) -> Frame:
    """The open memories of ``ctx`` as a frame: a fast columnar read when it offers one."""
    shared = getattr(ctx, "frame", None)
    if shared is not None:  # a Policies([...]) overlay: one read shared by its policies
        frame: Frame = shared(scope=scope, filters=filters, extra=extra)
        return frame
    return Frame.from_columns(read_columns(ctx, scope=scope, filters=filters, extra=extra))
