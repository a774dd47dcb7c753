"""Fact extraction: lasting facts about the user, drawn from what they said.

Two extractors, used together by default: fixed patterns for the most common personal
facts (exact, instant, work with any model) and the LLM for everything else. LLM facts
are kept only when their value appears in the message, so a weak model cannot invent one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from agentmem._errors import ModelError
from agentmem._prompts import render_prompt
from agentmem._protocols import ChatMessage, ChatModel
from agentmem._structured import ExtractedFacts, ask_lines

__all__ = ["Fact", "FactExtractor", "LLMFactExtractor", "PatternFactExtractor", "merge_facts"]

logger = logging.getLogger(__name__)


class Fact(BaseModel):
    """A lasting fact: ``subject`` has ``attribute`` = ``value``, with a readable text."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    subject: str
    attribute: str
    value: str
    text: str
    multi: bool = False  # the attribute may hold several values at once (APPEND, not REPLACE)


@runtime_checkable
class FactExtractor(Protocol):
    """Draws facts from one user message."""

    def extract(self, message: str) -> list[Fact]:
        """Return the facts stated in ``message``."""
        ...


_END = (
    r"(?=\s*(?:[.,!?;:]|\band\b|\bbut\b|\bbecause\b|\bsince\b|\bwith\b|\bfor\b|\bnow\b|\blast\b"
    r"|\bthis\b|\bnext\b|\byesterday\b|\btoday\b|\brecently\b|\bago\b|\bin\s+\d|$))"
)
_VALUE = r"(?P<v>[^.,!?;]{1,60}?)" + _END
_NAME = r"(?P<n>[A-Za-z][\w'-]{0,30})"
_PETS = r"(?P<s>dog|cat|puppy|kitten|rabbit|bunny|hamster|parrot|bird|fish|turtle|horse|pony)"
_ARTICLE = re.compile(r"^(?:a|an|the)\s+", re.IGNORECASE)


_ADV = r"(?:(?:just|also|finally|recently|now|officially|already|even)\s+)*"


def _clean(value: str) -> str:
    return value.strip().strip("\"'").strip()


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


class PatternFactExtractor:
    """Facts from fixed first-person patterns.

    Covers where the user lives, their job, employer, name, age, favourites, pets and
    the pets' names.
    """

    def extract(self, message: str) -> list[Fact]:
        """Return the facts the patterns find, in order of appearance."""
        facts: list[Fact] = []
        for sentence in re.split(r"(?<=[.!?])\s+|\n+", message):
            facts += self._sentence(sentence.strip())
        return merge_facts(facts)

    def _sentence(self, s: str) -> Iterable[Fact]:
        flags = re.IGNORECASE
        m = (
            re.search(
                r"\bI(?:'ve| have)?\s+" + _ADV + r"(?:moved|relocated)\s+"
                r"(?:back\s+)?to\s+" + _VALUE,
                s,
                flags,
            )
            or re.search(r"\bI\s+(?:now\s+|currently\s+)?live\s+in\s+" + _VALUE, s, flags)
            or re.search(r"\bI(?:'m| am)\s+(?:now\s+)?living\s+in\s+" + _VALUE, s, flags)
        )
        if m:
            v = _clean(m["v"])
            yield Fact(
                subject="user", attribute="lives_in", value=v, text=f"The user lives in {v}."
            )
        m = (
            re.search(r"\bI\s+" + _ADV + r"work\s+as\s+(?:an?\s+)?" + _VALUE, s, flags)
            or re.search(
                r"\bI(?:'ve| have)?\s+" + _ADV + r"(?:got|started|took|landed|accepted)\s+(?:a\s+)?"
                r"(?:new\s+)?(?:job|position|role)\s+as\s+(?:an?\s+)?" + _VALUE,
                s,
                flags,
            )
            or re.search(
                r"\bI(?:'m| am)\s+(?:now\s+)?working\s+as\s+(?:an?\s+)?" + _VALUE, s, flags
            )
            or re.search(r"\bI\s+became\s+(?:an?\s+)?" + _VALUE, s, flags)
        )
        if m:
            v = _clean(m["v"])
            yield Fact(
                subject="user",
                attribute="job",
                value=v,
                text=f"The user works as {_article(v)} {v}.",
            )
        m = re.search(r"\bI\s+(?:now\s+)?work\s+(?:at|for)\s+" + _VALUE, s, flags) or re.search(
            r"\bI(?:'ve| have)?\s+(?:just\s+)?joined\s+" + _VALUE, s, flags
        )
        if m:
            v = (
                _ARTICLE.sub("", _clean(m["v"]))
                if m["v"].lower().startswith("the ")
                else _clean(m["v"])
            )
            yield Fact(
                subject="user", attribute="employer", value=v, text=f"The user works at {v}."
            )
        m = re.search(
            r"\b(?i:my\s+name\s+is)\s+(?P<v>[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)?)", s
        ) or re.search(r"\b(?i:call me|I'm called)\s+(?P<v>[A-Z][\w'-]*)", s)
        if m:
            v = _clean(m["v"])
            yield Fact(subject="user", attribute="name", value=v, text=f"The user's name is {v}.")
        m = re.search(r"\bI(?:'m| am)\s+(?P<v>\d{1,3})\s+(?:years?\s+old|now)\b", s, flags)
        if m:
            v = m["v"]
            yield Fact(subject="user", attribute="age", value=v, text=f"The user is {v} years old.")
        m = re.search(
            r"\bmy\s+fav(?:ou?)?rite\s+(?P<a>[a-z]+(?:\s+[a-z]+)?)\s+is\s+(?:now\s+)?" + _VALUE,
            s,
            flags,
        )
        if m:
            a, v = m["a"].lower(), _clean(m["v"])
            yield Fact(
                subject="user",
                attribute=f"favorite_{a.replace(' ', '_')}",
                value=v,
                text=f"The user's favorite {a} is {v}.",
            )
        m = re.search(
            r"\b(?:I|we)\s+" + _ADV + r"(?:adopted|got|rescued|bought)\s+(?:a|an)\s+(?:new\s+)?"
            r"(?:\w+\s+)?" + _PETS + r"\b(?:\s*,?\s+(?:named|called)\s+" + _NAME + r")?",
            s,
            flags,
        )
        if m:
            species = m["s"].lower()
            yield Fact(
                subject="user",
                attribute="pet",
                value=species,
                multi=True,
                text=f"The user has {_article(species)} {species}.",
            )
            if m["n"]:
                yield _pet_name(species, m["n"])
        m = (
            re.search(
                r"\b(?:I|we)\s+(?:have\s+)?renamed\s+(?:my|our|the)\s+"
                + _PETS
                + r"\s+(?:to\s+)?"
                + _NAME,
                s,
                flags,
            )
            or re.search(
                r"\bmy\s+" + _PETS + r"(?:'s\s+name\s+is|\s+is\s+(?:now\s+)?(?:called|named))\s+"
                r"(?:now\s+)?" + _NAME,
                s,
                flags,
            )
            or re.search(r"\bmy\s+" + _PETS + r"\s+(?:is\s+)?now\s+goes\s+by\s+" + _NAME, s, flags)
        )
        if m:
            yield _pet_name(m["s"].lower(), m["n"])


