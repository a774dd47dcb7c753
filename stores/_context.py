"""Contextual indexing: what is embedded and indexed for a memory, beside its exact text.

A bare turn ("I just moved to Porto!") says neither who spoke nor when. The indexed text
prefixes the speaker (metadata ``speaker``) and the day it happened (``created_at``),
and can append the previous turn of the same session, so "where does Alice live?" or
"what happened in May 2023?" can find it. The stored text never changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentmem._models import MemoryItem

__all__ = ["ContextOptions", "contextual_text"]


@dataclass(frozen=True)
class ContextOptions:
    """What the indexed text of a memory carries beside its own text.

    Args:
        speaker: prefix ``metadata["speaker"]`` when the memory has one.
        date: prefix the day it happened (``created_at``), e.g. ``7 May 2023``.
        previous_turn: append the previous memory of the same session.
    """

    speaker: bool = True
    date: bool = True
    previous_turn: bool = False

    @property
    def key(self) -> str:
        """A string that identifies these options (stored to detect a change on reopen)."""
        return f"speaker={int(self.speaker)},date={int(self.date)},prev={int(self.previous_turn)}"


def speaker_line(item: MemoryItem) -> str:
    """``"Speaker: text"`` when the item names its speaker, else its text."""
    speaker = item.metadata.get("speaker")
    return f"{speaker}: {item.text}" if isinstance(speaker, str) and speaker else item.text


def contextual_text(item: MemoryItem, options: ContextOptions, previous: str | None = None) -> str:
    """The text to embed and index for ``item`` (its stored text is left as it is)."""
    text = speaker_line(item) if options.speaker else item.text
    if options.date:
        when = item.created_at
        text = f"[{when.day} {when:%B} {when.year}] {text}"
    if options.previous_turn and previous:
        text = f"{text}\n(after: {previous})"
    return text
