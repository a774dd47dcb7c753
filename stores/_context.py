"""Contextual indexing: what is embedded and indexed for a memory, beside its exact text.

A bare turn ("I just moved to Porto!") says neither who spoke nor when. The indexed text
can carry the speaker (metadata ``speaker``), the day it happened (``created_at``) and
the previous turn of the same session, each in the lexical (BM25) text, the embedded
(dense) text, both or neither. The stored text never changes.

Measured on generated conversations (``benchmarks/RESULTS_hybrid.md``): a speaker
prefix makes short turns' embeddings look alike and floods BM25 with every turn of that
speaker, so by default the speaker is not indexed as text; a name in the query boosts
the memories of that speaker instead (``HybridStore(name_boost=...)``). The day goes to
both texts. On real conversations (LoCoMo) the opposite holds: a bare turn ("That's
great! When?") lacks its subject and who said it, so :meth:`ContextOptions.conversation`
indexes the speaker and the previous turn (``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from agentmem._errors import UserError
from agentmem._models import MemoryItem
from agentmem.stores._query import resolved_dates

__all__ = [
    "ContextOptions",
    "IndexedTexts",
    "Where",
    "context_vector",
    "contextual_text",
    "contextual_texts",
    "indexed_texts",
    "previous_positions",
    "speaker_line",
]

Where = Literal["none", "lexical", "dense", "both"]
_WHERE = ("none", "lexical", "dense", "both")


@dataclass(frozen=True)
class ContextOptions:
    """What the indexed texts of a memory carry beside its own text, and where.

    Each option is ``"none"``, ``"lexical"`` (the BM25 text), ``"dense"`` (the embedded
    text) or ``"both"``.

    Args:
        speaker: ``metadata["speaker"]`` as a prefix (``"Dara: ..."``).
        date: the day it happened as a prefix (``"[7 May 2023] ..."``).
        previous_turn: the previous memory of the same session, appended, for a
            conversation turn (a memory whose metadata names its ``speaker``); other
            memories (facts, notes) are indexed without it.
        relative_dates: relative dates in the text ("yesterday", "last week", "two days
            ago") resolved against the memory's own date (``created_at``, e.g. the
            session's date) and appended as absolute ones (``"yesterday = 7 May 2023"``).
        turn_context: also index each conversation turn (a memory whose metadata names
            its ``speaker``) a second time, in its context: a BM25 text with the previous
            turn of the session, and a vector mixed from the turn's, the previous turn's
            and the speaker's name's vectors (:func:`context_vector`; no second embedding
            per turn). Search fuses both representations as separate lists
            (``dense-context`` and ``bm25-context``), so a statement that stands alone is
            still found by its own text and a reply ("That's great! When?") by what it
            answers. Other memories are indexed once.
    """

    speaker: Where = "none"
    date: Where = "both"
    previous_turn: Where = "none"
    relative_dates: Where = "lexical"
    turn_context: bool = True

    @classmethod
    def conversation(cls) -> ContextOptions:
        """For long two-person conversations: speaker and previous turn in both texts.

        The day goes to the lexical text only (a date prefix blurs a short turn's
        embedding). On the LoCoMo dev conversations, with the ranking of
        :func:`~agentmem.stores.conversation_options`, evidence recall@1 is 0.44 and
        recall@10 0.78 (the default store 0.39 and 0.78); on generated conversations and
        bAbI it does much worse than the default (``benchmarks/RESULTS.md``), so it is a
        choice, not the default.
        """
        return cls(
            speaker="both",
            date="lexical",
            previous_turn="both",
            relative_dates="lexical",
            turn_context=False,
        )

    def __post_init__(self) -> None:
        for name in ("speaker", "date", "previous_turn", "relative_dates"):
            value = getattr(self, name)
            if value not in _WHERE:
                msg = f"ContextOptions.{name} must be one of {_WHERE}, got {value!r}"
                raise UserError(msg)

    @property
    def key(self) -> str:
        """A string that identifies these options (stored to detect a change on reopen)."""
        key = (
            f"speaker={self.speaker},date={self.date},prev={self.previous_turn},"
            f"dates={self.relative_dates}"
        )
        return f"{key},turns=mixed" if self.turn_context else key

    @property
    def needs_previous(self) -> bool:
        """Whether the previous turn is part of any indexed text."""
        return self.previous_turn != "none" or self.turn_context


def speaker_line(item: MemoryItem) -> str:
    """``"Speaker: text"`` when the item names its speaker, else its text."""
    speaker = item.metadata.get("speaker")
    return f"{speaker}: {item.text}" if isinstance(speaker, str) and speaker else item.text


def _speaker(item: MemoryItem) -> bool:
    speaker = item.metadata.get("speaker")
    return isinstance(speaker, str) and bool(speaker)


def _on(where: Where, side: str) -> bool:
    return where == "both" or where == side


def contextual_text(
    item: MemoryItem, options: ContextOptions, previous: str | None = None, *, side: str
) -> str:
    """The ``side`` (``"lexical"`` or ``"dense"``) text to index for ``item``."""
    text = speaker_line(item) if _on(options.speaker, side) else item.text
    if _on(options.date, side):
        when = item.created_at
        text = f"[{when.day} {when:%B} {when.year}] {text}"
    if _on(options.relative_dates, side):
        resolved = resolved_dates(item.text, item.created_at)
        if resolved:
            text = f"{text} ({resolved})"
    if previous and _on(options.previous_turn, side) and _speaker(item):
        text = f"{text}\n(after: {previous})"
    return text


#: The BM25 text of a conversation turn's second, in-context representation: the turn
#: with the previous turn, not the speaker (a speaker's name would match every turn they
#: said; a name in the query boosts their turns instead).
_TURN_LEXICAL = ContextOptions(
    speaker="none", date="lexical", previous_turn="lexical", relative_dates="lexical"
)

PREVIOUS_WEIGHT = 0.5
"""The previous turn's share in a turn's in-context vector (:func:`context_vector`)."""
SPEAKER_WEIGHT = 1.0
"""The speaker's name's share in a turn's in-context vector (:func:`context_vector`)."""


@dataclass(frozen=True)
class IndexedTexts:
    """Every text indexed for a batch of memories, one entry per memory.

    ``lexical`` and ``dense`` are each memory's own representation. A conversation turn
    (when :attr:`ContextOptions.turn_context` is on) also has an in-context one: its BM25
    text ``context_lexical`` (the turn and the previous turn) and, for its vector
    (:func:`context_vector`), its ``speakers`` entry; both are ``None`` for other memories.
    ``previous`` is the position in the batch of each memory's previous turn of the same
    session (``None`` when it is not in the batch).
    """

    lexical: list[str]
    dense: list[str]
    context_lexical: list[str | None]
    speakers: list[str | None]
    previous: list[int | None]

    @property
    def turns(self) -> list[int]:
        """Positions of the memories that have an in-context representation."""
        return [n for n, speaker in enumerate(self.speakers) if speaker is not None]


def indexed_texts(
    items: Sequence[MemoryItem],
    options: ContextOptions,
    lookup: Callable[[MemoryItem], str | None] | None = None,
) -> IndexedTexts:
    """The texts to index for each of ``items``: its own and, for a turn, in context.

    The previous turn is found as :func:`contextual_texts` finds it.
    """
    positions = previous_positions(items)
    previous = previous_turns(items, lookup, positions) if options.needs_previous else {}
    lexical = [contextual_text(i, options, previous.get(i.id), side="lexical") for i in items]
    dense = [contextual_text(i, options, previous.get(i.id), side="dense") for i in items]
    context_lexical: list[str | None] = [None] * len(items)
    speakers: list[str | None] = [None] * len(items)
    if options.turn_context:
        for n, item in enumerate(items):
            if _speaker(item):
                before = previous.get(item.id)
                context_lexical[n] = contextual_text(item, _TURN_LEXICAL, before, side="lexical")
                speakers[n] = str(item.metadata["speaker"])
    return IndexedTexts(lexical, dense, context_lexical, speakers, positions)


def context_vector(
    own: NDArray[np.float32],
    previous: NDArray[np.float32] | None,
    speaker: NDArray[np.float32],
) -> NDArray[np.float32]:
    """A turn's in-context vector, made of vectors already computed (no embedding call).

    The unit-length sum of the turn's own vector, :data:`PREVIOUS_WEIGHT` times the
    previous turn's own vector (if any) and :data:`SPEAKER_WEIGHT` times the speaker's
    name's vector: a reply ("That's great! When?") moves towards what it answers and who
    said it. Measured on the LoCoMo dev conversations it ranks better than embedding the
    text "Speaker: turn (after: previous turn)", at no extra embedding per turn
    (``benchmarks/RESULTS.md``).
    """
    mixed = own.astype(np.float32) + SPEAKER_WEIGHT * speaker
    if previous is not None:
        mixed = mixed + PREVIOUS_WEIGHT * previous
    norm = float(np.linalg.norm(mixed))
    return (mixed / norm if norm > 0 else mixed).astype(np.float32)


def contextual_texts(
    items: Sequence[MemoryItem],
    options: ContextOptions,
    lookup: Callable[[MemoryItem], str | None] | None = None,
) -> tuple[list[str], list[str]]:
    """The lexical and the dense text to index for each of ``items``.

    When the options index the previous turn, an item's previous turn is the item before
    it in the same session among ``items``; for the first of a session, ``lookup(item)``
    (the store's stored turn before it, as ``Speaker: text``) if given.
    """
    texts = indexed_texts(items, options, lookup)
    return texts.lexical, texts.dense


def previous_positions(items: Sequence[MemoryItem]) -> list[int | None]:
    """For each item, the position in ``items`` of the previous one of its session.

    ``None`` for an item without a session or the first of its session among ``items``.
    """
    out: list[int | None] = [None] * len(items)
    last: dict[tuple[str, str | None, str], int] = {}
    for n in sorted(range(len(items)), key=lambda n: items[n].created_at):
        item = items[n]
        session = item.scope.session_id
        if session is None:
            continue
        key = (item.scope.user_id, item.scope.agent_id, session)
        out[n] = last.get(key)
        last[key] = n
    return out


def previous_turns(
    items: Sequence[MemoryItem],
    lookup: Callable[[MemoryItem], str | None] | None = None,
    positions: Sequence[int | None] | None = None,
) -> dict[str, str]:
    """The previous turn of the same session for each item that has one, by item id."""
    out: dict[str, str] = {}
    positions = previous_positions(items) if positions is None else positions
    for item, before in zip(items, positions, strict=True):
        if item.scope.session_id is None:
            continue
        if before is not None:
            out[item.id] = speaker_line(items[before])
        elif lookup is not None:
            found = lookup(item)
            if found is not None:
                out[item.id] = found
    return out
