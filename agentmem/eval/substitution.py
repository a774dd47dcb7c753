"""Entity substitution (Longpre et al., "Entity-Based Knowledge Conflicts in QA").

Given a QA item whose context passage contains the answer entity, make a conflicting
item by replacing every mention of the answer with another entity of the same type; a
reader that follows the context should then answer the substitute.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ValidationError

from agentmem.eval.loaders import DatasetError
from agentmem.eval.shared_data import load_bundled

__all__ = ["EntityQA", "load_entities", "load_entity_qa", "substitute", "substitute_all"]


class EntityQA(BaseModel):
    """A question, a context passage that answers it, and the answer entity with its type.

    ``substituted`` is the entity put in the answer's place (``None`` for an original).
    """

    id: str
    question: str
    context: str
    answer: str
    type: str
    substituted: str | None = None


def load_entities(path: str | os.PathLike[str] | None = None) -> dict[str, list[str]]:
    """Typed entity lists ``type -> [entity, ...]``: ``path`` or the bundled ones."""
    data = load_bundled("entities.json") if path is None else json.loads(Path(path).read_text())
    return {str(k): [str(v) for v in values] for k, values in data.items()}


def load_entity_qa(path: str | os.PathLike[str] | None = None) -> list[EntityQA]:
    """QA items as JSON lines (``id, question, context, answer, type``); default: bundled."""
    try:
        if path is None:
            return [EntityQA.model_validate(r) for r in load_bundled("entity_qa.json")]
        lines = Path(path).read_text("utf-8").splitlines()
        return [EntityQA.model_validate_json(line) for line in lines if line.strip()]
    except (OSError, ValidationError, json.JSONDecodeError) as exc:
        msg = f"cannot read entity QA items from {path or 'the bundled file'}: {exc}"
        raise DatasetError(msg) from exc


def substitute(item: EntityQA, replacement: str) -> EntityQA:
    """The item with every whole-word mention of its answer in the context replaced."""
    pattern = re.compile(rf"(?<!\w){re.escape(item.answer)}(?!\w)")
    if not pattern.search(item.context):
        msg = f"item {item.id}: the answer {item.answer!r} does not occur in its context"
        raise DatasetError(msg)
    return item.model_copy(
        update={
            "context": pattern.sub(lambda _: replacement, item.context),
            "substituted": replacement,
        }
    )


def substitute_all(
    items: Sequence[EntityQA], entities: Mapping[str, Sequence[str]], *, seed: int = 0
) -> list[EntityQA]:
    """Substitute each item's answer by a random other entity of its type (seeded)."""
    out = []
    for item in items:
        pool = [e for e in entities.get(item.type, []) if e.lower() != item.answer.lower()]
        if not pool:
            msg = f"item {item.id}: no other entity of type {item.type!r} to substitute"
            raise DatasetError(msg)
        rng = random.Random(f"{seed}/{item.id}")
        out.append(substitute(item, rng.choice(pool)))
    return out
