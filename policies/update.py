"""UpdatePolicy (Keep Me Updated!): new information about a subject replaces what is outdated.

When a memory about a subject is written, the policy compares it with the open memories
about the same subject and decides, for each stored one:

- PASS: nothing new; the new copy is dropped.
- REPLACE: the stored memory is outdated; it is closed (``valid_to``), kept in history.
- APPEND: both hold; nothing changes.
- DELETE: the new information invalidates the stored memory without replacing it
  (e.g. "I sold my car"); the stored memory is closed.

Two deciders:

- :class:`StructuredDecider` (the default) works on facts: memories of kind ``fact`` whose
  metadata names a ``subject``, an ``attribute`` and a ``value``. Same subject and
  attribute: an equal value is PASS; a different one is REPLACE, newest by event time
  (``created_at``) winning, ties going to the later ``recorded_at``; an attribute marked
  ``metadata["multi"] = True`` APPENDs; a fact marked ``metadata["negated"] = True`` (e.g.
  "no longer has a dog") DELETEs the stored one.
- :class:`LLMUpdateDecider` asks a chat model (prompt ``update_decider.md``) about each
  pair of new and stored memory with the same ``metadata["subject"]``, any kind.

Only memories of the same user and subject are ever touched.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from agentmem._errors import ModelError
from agentmem._models import Filters, Kind, MemoryItem, Scope
from agentmem._prompts import render_prompt
from agentmem._protocols import Action, ChatMessage, ChatModel, Decision, PolicyContext
from agentmem._structured import UpdateChoice, ask_lines
from agentmem.policies.base import BasePolicy

__all__ = [
    "LLMUpdateDecider",
    "StructuredDecider",
    "UpdateDecider",
    "UpdateOp",
    "UpdatePolicy",
    "fact_key",
]

logger = logging.getLogger(__name__)


class UpdateOp(StrEnum):
    """What new information does to a stored memory about the same subject."""

    PASS = "PASS"
    REPLACE = "REPLACE"
    APPEND = "APPEND"
    DELETE = "DELETE"


@runtime_checkable
class UpdateDecider(Protocol):
    """Decides what a new memory does to one stored memory about the same subject."""

    def decide(self, new: MemoryItem, old: MemoryItem) -> UpdateOp:
        """PASS, REPLACE, APPEND or DELETE."""
        ...


def fact_key(item: MemoryItem) -> tuple[str, str] | None:
    """``(subject, attribute)`` of a structured fact (normalised), or None."""
    subject = item.metadata.get("subject")
    attribute = item.metadata.get("attribute")
    if item.kind is not Kind.FACT or not isinstance(subject, str) or not isinstance(attribute, str):
        return None
    return subject.strip().lower(), attribute.strip().lower()


def _subject(item: MemoryItem) -> str | None:
    subject = item.metadata.get("subject")
    return subject.strip().lower() if isinstance(subject, str) else None


def _value(item: MemoryItem) -> str:
    return str(item.metadata.get("value", item.text)).strip().lower()


def _when(item: MemoryItem) -> tuple[datetime, datetime]:
    return item.created_at, item.recorded_at


class StructuredDecider:
    """The deterministic decider for structured facts (same subject and attribute)."""

    def decide(self, new: MemoryItem, old: MemoryItem) -> UpdateOp:
        """PASS on an equal value, DELETE on a negation, APPEND on multi, else REPLACE."""
        if fact_key(new) is None or fact_key(new) != fact_key(old):
            return UpdateOp.APPEND
        if new.metadata.get("negated"):
            return UpdateOp.DELETE
        if new.metadata.get("multi"):
            return UpdateOp.PASS if _value(new) == _value(old) else UpdateOp.APPEND
        return UpdateOp.PASS if _value(new) == _value(old) else UpdateOp.REPLACE


_OP = re.compile(r"\b(PASS|REPLACE|APPEND|DELETE)\b", re.IGNORECASE)


class LLMUpdateDecider:
    """Asks a chat model whether new information passes, replaces, appends to or deletes.

    Args:
        llm: the chat model.
        fallback: the answer when the model names no operation (APPEND loses nothing).
    """

    def __init__(self, llm: ChatModel, *, fallback: UpdateOp = UpdateOp.APPEND) -> None:
        self.llm = llm
        self.fallback = fallback

    def decide(self, new: MemoryItem, old: MemoryItem) -> UpdateOp:
        """Render ``update_decider.md`` and read the first operation in the answer."""
        prompt = render_prompt(
            "update_decider",
            subject=new.metadata.get("subject", ""),
            old=old.text,
            old_date=f"{old.created_at:%Y-%m-%d}",
            new=new.text,
            new_date=f"{new.created_at:%Y-%m-%d}",
        )
        try:
            answer = ask_lines(
                self.llm,
                [ChatMessage(role="user", content=prompt)],
                UpdateChoice,
                max_tokens=8,
                structured_max_tokens=32,
            )
        except ModelError:
            logger.warning("the update decider failed; using %s", self.fallback, exc_info=True)
            return self.fallback
        match = _OP.search(answer)
        if match is None:
            logger.info("no operation in the decider's answer %r; using the fallback", answer)
            return self.fallback
        return UpdateOp(match.group(1).upper())


class UpdatePolicy(BasePolicy):
    """Settle conflicts between new information and what is stored about the same subject.

    Args:
        decider: :class:`StructuredDecider` (default) or :class:`LLMUpdateDecider`.
    """

    name = "update"

    def __init__(self, decider: UpdateDecider | None = None) -> None:
        self.decider: UpdateDecider = decider if decider is not None else StructuredDecider()

    def __repr__(self) -> str:
        return f"UpdatePolicy(decider={type(self.decider).__name__}())"

    def on_write(self, items: Sequence[MemoryItem], ctx: PolicyContext) -> list[Decision]:
        """Decide PASS / REPLACE / APPEND / DELETE for each new memory about a subject."""
        if isinstance(self.decider, StructuredDecider):
            return self._structured(items, ctx)
        return self._pairwise(items, ctx)

    # -- structured facts: one scan per user, whatever the batch size --------------------
    def _structured(self, items: Sequence[MemoryItem], ctx: PolicyContext) -> list[Decision]:
        new_by_user: dict[str, list[MemoryItem]] = defaultdict(list)
        for item in items:
            if fact_key(item) is not None:
                new_by_user[item.scope.user_id].append(item)
        decisions: list[Decision] = []
        for user_id, new_items in new_by_user.items():
            new_ids = {item.id for item in new_items}
            stored: dict[tuple[str, str], list[MemoryItem]] = defaultdict(list)
            for old in ctx.scan(scope=Scope(user_id=user_id), filters=Filters(kinds=(Kind.FACT,))):
                key = fact_key(old)
                if key is not None and old.id not in new_ids:
                    stored[key].append(old)
            arriving: dict[tuple[str, str], list[MemoryItem]] = defaultdict(list)
            for item in new_items:
                new_key = fact_key(item)
                if new_key is not None:
                    arriving[new_key].append(item)
            for key, group in arriving.items():
                decisions += self._settle(key, stored.get(key, []), group)
        return decisions

    def _settle(
        self, key: tuple[str, str], stored: list[MemoryItem], arriving: list[MemoryItem]
    ) -> list[Decision]:
        """Run the new facts of one key, oldest first, against the open ones."""
        decisions: list[Decision] = []
        open_: list[MemoryItem] = list(stored)
        for new in sorted(arriving, key=_when):
            keep_new = True
            remaining: list[MemoryItem] = []
            for index, old in enumerate(open_):
                op = self.decider.decide(new, old)
                if op is UpdateOp.APPEND:
                    remaining.append(old)
                    continue
                if op is UpdateOp.PASS or (op is UpdateOp.REPLACE and _when(new) < _when(old)):
                    # Nothing new, or the new fact is older than the stored one: it goes.
                    if op is UpdateOp.PASS:
                        decisions.append(self._pass(new, old, key))
                    else:
                        decisions.append(self._close(new, old, key, op))
                    keep_new = False
                    remaining += open_[index:]
                    break
                decisions.append(self._close(old, new, key, op))
            open_ = [*remaining, new] if keep_new else remaining
        return decisions

    # -- any decider: ask about each stored memory of the same subject ------------------
    def _pairwise(self, items: Sequence[MemoryItem], ctx: PolicyContext) -> list[Decision]:
        decisions: list[Decision] = []
        closed: set[str] = set()
        new_ids = {item.id for item in items}
        for new in sorted(items, key=_when):
            subject = _subject(new)
            if subject is None:
                continue
            scope = Scope(user_id=new.scope.user_id)
            key = (subject, str(new.metadata.get("attribute", "")).strip().lower())
            for old in ctx.scan(scope=scope):
                if old.id == new.id or old.id in closed or _subject(old) != subject:
                    continue
                if old.id in new_ids and _when(old) > _when(new):
                    continue
                op = self.decider.decide(new, old)
                if op is UpdateOp.PASS:
                    decisions.append(self._pass(new, old, key))
                    closed.add(new.id)
                    break
                if op in (UpdateOp.REPLACE, UpdateOp.DELETE):
                    decisions.append(self._close(old, new, key, op))
                    closed.add(old.id)
                else:
                    decisions.append(
                        Decision(
                            action=Action.KEEP,
                            item_ids=[old.id, new.id],
                            reason=f"APPEND: {new.text!r} adds to {old.text!r}",
                            policy=self.name,
                        )
                    )
        return decisions

    # -- decisions ------------------------------------------------------------------------
    def _pass(self, new: MemoryItem, old: MemoryItem, key: tuple[str, str]) -> Decision:
        return Decision(
            action=Action.FORGET,
            item_ids=[new.id],
            reason=f"PASS: {key[0]} {key[1]} = {new.metadata.get('value', new.text)!r} "
            f"is already stored as {old.id}",
            policy=self.name,
            kept=old.id,
        )

    def _close(
        self, older: MemoryItem, newer: MemoryItem, key: tuple[str, str], op: UpdateOp
    ) -> Decision:
        if op is UpdateOp.DELETE:
            reason = f"DELETE: {newer.text!r} invalidates {older.text!r}"
            mark = {"invalidated_by": newer.id}
        else:
            reason = (
                f"REPLACE: {key[0]} {key[1]} changed from "
                f"{older.metadata.get('value', older.text)!r} to "
                f"{newer.metadata.get('value', newer.text)!r}"
            )
            mark = {"superseded_by": newer.id}
        return Decision(
            action=Action.UPDATE,
            item_ids=[older.id],
            reason=reason,
            policy=self.name,
            changes={
                "valid_to": max(newer.created_at, older.valid_from or older.created_at),
                "metadata": {**older.metadata, **mark},
            },
        )
