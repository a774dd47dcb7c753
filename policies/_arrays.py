"""Item fields as numpy arrays, so a policy decides over 100k memories without a Python loop."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

__all__ = ["ages", "seconds", "to_seconds"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
