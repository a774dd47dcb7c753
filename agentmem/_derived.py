"""Derived memories: what a conversation says, restated at write time, pointing at its turns.

A turn often does not say what a question asks for in words the question shares: "I just
signed up for a pottery class yesterday" is the answer to "What activities does Melanie
do?", but it never names Melanie, the date or the activity as such, and a long turn's
embedding blurs its several statements. A *derived memory* restates one thing a turn
says, standing alone ("Melanie signed up for a pottery class (yesterday = 2 July
2023)"), and records the turn in ``source_ids``.

Derived memories live in a side store (:class:`DerivedMemories`), not among the user's
memories: :meth:`Memory.items <agentmem.Memory.items>`, :meth:`Memory.count
<agentmem.Memory.count>` and the retention policies (capacity, decay) never see them.
:meth:`Memory.search <agentmem.Memory.search>` searches them too and hands back their
*sources*: a hit on a derived memory becomes the turns it came from (deduplicated, at
that hit's rank), fused with the direct hits. When a source goes (erased on request,
forgotten by a policy, an add undone), the memories derived from it go with it; a
forget that is undone derives them again.

Two derivers ship: :class:`PatternDeriver` (no model: first-person statements rewritten
with the speaker's name, relative dates resolved against the turn's date) and
:class:`LLMDeriver` (the configured chat model lists the facts and events of each turn,
prompt ``derive_facts``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from agentmem._capabilities import PurgingStore, TransactionalStore
from agentmem._errors import ModelError, UserError
from agentmem._models import Filters, Hit, Kind, MemoryItem, Scope
from agentmem._prompts import quote_memory, render_prompt
from agentmem._protocols import ChatMessage, ChatModel, Embedder, MemoryStore
from agentmem._structured import StructuredReply, ask_lines, list_lines

__all__ = [
    "DerivedFacts",
    "DerivedMemories",
    "Deriver",
    "LLMDeriver",
    "PatternDeriver",
    "derived_item",
]

logger = logging.getLogger(__name__)

DERIVED_BY = "derived_by"
"""The metadata key naming the deriver of a derived memory."""


@runtime_checkable
class Deriver(Protocol):
    """Draws derived memories from newly written memories."""

    name: str

    def derive(self, items: Sequence[MemoryItem]) -> list[MemoryItem]:
        """Derived memories for ``items`` (each naming its sources in ``source_ids``)."""
        ...


def derived_item(
    text: str,
    sources: Sequence[MemoryItem],
    *,
    by: str,
    kind: Kind = Kind.FACT,
    metadata: Mapping[str, Any] | None = None,
) -> MemoryItem:
    """A derived memory of ``sources``: their scope and time, their ids as ``source_ids``."""
    if not sources:
        msg = "a derived memory needs at least one source"
        raise UserError(msg)
    first = sources[0]
    extra = dict(metadata or {})
    speaker = first.metadata.get("speaker")
    if isinstance(speaker, str) and speaker and "speaker" not in extra:
        extra["speaker"] = speaker
    return MemoryItem(
        text=text,
        kind=kind,
        scope=first.scope,
        created_at=first.created_at,
        recorded_at=first.recorded_at,
        importance=first.importance,
        source_ids=list(dict.fromkeys(s.id for s in sources)),
        metadata={**extra, DERIVED_BY: by},
    )


# -- without a model -------------------------------------------------------------------
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORDS = re.compile(r"[A-Za-z\u00C0-\u024F']+")
_BRACKETED = re.compile(r"\[[^\]]*\]")
_FIRST_PERSON = re.compile(r"\b(?:I|I'm|I've|I'd|I'll|my|me|myself|mine)\b", re.IGNORECASE)
# A statement that starts with a past-tense verb has left out its subject: the speaker.
_ELIDED = re.compile(
    r"(?:[A-Z][a-z]+ed|Went|Took|Got|Made|Saw|Had|Met|Found|Bought|Began|Started|Finished"
    r"|Ran|Won|Lost|Left|Came|Gave|Wrote|Read|Spent|Tried|Joined|Signed|Just)\b"
)
# Contractions first, then bare pronouns; "I" only as a whole word in any case.
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bI['\u2019]m\b", re.IGNORECASE), "{s} is"),
    (re.compile(r"\bI['\u2019]ve\b", re.IGNORECASE), "{s} has"),
    (re.compile(r"\bI['\u2019]d\b", re.IGNORECASE), "{s} would"),
    (re.compile(r"\bI['\u2019]ll\b", re.IGNORECASE), "{s} will"),
    (re.compile(r"\bmyself\b", re.IGNORECASE), "{s}"),
    (re.compile(r"\bmine\b", re.IGNORECASE), "{s}'s"),
    (re.compile(r"\bmy\b", re.IGNORECASE), "{s}'s"),
    (re.compile(r"\bme\b", re.IGNORECASE), "{s}"),
    (re.compile(r"\bI\b"), "{s}"),
)


class PatternDeriver:
    """Derived memories without a model: one per first-person statement of a turn.

    Each sentence of a turn that states something about its speaker ("I just signed up
    for a pottery class yesterday.") becomes a memory of its own, rewritten with the
    speaker's name (``metadata["speaker"]``) in place of I / my / me ("Melanie just
    signed up for a pottery class yesterday"), with its relative dates resolved against
    the turn's date ("(yesterday = 2 July 2023)"). A statement that starts with a
    past-tense verb ("Took a trip to Rome.") is the speaker's too. Questions, short sentences (fewer
    than ``min_words`` words) and bracketed asides are left out; at most ``per_item``
    statements per memory, the longest first. A memory without a speaker is taken as
    the user's own words and rewritten with ``"The user"``.

    Args:
        min_words: the fewest words a statement needs.
        per_item: the most derived memories per source memory.
        kinds: the kinds of memory statements are drawn from (messages by default).
    """

    name = "pattern"

    def __init__(
        self,
        *,
        min_words: int = 5,
        per_item: int = 3,
        kinds: Iterable[Kind | str] = (Kind.MESSAGE,),
    ) -> None:
        if min_words < 1 or per_item < 1:
            msg = f"min_words and per_item must be >= 1, got {min_words} and {per_item}"
            raise UserError(msg)
        self.min_words = min_words
        self.per_item = per_item
        self.kinds = frozenset(Kind(k) for k in kinds)

    def derive(self, items: Sequence[MemoryItem]) -> list[MemoryItem]:
        """One derived memory per first-person statement of each of ``items``."""
        out: list[MemoryItem] = []
        for item in items:
            if item.kind not in self.kinds:
                continue
            for text in self.statements(item):
                out.append(derived_item(text, [item], by=self.name))
        return out

    def statements(self, item: MemoryItem) -> list[str]:
        """The rewritten statements of one memory (see the class docstring)."""
        speaker = item.metadata.get("speaker")
        who = speaker if isinstance(speaker, str) and speaker.strip() else "The user"
        found: list[str] = []
        for sentence in _SENTENCE.split(_BRACKETED.sub(" ", item.text)):
            sentence = sentence.strip()
            if sentence.endswith("?") or len(_WORDS.findall(sentence)) < self.min_words:
                continue
            if _ELIDED.match(sentence):  # "Took a trip to Rome." said by Jon: Jon took it
                sentence = f"I {sentence[0].lower()}{sentence[1:]}"
            if not _FIRST_PERSON.search(sentence):
                continue
            found.append(sentence)
        found.sort(key=len, reverse=True)
        out: list[str] = []
        for sentence in found[: self.per_item]:
            text = rewrite_first_person(sentence, who)
            dates = _resolved_dates(sentence, item.created_at)
            text = f"{text} ({dates})" if dates else text
            if text not in out:
                out.append(text)
        return out


def rewrite_first_person(sentence: str, speaker: str) -> str:
    """``sentence`` with I / my / me / I'm ... replaced by ``speaker`` and its forms."""
    text = sentence.rstrip(" .!")
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement.format(s=speaker), text)
    return text


