"""Clocks: where agentmem gets the time from.

Library code never reads the wall clock directly: every component takes a ``Clock``, so a
test, a demo or an evaluator replaying months of dated sessions decides what "now" is.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from agentmem._errors import InvalidInputError

__all__ = ["Clock", "ManualClock", "SystemClock", "as_utc"]


@runtime_checkable
class Clock(Protocol):
    """Anything that tells the current time as an aware UTC datetime."""

    def now(self) -> datetime:
        """Return the current time."""
        ...


class SystemClock:
    """The real time of the machine (the default outside tests and replays)."""

    def now(self) -> datetime:
        """Return the machine's current time in UTC."""
        return datetime.fromtimestamp(time.time(), tz=UTC)


class ManualClock:
    """A clock that only moves when told to: for tests, demos and dataset replays.

    Args:
        start: the initial time; naive datetimes are taken as UTC.
    """

    def __init__(self, start: datetime) -> None:
        self._now = as_utc(start)

    def now(self) -> datetime:
        """Return the time the clock was last set to."""
        return self._now

    def set(self, when: datetime) -> None:
        """Move the clock to ``when`` (forwards or backwards)."""
        self._now = as_utc(when)

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forwards by ``delta`` and return the new time."""
        if delta < timedelta(0):
            msg = f"advance() takes a non-negative delta, got {delta}; use set() to go back"
            raise InvalidInputError(msg)
        self._now = self._now + delta
        return self._now


def as_utc(when: datetime) -> datetime:
    """Return ``when`` as an aware UTC datetime; naive datetimes are taken as UTC."""
    if not isinstance(when, datetime):
        msg = f"expected a datetime, got {type(when).__name__}: {when!r}"
        raise InvalidInputError(msg)
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)
