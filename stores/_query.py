"""Query understanding without a model: dates, relative times and names in a query.

``parse_query("where did Alice go last May?", now)`` finds the time window the query
talks about (May of the year before ``now`` if May has not come yet this year) and the
capitalised names in it, so a search can boost memories from that window and memories
that mention those names. Everything is relative to the ``now`` it is given (the
injected clock's time, or an explicit reference time), never to the wall clock.
"""

from __future__ import annotations

import calendar
import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from agentmem._models import MemoryItem
from agentmem._validation import MAX_TIME, MIN_TIME

__all__ = [
    "ParsedQuery",
    "TimeWindow",
    "describe",
    "mentioned_times",
    "name_share",
    "parse_query",
    "resolved_dates",
    "speaks_of",
    "without_addressees",
]


@dataclass(frozen=True)
class TimeWindow:
    """A half-open span of time ``[start, end)`` and the phrase it came from."""

    start: datetime
    end: datetime
    phrase: str

    def contains(self, when: datetime) -> bool:
        """Whether ``when`` lies in the window."""
        return self.start <= when < self.end


@dataclass(frozen=True)
class ParsedQuery:
    """What a query says beyond its words: time windows and names."""

    text: str
    windows: list[TimeWindow] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "a couple of": 2,
    "a few": 3,
    "several": 3,
}
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_NUMBER_RE = r"\d+|" + "|".join(sorted(_NUMBERS, key=len, reverse=True))

_AGO = re.compile(rf"\b({_NUMBER_RE})\s+(day|week|month|year)s?\s+(ago|before|earlier)\b", re.I)
_LAST_UNIT = re.compile(r"\b(last|past|previous|this)\s+(week|month|year|weekend)\b", re.I)
_DAY_MONTH_YEAR = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_RE})\.?,?\s+(\d{{4}})\b", re.I
)
_MONTH_DAY_YEAR = re.compile(
    rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I
)
_MONTH_YEAR = re.compile(rf"\b({_MONTH_RE})\.?,?\s+(?:of\s+)?(\d{{4}})\b", re.I)
_LAST_MONTH_NAME = re.compile(rf"\b(last|this|in|during|since)\s+({_MONTH_RE})\b", re.I)
_YEAR = re.compile(r"\b(?:in|during|of|since)\s+((?:19|20)\d{2})\b", re.I)
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DAYWORDS = {"yesterday": 1, "today": 0, "tonight": 0, "last night": 1}
_DAYWORD = re.compile(r"\b(yesterday|today|tonight|last night)\b", re.I)
_WORDS = re.compile(r"\w+", re.UNICODE)
_NAME = re.compile(r"\b[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?\b")
_NOT_NAMES = {
    "what", "when", "where", "who", "whom", "whose", "why", "how", "which", "is", "are",
    "was", "were", "did", "does", "do", "has", "have", "had", "can", "could", "would",
    "should", "will", "the", "a", "an", "i", "in", "on", "at", "and", "or", "if", "tell",
    "please", "last", "this", "my", "your", "his", "her", "their", "our", "yesterday",
    "today", "before", "after", "since", "during", "with", "about", "from", "to", "of",
}  # fmt: skip


def _day_start(when: datetime) -> datetime:
    return when.replace(hour=0, minute=0, second=0, microsecond=0)


def _month(year: int, month: int, phrase: str) -> TimeWindow:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return TimeWindow(start, end, phrase)


def _number(text: str) -> int:
    lowered = text.lower()
    return int(lowered) if lowered.isdigit() else _NUMBERS.get(lowered, 1)


