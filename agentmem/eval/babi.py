"""bAbI tasks (Weston et al.): parse the text format into stories with their questions.

Lines are ``ID text``; a question line is ``ID question<TAB>answer<TAB>supporting IDs``;
a story restarts when the ID goes back to 1. Tasks 1-3 track where people and objects
are, so later statements about the same person overrule earlier ones.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field

from agentmem.eval.loaders import DatasetError

__all__ = ["BabiQuestion", "BabiStory", "babi_files", "load_babi"]


class BabiQuestion(BaseModel):
    """A question asked after the statement with index ``after`` (exclusive)."""

    question: str
    answer: str
    supporting: list[int]
    after: int


class BabiStory(BaseModel):
    """A bAbI story: its statements in order (line ids kept) and its questions."""

    id: str
    statements: list[tuple[int, str]] = Field(default_factory=list)
    questions: list[BabiQuestion] = Field(default_factory=list)


def load_babi(path: str | os.PathLike[str], *, limit: int | None = None) -> list[BabiStory]:
    """Parse a bAbI file into stories (at most ``limit``)."""
    source = Path(path)
    stories: list[BabiStory] = []
    last = 0
    try:
        lines = source.read_text("utf-8").splitlines()
    except OSError as exc:
        msg = f"cannot read the bAbI file {source}: {exc}"
        raise DatasetError(msg) from exc
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        head, _, text = raw.strip().partition(" ")
        if not head.isdigit():
            msg = f"{source.name} line {number}: expected 'ID text', got {raw[:60]!r}"
            raise DatasetError(msg)
        line_id = int(head)
        if line_id <= last or not stories:
            if limit is not None and len(stories) == limit:
                break
            stories.append(BabiStory(id=f"{source.stem}:{len(stories)}"))
        last = line_id
        story = stories[-1]
        if "\t" in text:
            parts = [p.strip() for p in text.split("\t")]
            if len(parts) < 3:
                msg = f"{source.name} line {number}: a question needs question, answer, support"
                raise DatasetError(msg)
            story.questions.append(
                BabiQuestion(
                    question=parts[0],
                    answer=parts[1],
                    supporting=[int(s) for s in parts[2].split()],
                    after=len(story.statements),
                )
            )
        else:
            story.statements.append((line_id, text.strip()))
    return stories


def babi_files(folder: str | os.PathLike[str], tasks: tuple[int, ...] = (1, 2, 3)) -> list[Path]:
    """The test files of ``tasks`` in a bAbI ``en/`` folder."""
    found = [p for t in tasks for p in sorted(Path(folder).glob(f"qa{t}_*_test.txt"))]
    if not found:
        msg = f"no bAbI test files for tasks {tasks} in {folder}"
        raise DatasetError(msg)
    return found
