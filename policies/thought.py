"""ThoughtPolicy (Think-in-Memory): merge thoughts on one subject and relation, forget stale ones.

A thought is a memory of kind ``thought`` whose metadata may name a ``subject``, a
``relation`` and an ``object`` (stored lower-cased and stripped, except the object).
When thoughts are written, every open thought of the same user with the same subject and
relation joins them in a group, and the policy decides, in this order:

- MERGE: the group becomes one thought (the newest object is the current one), written
  by the LLM when one is configured and checked to name that object, else the newest
  thought's text; ``source_ids`` and the merged ids are kept as provenance.
- FORGET: for a single-valued relation, thoughts whose object differs from the newest
  are contradicted by it and are deleted for good (the merge event keeps their text).

Relations in ``multi_relations`` (or thoughts with ``metadata["multi"]``) hold several
values at once: their thoughts are merged into one listing every value and none is
forgotten.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from agentmem._errors import ModelError
from agentmem._models import Filters, Kind, MemoryItem
from agentmem._prompts import render_prompt
from agentmem._protocols import Action, ChatMessage, ChatModel, Decision, PolicyContext
from agentmem.policies.base import BasePolicy
from agentmem.policies.merge import combined_use

__all__ = ["ThoughtPolicy", "thought_key"]

logger = logging.getLogger(__name__)

MULTI_RELATIONS = frozenset({"likes", "dislikes", "pet", "has", "knows", "speaks", "visited"})


def thought_key(item: MemoryItem) -> tuple[str, str] | None:
    """``(subject, relation)`` of a thought with a triple (normalised), or None."""
    subject = item.metadata.get("subject")
    relation = item.metadata.get("relation")
    if item.kind is not Kind.THOUGHT or not isinstance(subject, str):
        return None
    if not isinstance(relation, str) or not subject.strip() or not relation.strip():
        return None
    return subject.strip().lower(), relation.strip().lower()


def _object(item: MemoryItem) -> str:
    return " ".join(str(item.metadata.get("object", item.text)).lower().split())


def _order(item: MemoryItem) -> tuple[object, ...]:
    return (item.created_at, item.recorded_at)


def _unique(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return list(seen)


class ThoughtPolicy(BasePolicy):
    """Merge and forget thoughts that share a subject and relation, with reasons.

    Args:
        llm: writes merged thoughts (prompt ``merge_thoughts``); ``None``: a fixed rule.
        multi_relations: relations that hold several values at once.
        max_tokens: cap on the merged thought's length.
    """

    name = "thought"

    def __init__(
        self,
        llm: ChatModel | None = None,
        *,
        multi_relations: Iterable[str] = MULTI_RELATIONS,
        max_tokens: int = 64,
    ) -> None:
        self.llm = llm
        self.multi_relations = frozenset(r.strip().lower() for r in multi_relations)
        self.max_tokens = max_tokens

    def on_write(self, items: Sequence[MemoryItem], ctx: PolicyContext) -> list[Decision]:
        """Merge each new thought with its group; forget the group's contradicted members."""
        decisions: list[Decision] = []
        settled: set[str] = set()
        for item in items:
            key = thought_key(item)
            if key is None or item.id in settled:
                continue
            scope = item.scope.model_copy(update={"agent_id": None, "session_id": None})
            filters = Filters(
                kinds=(Kind.THOUGHT,), metadata={"subject": key[0], "relation": key[1]}
            )
            group = sorted(
                (
                    old
                    for old in ctx.scan(scope=scope, filters=filters, include_closed=False)
                    if old.id not in settled and thought_key(old) == key
                ),
                key=_order,
            )
            if len(group) < 2 or item.id not in {old.id for old in group}:
                continue
            settled.update(old.id for old in group)
            decisions += self._decide(key, group, ctx)
        return decisions

    def _decide(
        self, key: tuple[str, str], group: list[MemoryItem], ctx: PolicyContext
    ) -> list[Decision]:
        newest = group[-1]
        multi = key[1] in self.multi_relations or any(g.metadata.get("multi") for g in group)
        stale = [] if multi else [g for g in group if _object(g) != _object(newest)]
        objects = _unique(str(g.metadata.get("object", "")) for g in group)
        text = self._merged_text(group, multi)
        merged = MemoryItem(
            text=text,
            kind=Kind.THOUGHT,
            scope=newest.scope,
            created_at=newest.created_at,
            recorded_at=ctx.now,
            **combined_use(group),
            source_ids=_unique(s for g in group for s in g.source_ids),
            metadata={
                **newest.metadata,
                "subject": key[0],
                "relation": key[1],
                "object": ", ".join(objects) if multi else newest.metadata.get("object"),
                "merged_from": [g.id for g in group],
                "earlier_objects": [o for o in objects if o != newest.metadata.get("object")],
            },
        )
        what = f"{key[0]} {key[1]}"
        decisions = [
            Decision(
                action=Action.MERGE,
                item_ids=[g.id for g in group],
                reason=f"{len(group)} thoughts about the same subject and relation ({what}) "
                f"combined into one",
                policy=self.name,
                merged=merged,
            )
        ]
        if stale:
            decisions.append(
                Decision(
                    action=Action.FORGET,
                    item_ids=[g.id for g in stale],
                    reason=f"contradicted by the newer thought {newest.id}: {what} is now "
                    f"{newest.metadata.get('object')!r}, no longer "
                    + " / ".join(repr(g.metadata.get("object")) for g in stale),
                    policy=self.name,
                )
            )
        return decisions

    def _merged_text(self, group: list[MemoryItem], multi: bool) -> str:
        rule = " ".join(_unique(g.text for g in group)) if multi else group[-1].text
        if self.llm is None:
            return rule
        prompt = render_prompt("merge_thoughts", thoughts="\n".join(f"- {g.text}" for g in group))
        try:
            reply = self.llm.chat(
                [ChatMessage(role="user", content=prompt)], max_tokens=self.max_tokens
            )
        except ModelError as exc:
            logger.warning("merging thoughts with the LLM failed, using the rule: %s", exc)
            return rule
        lines = [line.strip().strip("\"'-* ").strip() for line in reply.text.splitlines()]
        text = next((line for line in lines if line), "")
        current = group if multi else group[-1:]
        needed = [str(g.metadata.get("object", "")).lower() for g in current]
        if not text or len(text) > 300 or not all(n in text.lower() for n in needed):
            logger.info("the LLM's merged thought %r misses the current facts; rule used", text)
            return rule
        return text