def _relative(match: re.Match[str], now: datetime) -> TimeWindow:
    amount, unit = _number(match.group(1)), match.group(2).lower()
    days = amount * _UNIT_DAYS[unit]
    center = _day_start(now) - timedelta(days=days)
    slack = timedelta(days=max(1, days // 4) if unit != "day" else 1)
    return TimeWindow(center - slack, center + slack + timedelta(days=1), match.group(0))


def _last_unit(match: re.Match[str], now: datetime) -> TimeWindow:
    which, unit = match.group(1).lower(), match.group(2).lower()
    today = _day_start(now)
    if unit in {"week", "weekend"}:
        monday = today - timedelta(days=today.weekday())
        if which == "this":
            return TimeWindow(monday, monday + timedelta(days=7), match.group(0))
        return TimeWindow(monday - timedelta(days=7), monday, match.group(0))
    if unit == "month":
        first = today.replace(day=1)
        if which == "this":
            return _month(first.year, first.month, match.group(0))
        previous = first - timedelta(days=1)
        return _month(previous.year, previous.month, match.group(0))
    year = today.year if which == "this" else today.year - 1
    return TimeWindow(
        datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC), match.group(0)
    )


def _one_day(day: datetime, phrase: str) -> TimeWindow:
    return TimeWindow(day, day + timedelta(days=1), phrase)


def _out_of_range() -> contextlib.suppress:
    """Skip a phrase whose date cannot be built (year 0, 10000, ...)."""
    return contextlib.suppress(OverflowError, ValueError)


def _keep(windows: list[TimeWindow], window: TimeWindow) -> None:
    """Add ``window`` if it lies within the supported dates (``agentmem._validation``)."""
    if MIN_TIME <= window.start and window.end <= MAX_TIME:
        windows.append(window)


def parse_query(text: str, now: datetime) -> ParsedQuery:
    """Find the time windows and names ``text`` mentions, relative to ``now`` (aware UTC).

    Recognised: ``yesterday``, ``today``, ``last night``; ``N days/weeks/months/years
    ago``; ``last/this week/month/year``; ``last May``, ``in May`` (the latest May not
    after ``now``); ``May 2023``; ``12 May 2023``, ``May 12, 2023``, ``2023-05-12``; ``in
    2023``. Names are capitalised words that are not question words or sentence starters.
    """
    windows: list[TimeWindow] = []
    taken: list[tuple[int, int]] = []

    def free(match: re.Match[str]) -> bool:
        start, end = match.span()
        if any(start < b and a < end for a, b in taken):
            return False
        taken.append((start, end))
        return True

    today = _day_start(now)
    # A phrase naming a time no memory can have ("999999 days ago", "9999-12-31") makes
    # date arithmetic overflow: such a phrase is read as words, not as a time window.
    for m in _ISO.finditer(text):
        if free(m):
            with _out_of_range():
                day = datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), tzinfo=UTC)
                _keep(windows, _one_day(day, m.group(0)))
    for pattern, order in ((_DAY_MONTH_YEAR, (1, 2, 3)), (_MONTH_DAY_YEAR, (2, 1, 3))):
        for m in pattern.finditer(text):
            if free(m):
                day_s, month_s, year_s = (m.group(i) for i in order)
                with _out_of_range():
                    day = datetime(int(year_s), _MONTHS[month_s.lower()], int(day_s), tzinfo=UTC)
                    _keep(windows, _one_day(day, m.group(0)))
    for m in _MONTH_YEAR.finditer(text):
        if free(m):
            with _out_of_range():
                month_window = _month(int(m.group(2)), _MONTHS[m.group(1).lower()], m.group(0))
                _keep(windows, month_window)
    for m in _AGO.finditer(text):
        if free(m):
            with _out_of_range():
                _keep(windows, _relative(m, now))
    for m in _LAST_UNIT.finditer(text):
        if free(m):
            with _out_of_range():
                _keep(windows, _last_unit(m, now))
    for m in _LAST_MONTH_NAME.finditer(text):
        if free(m):
            month = _MONTHS[m.group(2).lower()]
            year = today.year if month < today.month else today.year - 1
            if m.group(1).lower() == "this" or (
                m.group(1).lower() != "last" and month == today.month
            ):
                year = today.year
            with _out_of_range():
                _keep(windows, _month(year, month, m.group(0)))
    for m in _YEAR.finditer(text):
        if free(m):
            year = int(m.group(1))
            with _out_of_range():
                start = datetime(year, 1, 1, tzinfo=UTC)
                _keep(windows, TimeWindow(start, datetime(year + 1, 1, 1, tzinfo=UTC), m.group(0)))
    for m in _DAYWORD.finditer(text):
        if free(m):
            with _out_of_range():
                day = today - timedelta(days=_DAYWORDS[m.group(1).lower()])
                _keep(windows, _one_day(day, m.group(0)))
    names: list[str] = []
    for m in _NAME.finditer(text):
        word = m.group(0)
        if word.lower() in _NOT_NAMES or word.lower() in _MONTHS:
            continue
        if any(a <= m.start() < b for a, b in taken):
            continue
        if word not in names:
            names.append(word)
    return ParsedQuery(text=text, windows=windows, names=names)


def _bare_name(name: str) -> str:
    lowered = name.lower()
    return lowered[:-2] if lowered.endswith(("'s", "’s")) else lowered