def _resolved_dates(text: str, when: datetime) -> str:
    from agentmem.stores._query import resolved_dates  # pure functions, no heavy imports

    return resolved_dates(text, when)


# -- with a model ----------------------------------------------------------------------
class DerivedFacts(StructuredReply):
    """The facts and events of a turn, one standalone sentence each (``derive_facts``)."""

    facts: list[str]

    def to_lines(self) -> str:
        """One fact a line."""
        return "\n".join(self.facts)


class LLMDeriver:
    """Derived memories from the configured chat model: the facts and events of each turn.

    The model reads each turn with its speaker, its date and the turn before it (prompt
    ``derive_facts``) and lists what it says as standalone sentences, with names instead
    of pronouns and absolute dates; structured output is used where the model offers
    it. A model error leaves that turn without derived memories (logged), never fails
    the write.

    Args:
        llm: the chat model.
        per_item: the most facts kept per turn.
        max_tokens: the reply budget per turn.
        kinds: the kinds of memory facts are drawn from (messages by default).
    """

    name = "llm"

    def __init__(
        self,
        llm: ChatModel,
        *,
        per_item: int = 4,
        max_tokens: int = 160,
        kinds: Iterable[Kind | str] = (Kind.MESSAGE,),
    ) -> None:
        self.llm = llm
        self.per_item = per_item
        self.max_tokens = max_tokens
        self.kinds = frozenset(Kind(k) for k in kinds)

    def derive(self, items: Sequence[MemoryItem]) -> list[MemoryItem]:
        """The model's facts for each of ``items``, each pointing back at its turn."""
        out: list[MemoryItem] = []
        previous: dict[str | None, MemoryItem] = {}
        for item in items:
            before = previous.get(item.scope.session_id)
            previous[item.scope.session_id] = item
            if item.kind not in self.kinds:
                continue
            for text in self.facts(item, before):
                out.append(derived_item(text, [item], by=self.name))
        return out

    def facts(self, item: MemoryItem, before: MemoryItem | None = None) -> list[str]:
        """What the model lists for one turn (``before``: the turn before it, if known)."""
        speaker = item.metadata.get("speaker")
        fields = {
            "speaker": quote_memory(
                speaker if isinstance(speaker, str) and speaker else "the user"
            ),
            "date": f"{item.created_at.day} {item.created_at:%B %Y}",
            "previous": quote_memory(_line(before)) if before is not None else "(none)",
        }
        prompt = render_prompt("derive_facts", turn=quote_memory(item.text), **fields)
        try:
            reply = ask_lines(
                self.llm,
                [ChatMessage(role="user", content=prompt)],
                DerivedFacts,
                max_tokens=self.max_tokens,
                structured_max_tokens=2 * self.max_tokens,
            )
        except ModelError as exc:
            logger.warning("deriving facts from %s failed, none kept: %s", item.id, exc)
            return []
        # A small model often answers with a line of the instructions or the previous
        # turn copied out: such a line is no fact of this turn.
        echo = _Echo(render_prompt("derive_facts", turn="", **fields), before)
        facts = [fact for fact in parse_facts(reply) if not echo.of(fact)]
        return facts[: self.per_item]


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