def _pet_name(species: str, name: str) -> Fact:
    name = name.strip()
    return Fact(
        subject=f"user's {species}",
        attribute="name",
        value=name,
        text=f"The user's {species} is named {name}.",
    )


_TRIPLE = re.compile(r"^\s*[-*\d.)]*\s*([^|]{1,60})\|([^|]{1,60})\|([^|]{1,120})(?:\|(.{1,300}))?$")
_KEY = re.compile(r"^[a-z][a-z0-9_ ]{0,39}$")
_USER = frozenset({"user", "the user"})


def triple_lines(
    reply: str, user_words: frozenset[str] = _USER
) -> Iterator[tuple[str, str, str, str | None]]:
    """The ``subject | key | value [| sentence]`` lines of a model's reply, cleaned.

    The one parser for the pipe-separated lines the fact and thought prompts ask for:
    bullets and numbers before a line are dropped, quotes around parts stripped, the key
    made lower snake case (a line whose key is not a short word is skipped), and a
    subject in ``user_words`` becomes ``"user"``. Lines without a subject or a value are
    skipped; the fourth part is ``None`` when absent.
    """
    for line in reply.splitlines():
        m = _TRIPLE.match(line)
        if not m:
            continue
        subject, key, value = (_clean(part) for part in m.groups()[:3])
        key = key.lower().replace(" ", "_")
        if subject.lower() in user_words:
            subject = "user"
        if not subject or not value or not _KEY.match(key):
            continue
        yield subject, key, value, (m.group(4) or "").strip() or None


class LLMFactExtractor:
    """Asks a chat model for ``subject | attribute | value`` lines (prompt ``extract_facts``).

    A fact survives only if its value occurs in the message, which keeps a weak model
    from inventing facts.
    """

    def __init__(self, llm: ChatModel, *, max_tokens: int = 48) -> None:
        self.llm = llm
        self.max_tokens = max_tokens

    def extract(self, message: str) -> list[Fact]:
        """Return the grounded facts the model finds."""
        prompt = render_prompt("extract_facts", message=message)
        try:
            reply = ask_lines(
                self.llm,
                [ChatMessage(role="user", content=prompt)],
                ExtractedFacts,
                max_tokens=self.max_tokens,
                structured_max_tokens=max(4 * self.max_tokens, 160),
            )
        except ModelError as exc:
            logger.warning("fact extraction failed, keeping only the raw turn: %s", exc)
            return []
        return self.parse(reply, message)

    @staticmethod
    def parse(reply: str, message: str) -> list[Fact]:
        """Parse the model's lines, keeping grounded, well-formed facts."""
        facts: list[Fact] = []
        lowered = message.lower()
        for subject, attribute, value, extra in triple_lines(reply):
            if extra is not None or value.lower() not in lowered:
                continue
            if subject != "user" and subject.lower() not in lowered:
                continue
            owner = "The user" if subject == "user" else subject
            facts.append(
                Fact(
                    subject=subject,
                    attribute=attribute,
                    value=value,
                    text=f"{owner} {attribute.replace('_', ' ')}: {value}",
                )
            )
        return merge_facts(facts)


def merge_facts(facts: Sequence[Fact]) -> list[Fact]:
    """Keep the first fact for each (subject, attribute); multi-valued ones by value too."""
    seen: set[tuple[str, ...]] = set()
    out: list[Fact] = []
    for fact in facts:
        key: tuple[str, ...] = (fact.subject.lower(), fact.attribute.lower())
        if fact.multi:
            key += (fact.value.lower(),)
        if key not in seen:
            seen.add(key)
            out.append(fact)
    return out