#: Words that open a turn spoken to someone ("Thanks, Mel!", "Hey Jon!").
_GREETINGS = (
    "hey hi hello hiya thanks thank you bye goodbye congrats congratulations wow yeah yep "
    "yes no oh aw aww sorry welcome cheers dear ok okay morning night"
).split()
#: A name set off as the one spoken to: at the start of a sentence or after a comma or a
#: greeting, and followed by punctuation ("Thanks, Mel!", "Hey Jon!", "..., Anna.").
_ADDRESS = re.compile(
    r"(^|[.!?,;:]\s+|\b(?:" + "|".join(_GREETINGS) + r")\s+)"
    r"([^\W\d_][\w'\u2019-]*)(?=\s*(?:[,!?.:;]|$))",
    re.IGNORECASE | re.MULTILINE,
)


def without_addressees(text: str) -> str:
    """``text`` without the names it addresses, as said to them ("Thanks, Mel!").

    In a conversation turn such a name is who is spoken to, not spoken of: "Thanks, Mel! I
    loved it" becomes "Thanks, ! I loved it". Only capitalised words set off by punctuation
    or a greeting count, so "I went with Mel." keeps its name.
    """
    spans = [
        m.span(2)
        for m in _ADDRESS.finditer(text)
        if m.group(2)[0].isupper() and m.group(2).lower() not in _GREETINGS
    ]
    for start, end in reversed(spans):
        text = text[:start] + text[end:]
    return text


def name_share(item: MemoryItem, names: Sequence[str]) -> float:
    """The share of ``names`` that spoke ``item`` (``metadata["speaker"]``) or that its text names.

    Only the memory's own words and speaker count, not its indexed context (a previous
    turn names the other speaker in nearly every turn of a two-person chat), and in a
    conversation turn not the names it addresses ("Thanks, Mel!" is said to Mel, not of
    her: :func:`without_addressees`).
    """
    if not names:
        return 0.0
    speaker = item.metadata.get("speaker")
    said_by = speaker.lower() if isinstance(speaker, str) else ""
    text = without_addressees(item.text) if said_by else item.text
    words = {w.lower() for w in _WORDS.findall(text)}
    hits = 0
    for name in names:
        bare = _bare_name(name)
        if bare == said_by or bare in words or (not bare.isalnum() and bare in text.lower()):
            hits += 1
    return hits / len(names)


def describe(window: TimeWindow) -> str:
    """A window as an absolute date: ``7 May 2023``, ``May 2023``, ``2023`` or a span."""
    days = (window.end - window.start).days
    start = window.start
    if days <= 1:
        return f"{start.day} {start:%B} {start.year}"
    last = window.end - timedelta(days=1)
    if start.day == 1 and window.end.day == 1 and days <= 31:
        return f"{start:%B} {start.year}"
    if start.month == 1 and start.day == 1 and days >= 365:
        return str(start.year)
    return f"{start.day} {start:%B} {start.year} - {last.day} {last:%B} {last.year}"


def mentioned_times(text: str, when: datetime) -> list[TimeWindow]:
    """The times ``text`` speaks of, relative dates resolved against ``when`` (its date).

    "I went there yesterday", said on 8 May 2023, speaks of 7 May 2023; "last week" of
    the week before; "12 May 2023" of itself.
    """
    return parse_query(text, when).windows


def resolved_dates(text: str, when: datetime) -> str:
    """The relative dates of ``text`` as absolute ones, ``"yesterday = 7 May 2023; ..."``.

    Absolute dates already in the text are left out; ``""`` when there is nothing to add.
    """
    parts = []
    for window in mentioned_times(text, when):
        absolute = describe(window)
        if absolute.lower() != window.phrase.lower().strip() and absolute not in window.phrase:
            parts.append(f"{window.phrase} = {absolute}")
    return "; ".join(dict.fromkeys(parts))


def speaks_of(item: MemoryItem, windows: Sequence[TimeWindow]) -> bool:
    """Whether ``item`` happened in one of ``windows`` or its text speaks of a time in one.

    "We went there yesterday", said on 8 May 2023, speaks of 7 May 2023: a query about
    7 May finds it although it was said on the 8th.
    """
    if not windows:
        return False
    if any(w.contains(item.created_at) for w in windows):
        return True
    mentioned = mentioned_times(item.text, item.created_at)
    return any(m.start < w.end and w.start < m.end for m in mentioned for w in windows)
