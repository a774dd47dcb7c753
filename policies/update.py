"""UpdatePolicy (Keep Me Updated!): new information about a subject replaces what is outdated.

A fact is a memory of kind ``fact`` whose metadata names a ``subject``, an ``attribute``
and a ``value``. When a fact is written, the policy compares it with the open facts of
the same user, subject and attribute, and decides:

- PASS: the same value is already stored; the new copy is dropped.
- REPLACE: the value changed; the older fact is closed (``valid_to``), kept in history.
- APPEND: the attribute holds several values (``metadata["multi"] = True``); both stay.

Newest by event time (``created_at``) wins; ties go to the later ``recorded_at``.
Only facts with the same subject and attribute are ever touched.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentmem.policies.base import BasePolicy

from agentmem._models import Filters, Kind, MemoryItem
from agentmem._protocols import Action, Decision, PolicyContext

__all__ = ["UpdatePolicy", "fact_key"]


def fact_key(item: MemoryItem) -> tuple[str, str] | None:
    """``(subject, attribute)`` of a structured fact (normalised), or None."""
    subject = item.metadata.get("subject")
    attribute = item.metadata.get("attribute")
    if item.kind is not Kind.FACT or not isinstance(subject, str) or not isinstance(attribute, str):
        return None
    return subject.strip().lower(), attribute.strip().lower()


def _value(item: MemoryItem) -> str:
    return str(item.metadata.get("value", item.text)).strip().lower()


def _newer(a: MemoryItem, b: MemoryItem) -> bool:
    return (a.created_at, a.recorded_at) >= (b.created_at, b.recorded_at)


class UpdatePolicy(BasePolicy):
    """Settle conflicts between a new structured fact and the stored ones (deterministic)."""

    name = "update"

    def on_write(self, items: Sequence[MemoryItem], ctx: PolicyContext) -> list[Decision]:
        """Decide PASS / REPLACE / APPEND for each new fact."""
        decisions: list[Decision] = []
        settled: set[str] = set()
        for item in items:
            key = fact_key(item)
            if key is None or item.id in settled or item.metadata.get("multi"):
                continue
            filters = Filters(
                kinds=(Kind.FACT,),
                metadata={
                    "subject": item.metadata["subject"],
                    "attribute": item.metadata["attribute"],
                },
            )
            scope = item.scope.model_copy(update={"agent_id": None, "session_id": None})
            for old in ctx.scan(scope=scope, filters=filters, include_closed=False):
                if old.id == item.id or old.id in settled or fact_key(old) != key:
                    continue
                if _value(old) == _value(item):
                    settled.add(item.id)
                    decisions.append(
                        Decision(
                            action=Action.FORGET,
                            item_ids=[item.id],
                            reason=f"PASS: {key[0]} {key[1]} = {item.metadata.get('value')!r} "
                            f"is already stored as {old.id}",
                            policy=self.name,
                        )
                    )
                    break
                newer, older = (item, old) if _newer(item, old) else (old, item)
                settled.add(older.id)
                decisions.append(
                    Decision(
                        action=Action.UPDATE,
                        item_ids=[older.id],
                        reason=f"REPLACE: {key[0]} {key[1]} changed from "
                        f"{older.metadata.get('value')!r} to {newer.metadata.get('value')!r}",
                        policy=self.name,
                        changes={
                            "valid_to": max(newer.created_at, older.valid_from or older.created_at),
                            "metadata": {**older.metadata, "superseded_by": newer.id},
                        },
                    )
                )
                if older is item:
                    break
        return decisions
