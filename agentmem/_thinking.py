"""Post-thinking (Think-in-Memory): after answering, keep the thoughts the exchange reached.

Recalling raw history and reasoning over it again at every question gives inconsistent
answers. A :class:`PostThinker` instead draws short, self-contained thoughts from each
exchange (fixed patterns for common personal facts, plus the LLM with the prompt
``post_think``), inserts them into the thought store, and lets a
:class:`~agentmem.policies.ThoughtPolicy` merge thoughts on the same subject and relation
and forget those a newer thought contradicts. Every step is a logged ``MemoryEvent``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from agentmem._errors import ModelError, UserError
from agentmem._facts import PatternFactExtractor, triple_lines
from agentmem._memory import Changes, Memory
from agentmem._models import Hit, Kind
from agentmem._prompts import render_prompt
from agentmem._protocols import ChatMessage, ChatModel

if TYPE_CHECKING:
    from agentmem.policies.thought import ThoughtPolicy

__all__ = ["PostThinker", "Thought"]

logger = logging.getLogger(__name__)

_USER_WORDS = frozenset({"user", "the user", "i", "me"})


class Thought(BaseModel):
    """A short self-contained statement, optionally with a (subject, relation, object) triple."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    text: str
    subject: str | None = None
    relation: str | None = None
    object: str | None = None
    multi: bool = False

    def metadata(self) -> dict[str, Any]:
        """The metadata a stored thought carries (subject and relation normalised)."""
        if self.subject is None or self.relation is None or self.object is None:
            return {}
        out: dict[str, Any] = {
            "subject": self.subject.strip().lower(),
            "relation": self.relation.strip().lower(),
            "object": self.object.strip(),
        }
        if self.multi:
            out["multi"] = True
        return out

    def key(self) -> tuple[str, ...]:
        """What makes two thoughts the same: the normalised triple, else the text."""
        meta = self.metadata()
        if meta:
            return (str(meta["subject"]), str(meta["relation"]), str(meta["object"]).lower())
        return (" ".join(self.text.lower().split()),)


class PostThinker:
    """Draws thoughts from an exchange and updates the thought store with them.

    Args:
        llm: the model that post-thinks (prompt ``post_think``); ``None``: patterns only.
        store: the name of the :class:`~agentmem.stores.ThoughtStore` in the Memory.
        patterns: also turn the user's first-person facts (where they live, their job,
            pets, ...) into thoughts with fixed patterns: exact, and free.
        policy: merges and forgets thoughts; default: a ThoughtPolicy merging with ``llm``.
            Not applied a second time if the Memory already runs a ThoughtPolicy.
        grounded: keep an LLM thought only if its object occurs in the user's message.
        max_tokens: cap on the post-thinking reply.
    """

    def __init__(
        self,
        llm: ChatModel | None = None,
        *,
        store: str = "thought",
        patterns: bool = True,
        policy: ThoughtPolicy | None = None,
        grounded: bool = True,
        max_tokens: int = 96,
    ) -> None:
        from agentmem.policies.thought import ThoughtPolicy

        self.llm = llm
        self.store = store
        self.patterns = patterns
        self.policy = policy if policy is not None else ThoughtPolicy(llm)
        self.grounded = grounded
        self.max_tokens = max_tokens

    def think(self, message: str, answer: str, recalled: Sequence[Hit] = ()) -> list[Thought]:
        """The thoughts one exchange reached (duplicates dropped, patterns first)."""
        thoughts: list[Thought] = []
        if self.patterns:
            thoughts += [
                Thought(
                    text=fact.text,
                    subject=fact.subject,
                    relation=fact.attribute,
                    object=fact.value,
                    multi=fact.multi,
                )
                for fact in PatternFactExtractor().extract(message)
            ]
        if self.llm is not None:
            held = [hit.item.text for hit in recalled if hit.item.kind is Kind.THOUGHT]
            prompt = render_prompt(
                "post_think",
                thoughts="\n".join(f"- {text}" for text in held) or "(none)",
                message=" ".join(message.split()),
                answer=" ".join(answer.split()),
            )
            try:
                reply = self.llm.chat(
                    [ChatMessage(role="user", content=prompt)], max_tokens=self.max_tokens
                )
                thoughts += self.parse(reply.text, message if self.grounded else None)
            except ModelError as exc:
                logger.warning("post-thinking failed; keeping pattern thoughts only: %s", exc)
        seen: set[tuple[str, ...]] = set()
        unique: list[Thought] = []
        for thought in thoughts:
            if thought.key() not in seen:
                seen.add(thought.key())
                unique.append(thought)
        return unique

    @staticmethod
    def parse(reply: str, message: str | None = None) -> list[Thought]:
        """Parse ``subject | relation | object | thought`` lines.

        With ``message``, a thought survives only if its object occurs in it (a weak
        model cannot invent one). A missing thought sentence is built from the triple.
        """
        thoughts: list[Thought] = []
        for subject, relation, obj, sentence in triple_lines(reply, _USER_WORDS):
            if message is not None and obj.lower() not in message.lower():
                continue
            owner = "The user" if subject == "user" else subject
            text = sentence or f"{owner} {relation.replace('_', ' ')}: {obj}."
            thoughts.append(Thought(text=text, subject=subject, relation=relation, object=obj))
        return thoughts

    def remember(
        self,
        memory: Memory,
        thoughts: Sequence[Thought],
        *,
        user_id: str,
        session_id: str | None = None,
        agent_id: str | None = None,
        created_at: datetime | None = None,
        source_ids: Sequence[str] = (),
    ) -> Changes:
        """Insert ``thoughts`` into the thought store, then merge and forget (all logged)."""
        if not thoughts:
            return Changes()
        if self.store not in {store.name for store in memory.stores}:
            msg = (
                f"the Memory has no store named {self.store!r} for thoughts; add one, e.g. "
                f"Memory([VectorStore(...), ThoughtStore(path, embedder)])"
            )
            raise UserError(msg)
        items = [
            memory.make_item(
                thought.text,
                kind=Kind.THOUGHT,
                user_id=user_id,
                session_id=session_id,
                agent_id=agent_id,
                created_at=created_at,
                metadata=thought.metadata(),
                source_ids=source_ids,
            )
            for thought in thoughts
        ]
        turns = ", ".join(source_ids) or "the exchange"
        changes = memory.write(items, store=self.store, reason=f"post-thinking on {turns}")
        from agentmem.policies.thought import ThoughtPolicy

        if not any(isinstance(policy, ThoughtPolicy) for policy in memory.policies):
            changes.extend(memory.apply(self.policy.on_write(items, memory.context)))
        return changes
