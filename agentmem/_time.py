"""The time codec shared by core and stores: aware datetimes as integer microseconds.

Times are stored as integer microseconds since the Unix epoch (exact, and comparable in
SQL). This module is core: stores and policies import it, it imports nothing of theirs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["describe_duration", "from_micros", "opt_micros", "opt_time", "to_micros"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def to_micros(when: datetime) -> int:
    """Exact integer microseconds since the epoch for an aware datetime."""
    return (when - _EPOCH) // _MICRO


def from_micros(value: int) -> datetime:
    """The aware UTC datetime for integer microseconds since the epoch."""
    return _EPOCH + value * _MICRO


def opt_micros(when: datetime | None) -> int | None:
    """:func:`to_micros`, passing ``None`` through."""
    return None if when is None else to_micros(when)


def opt_time(value: int | None) -> datetime | None:
    """:func:`from_micros`, passing ``None`` through."""
    return None if value is None else from_micros(value)


_DURATION_UNITS = (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1))


def describe_duration(span: timedelta) -> str:
    """A duration as people say it, to the two largest units: ``"1 day 6 hours"``."""
    left = round(abs(span.total_seconds()))
    parts = []
    for unit, size in _DURATION_UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    if not parts:
        return f"{abs(span.total_seconds()):g} seconds"
    return " ".join(parts[:2])