class _Echo:
    """Tells a model's line that only repeats its prompt from a fact of the turn."""

    def __init__(self, prompt_without_turn: str, before: MemoryItem | None) -> None:
        self.prompt = _words(prompt_without_turn)
        previous = _words(before.text) if before is not None else ""
        # a short previous turn ("Yes!") may well be part of a real fact
        self.previous = previous if len(previous.split()) >= 4 else ""

    def of(self, fact: str) -> bool:
        """Whether ``fact`` is a piece of the prompt or holds the previous turn whole."""
        words = _words(fact)
        return not words or words in self.prompt or bool(self.previous and self.previous in words)


def _line(item: MemoryItem) -> str:
    speaker = item.metadata.get("speaker")
    return f"{speaker}: {item.text}" if isinstance(speaker, str) and speaker else item.text


def parse_facts(reply: str) -> list[str]:
    """The facts in a model's reply: one a line, bullets stripped, ``NONE`` = none."""
    out: list[str] = []
    for text in list_lines(reply):
        if text.upper().rstrip(".") == "NONE" or len(text) > 500:
            continue
        if text not in out:
            out.append(text)
    return out


# -- the side store --------------------------------------------------------------------
class DerivedMemories:
    """A side store of derived memories and the deriver that writes them.

    Give it to a :class:`~agentmem.Memory` (``Memory(stores, derived=...)``): every write
    derives memories from the new items into ``store``; every search also searches
    ``store`` and turns each hit into its sources; every erase, policy forget or undone
    add removes the memories derived from what left. ``store`` holds nothing else (use
    a store of its own, e.g. a second :class:`~agentmem.stores.HybridStore`);
    :meth:`open` builds one.

    Args:
        store: where the derived memories live.
        deriver: what writes them (:class:`PatternDeriver` or :class:`LLMDeriver`).
        weight: the weight of the derived hits' sources when fused with the direct hits
            (reciprocal rank; the direct hits weigh 1).
        depth: how many derived memories a search looks at (at least ``k``).
        fusion_k: the reciprocal-rank constant of that fusion.
    """

    def __init__(
        self,
        store: MemoryStore,
        deriver: Deriver,
        *,
        weight: float = 0.3,
        depth: int = 25,
        fusion_k: int = 10,
    ) -> None:
        if weight <= 0 or depth < 1:
            msg = f"weight must be > 0 and depth >= 1, got {weight} and {depth}"
            raise UserError(msg)
        self.store = store
        self.deriver = deriver
        self.weight = weight
        self.depth = depth
        self.fusion_k = fusion_k

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None,
        embedder: Embedder | None = None,
        deriver: Deriver | None = None,
        *,
        weight: float = 0.3,
        depth: int = 25,
        fusion_k: int = 10,
        **store_options: Any,
    ) -> DerivedMemories:
        """Derived memories in a :class:`~agentmem.stores.HybridStore` of their own.

        ``path`` is a folder of its own (e.g. ``memory_folder / "derived"``) or ``None``
        for memory only; ``deriver`` defaults to :class:`PatternDeriver`. Without an
        ``embedder`` the side store searches by words only (BM25) and embeds nothing, so
        derived memories cost no embedding on write or search; with one it searches by
        meaning too (one embedding per derived memory, and one more per search).
        The fusion defaults (``weight=0.3``, ``fusion_k=10``) were chosen on two LoCoMo
        development conversations and held on the third, each in turn, beside the
        default store (``benchmarks/bench_derived.py --fit``).
        """
        from agentmem.stores import HybridStore

        # No second hop inside the side store: it found nothing more and cost a query.
        options: dict[str, Any] = {"name": "derived", "expand": 0.0, **store_options}
        if embedder is None:
            options["signals"] = ("bm25",)
        store = HybridStore(path, embedder or _NoVectors(), **options)
        return cls(
            store, deriver or PatternDeriver(), weight=weight, depth=depth, fusion_k=fusion_k
        )

    # -- writing -----------------------------------------------------------------------
    def derive(self, items: Sequence[MemoryItem]) -> list[MemoryItem]:
        """The derived memories of ``items`` (not yet stored)."""
        derived = self.deriver.derive(items)
        known = {item.id for item in items}
        for item in derived:
            if not item.source_ids or not set(item.source_ids) <= known:
                msg = f"deriver {self.deriver.name!r} made a memory without its sources"
                raise UserError(msg)
        return derived

    def add(self, derived: Sequence[MemoryItem]) -> None:
        """Store derived memories (from :meth:`derive`)."""
        if derived:
            self.store.add(list(derived))

    def drop(self, sources: Sequence[MemoryItem]) -> int:
        """Delete the memories derived from any of ``sources``; return how many."""
        doomed: list[str] = []
        by_user: dict[str, set[str]] = {}
        for item in sources:
            by_user.setdefault(item.scope.user_id, set()).add(item.id)
        for user_id, ids in by_user.items():
            for derived in self.store.scan(scope=Scope(user_id=user_id), include_closed=True):
                if ids.intersection(derived.source_ids):
                    doomed.append(derived.id)
        return self.store.delete(doomed) if doomed else 0

    def rebuild(self, sources: Iterable[MemoryItem]) -> int:
        """Derive again from ``sources`` (e.g. ``memory.items()``), replacing what they had.

        For memories written before derived memories were switched on, or after changing
        the deriver. Returns how many derived memories were stored.
        """
        items = list(sources)
        self.drop(items)
        derived = self.derive(items)
        self.add(derived)
        return len(derived)

    def erase_user(self, user_id: str) -> int:
        """Delete every derived memory of a user."""
        ids = [
            item.id for item in self.store.scan(scope=Scope(user_id=user_id), include_closed=True)
        ]
        return self.store.delete(ids) if ids else 0

    def purge(self) -> None:
        """Leave no byte of deleted text in the store's files, where the store can."""
        if isinstance(self.store, PurgingStore):
            self.store.purge()

    def transactional(self) -> list[MemoryStore]:
        """The side store, if it joins ``Memory``'s write transactions."""
        return [self.store] if isinstance(self.store, TransactionalStore) else []

    # -- reading -----------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        scope: Scope,
        k: int,
        filters: Filters | None,
        as_of: datetime | None,
    ) -> list[Hit]:
        """The best derived memories for ``query`` (time filters applied; found, not filled)."""
        when = None
        if filters is not None and (filters.created_after or filters.created_before):
            when = Filters(
                created_after=filters.created_after, created_before=filters.created_before
            )
        hits = self.store.search(
            query, scope=scope, k=max(k, self.depth), filters=when, as_of=as_of
        )
        # A memory found by no retriever (a lexical store filling up with its newest) is
        # no evidence for the query: its sources get no vote.
        return [hit for hit in hits if hit.signal != "recent"]

    def close(self) -> None:
        """Close the side store."""
        self.store.close()


class _NoVectors:
    """An embedder for a side store searched by words only: one zero per text, no model."""

    name = "none"
    dim = 1

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return np.zeros((len(texts), 1), dtype=np.float32)


def source_order(hits: Sequence[Hit]) -> list[tuple[str, Hit]]:
    """Each source id of ``hits`` once, in the order of its best derived hit."""
    out: list[tuple[str, Hit]] = []
    seen: set[str] = set()
    for hit in hits:
        for source in hit.item.source_ids:
            if source not in seen:
                seen.add(source)
                out.append((source, hit))
    return out
