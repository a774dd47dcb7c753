"""Dates, relative times and names found in queries, relative to an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agentmem import ManualClock
from agentmem.stores import parse_query

CLOCK = ManualClock(datetime(2024, 3, 15, 10, 30, tzinfo=UTC))


def window(query: str) -> tuple[datetime, datetime]:
    parsed = parse_query(query, CLOCK.now())
    assert len(parsed.windows) == 1, parsed
    return parsed.windows[0].start, parsed.windows[0].end


def d(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        ("what did I do yesterday?", d(2024, 3, 14), d(2024, 3, 15)),
        ("anything today", d(2024, 3, 15), d(2024, 3, 16)),
        ("where did we go last May", d(2023, 5, 1), d(2023, 6, 1)),
        ("what happened in March", d(2024, 3, 1), d(2024, 4, 1)),
        ("plans for this May", d(2024, 5, 1), d(2024, 6, 1)),
        ("the trip in 2023", d(2023, 1, 1), d(2024, 1, 1)),
        ("back in May 2022", d(2022, 5, 1), d(2022, 6, 1)),
        ("on 12 May 2023", d(2023, 5, 12), d(2023, 5, 13)),
        ("on May 3rd, 2022", d(2022, 5, 3), d(2022, 5, 4)),
        ("on 2023-07-09", d(2023, 7, 9), d(2023, 7, 10)),
        ("last week", d(2024, 3, 4), d(2024, 3, 11)),
        ("last month", d(2024, 2, 1), d(2024, 3, 1)),
        ("last year", d(2023, 1, 1), d(2024, 1, 1)),
        ("three days ago", d(2024, 3, 11), d(2024, 3, 14)),
    ],
)
def test_time_phrases(query: str, start: datetime, end: datetime) -> None:
    assert window(query) == (start, end)


def test_weeks_ago_is_a_window_around_that_day() -> None:
    start, end = window("two weeks ago")
    assert start < d(2024, 3, 1) < end
    assert end - start <= (d(2024, 3, 10) - d(2024, 2, 25))


def test_the_clock_decides_what_relative_means() -> None:
    clock = ManualClock(datetime(2023, 1, 2, tzinfo=UTC))
    parsed = parse_query("yesterday", clock.now())
    assert parsed.windows[0].start == d(2023, 1, 1)
    clock.set(datetime(2025, 3, 1, tzinfo=UTC))  # May 2025 has not come yet
    assert parse_query("last May", clock.now()).windows[0].start == d(2024, 5, 1)
    assert parse_query("in May", clock.now()).windows[0].start == d(2024, 5, 1)
    clock.set(datetime(2025, 6, 1, tzinfo=UTC))  # the latest May that is over
    assert parse_query("last May", clock.now()).windows[0].start == d(2025, 5, 1)


def test_names_are_capitalised_words_that_are_not_question_words() -> None:
    parsed = parse_query("When did Alice move to Lisbon with Jean-Luc last May?", CLOCK.now())
    assert parsed.names == ["Alice", "Lisbon", "Jean-Luc"]
    assert parse_query("What is the weather like?", CLOCK.now()).names == []


def test_no_time_no_window() -> None:
    assert parse_query("where does Bob live", CLOCK.now()).windows == []
