"""Agent: an LLM with long-term memory, one turn at a time.

Each ``chat`` runs the turn loop and returns what every step did::

    recall  -> search memory for the user's message (scoped), best first
    respond -> the LLM answers, recalled memories quoted as data with their dates
    reflect -> lasting facts drawn from the user's message (patterns + the LLM); with a
               thinker, post-thinking also draws thoughts from the exchange
    write   -> the raw turn and its facts are stored; UpdatePolicy settles changed facts;
               thoughts go to the thought store, where they are merged and forgotten
    retain  -> time-based policies decay, merge and forget; every change is logged
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from agentmem._clock import as_utc
from agentmem._errors import UserError
from agentmem._facts import Fact, FactExtractor, LLMFactExtractor, PatternFactExtractor, merge_facts
from agentmem._memory import Changes, Memory
from agentmem._models import Hit, Kind, MemoryItem
from agentmem._prompts import quote_memory, render_prompt
from agentmem._protocols import ChatMessage, ChatModel
from agentmem._thinking import PostThinker, Thought
from agentmem._tracing import Tracer, traced
from agentmem._validation import check_text

__all__ = ["Agent", "Reply"]


class Reply(BaseModel):
    """What one turn produced: the answer and everything memory did for it."""

    text: str
    recalled: list[Hit] = Field(default_factory=list)
    written: list[MemoryItem] = Field(default_factory=list)
    updated: list[MemoryItem] = Field(default_factory=list)
    forgotten: list[MemoryItem] = Field(default_factory=list)
    facts: list[Fact] = Field(default_factory=list)
    thoughts: list[Thought] = Field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    timings: dict[str, float] = Field(default_factory=dict)


class Agent:
    """A chat model wrapped with long-term memory.

    Args:
        llm: any :class:`~agentmem.ChatModel`; ``None`` uses the offline
            :class:`~agentmem.llms.LocalLLM`.
        memory: the :class:`Memory` to recall from and write to.
        extractors: how facts are drawn from user messages; default: fixed patterns and
            the LLM (grounded). Pass ``[]`` to store raw turns only.
        recall_k: how many memories to recall per turn.
        window: how many recent messages of the session to send along verbatim.
        max_tokens: cap on the reply's length.
        remember_replies: also store the agent's own replies as memories.
        prompt_style: ``standard`` (a system prompt quoting dated memories, for capable
            models), ``compact`` (one line of remembered facts before the question in the
            third person, which tiny local models follow far better), or ``auto``
            (compact for the bundled :class:`~agentmem.llms.LocalLLM`).
        tracer: called for every LLM call (the memory's tracer sees store operations).
        thinker: post-thinks after each answer and keeps the thoughts in the memory's
            thought store (Think-in-Memory); ``None`` keeps no thoughts.
    """

    def __init__(
        self,
        llm: ChatModel | None = None,
        memory: Memory | None = None,
        *,
        extractors: Sequence[FactExtractor] | None = None,
        recall_k: int = 6,
        window: int = 6,
        max_tokens: int = 96,
        remember_replies: bool = False,
        prompt_style: Literal["auto", "standard", "compact"] = "auto",
        tracer: Tracer | None = None,
        thinker: PostThinker | None = None,
    ) -> None:
        if memory is None:
            msg = "Agent needs a memory, e.g. Agent(memory=Memory.default(path))"
            raise UserError(msg)
        if llm is None:
            from agentmem.llms import LocalLLM

            llm = LocalLLM()
        self.llm: ChatModel = llm
        self.memory = memory
        self.extractors: list[FactExtractor] = (
            [PatternFactExtractor(), LLMFactExtractor(llm)]
            if extractors is None
            else list(extractors)
        )
        self.recall_k = recall_k
        self.window = window
        self.max_tokens = max_tokens
        self.remember_replies = remember_replies
        if prompt_style not in ("auto", "standard", "compact"):
            msg = f"prompt_style must be auto, standard or compact, got {prompt_style!r}"
            raise UserError(msg)
        if prompt_style == "auto":
            from agentmem.llms import LocalLLM

            prompt_style = "compact" if isinstance(llm, LocalLLM) else "standard"
        self.prompt_style = prompt_style
        self.tracer = tracer if tracer is not None else memory.tracer
        self.thinker = thinker
        self._recent: dict[tuple[str, str | None], deque[ChatMessage]] = {}

    def chat(
        self,
        message: str,
        *,
        user_id: str,
        session_id: str | None = None,
        agent_id: str | None = None,
        created_at: datetime | None = None,
    ) -> Reply:
        """Answer ``message`` from ``user_id`` using and updating long-term memory."""
        message = check_text(message, max_bytes=self.memory.max_text_bytes, what="message")
        when = self.memory.clock.now() if created_at is None else as_utc(created_at)
        start = time.perf_counter()
        recalled = self.memory.search(message, user_id=user_id, k=self.recall_k)
        recall_s = time.perf_counter() - start
        turn = self._answer(message, recalled, when, user_id, session_id)
        turn.timings = {"recall": recall_s, **turn.timings}
        return self._commit(message, turn, when, user_id, session_id, agent_id)

    async def achat(
        self,
        message: str,
        *,
        user_id: str,
        session_id: str | None = None,
        agent_id: str | None = None,
        created_at: datetime | None = None,
    ) -> Reply:
        """Like :meth:`chat`, for asyncio code: memory and the model run off the event loop.

        Recall and the writes go through the memory's shared
        :class:`~agentmem.AsyncMemory` (one change at a time); the model's answer and
        reflection run in a worker thread, so many conversations overlap.
        """
        from agentmem._async_memory import AsyncMemory

        memory = AsyncMemory.shared(self.memory)
        message = check_text(message, max_bytes=self.memory.max_text_bytes, what="message")
        when = self.memory.clock.now() if created_at is None else as_utc(created_at)
        start = time.perf_counter()
        recalled = await memory.search(message, user_id=user_id, k=self.recall_k)
        recall_s = time.perf_counter() - start
        turn = await asyncio.to_thread(self._answer, message, recalled, when, user_id, session_id)
        turn.timings = {"recall": recall_s, **turn.timings}
        return await memory.run(
            lambda _memory: self._commit(message, turn, when, user_id, session_id, agent_id)
        )

    def _answer(
        self,
        message: str,
        recalled: list[Hit],
        when: datetime,
        user_id: str,
        session_id: str | None,
    ) -> Reply:
        """Respond and reflect (no memory changes): a Reply without the writes yet."""
        timings: dict[str, float] = {}
        start = time.perf_counter()
        messages = self._prompt(message, recalled, when, user_id, session_id)
        with traced(self.tracer, "llm", "respond", messages=len(messages)) as out:
            result = self.llm.chat(messages, max_tokens=self.max_tokens)
            out.update(text=result.text, prompt_tokens=result.prompt_tokens)
        timings["respond"] = time.perf_counter() - start
        start = time.perf_counter()
        facts: list[Fact] = []
        for extractor in self.extractors:
            with traced(self.tracer, "llm", f"reflect.{type(extractor).__name__}") as out:
                found = extractor.extract(message)
                out["facts"] = [fact.text for fact in found]
            facts += found
        facts = merge_facts(facts)
        thoughts: list[Thought] = []
        if self.thinker is not None:
            with traced(self.tracer, "llm", "reflect.post_think") as out:
                thoughts = self.thinker.think(message, result.text, recalled)
                out["thoughts"] = [thought.text for thought in thoughts]
        timings["reflect"] = time.perf_counter() - start
        return Reply(
            text=result.text,
            recalled=recalled,
            facts=facts,
            thoughts=thoughts,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            timings=timings,
        )

    def _commit(
        self,
        message: str,
        turn: Reply,
        when: datetime,
        user_id: str,
        session_id: str | None,
        agent_id: str | None,
    ) -> Reply:
        """Write the turn, its facts and thoughts, then let the policies retain."""
        start = time.perf_counter()
        changes = self._write(message, turn.text, turn.facts, when, user_id, session_id, agent_id)
        if self.thinker is not None and turn.thoughts:
            turn_ids = [item.id for item in changes.written if item.text == message][:1]
            changes.extend(
                self.thinker.remember(
                    self.memory,
                    turn.thoughts,
                    user_id=user_id,
                    session_id=session_id,
                    agent_id=agent_id,
                    created_at=when,
                    source_ids=turn_ids,
                )
            )
        turn.timings["write"] = time.perf_counter() - start
        start = time.perf_counter()
        changes.extend(self.memory.tick())
        turn.timings["retain"] = time.perf_counter() - start
        recent = self._recent.setdefault((user_id, session_id), deque(maxlen=max(self.window, 0)))
        recent.append(ChatMessage(role="user", content=message))
        recent.append(ChatMessage(role="assistant", content=turn.text))
        turn.written = changes.written
        turn.updated = changes.updated
        turn.forgotten = changes.forgotten
        return turn

    def _prompt(
        self,
        message: str,
        recalled: list[Hit],
        when: datetime,
        user_id: str,
        session_id: str | None,
    ) -> list[ChatMessage]:
        if self.prompt_style == "compact":
            return _compact_prompt(message, recalled)
        lines = [
            f"- [{hit.item.created_at:%Y-%m-%d}] ({hit.item.kind.value}) "
            + quote_memory(hit.item.text)
            for hit in sorted(recalled, key=lambda h: h.item.created_at)
        ]
        system = render_prompt(
            "respond",
            today=f"{when:%A %d %B %Y}",
            memories="\n".join(lines) or "(nothing recalled)",
        )
        recent = list(self._recent.get((user_id, session_id), ()))
        return [
            ChatMessage(role="system", content=system),
            *recent,
            ChatMessage(role="user", content=message),
        ]

    def _write(
        self,
        message: str,
        reply: str,
        facts: list[Fact],
        when: datetime,
        user_id: str,
        session_id: str | None,
        agent_id: str | None,
    ) -> Changes:
        memory = self.memory

        def make(
            text: str, kind: Kind, metadata: dict[str, object], source_ids: Sequence[str] = ()
        ) -> MemoryItem:
            return memory.make_item(
                text,
                kind=kind,
                created_at=when,
                metadata=metadata,
                source_ids=source_ids,
                user_id=user_id,
                session_id=session_id,
                agent_id=agent_id,
            )

        turn = make(message, Kind.MESSAGE, {"role": "user"})
        items = [turn]
        if self.remember_replies and reply.strip():
            items.append(make(reply, Kind.MESSAGE, {"role": "assistant"}))
        for fact in facts:
            metadata: dict[str, object] = {
                "subject": fact.subject,
                "attribute": fact.attribute,
                "value": fact.value,
            }
            if fact.multi:
                metadata["multi"] = True
            items.append(make(fact.text, Kind.FACT, metadata, [turn.id]))
        return memory.write(items)


_THIRD_PERSON = [
    (
        re.compile(r"\b(am|do|did|have|can|should|was|will) I\b", re.IGNORECASE),
        lambda m: (
            {"am": "is", "do": "does", "have": "has", "was": "was"}.get(m[1].lower(), m[1])
            + " the user"
        ),
    ),
    (re.compile(r"\bmy\b", re.IGNORECASE), lambda m: "the user's"),
    (re.compile(r"\bmine\b", re.IGNORECASE), lambda m: "the user's"),
    (re.compile(r"\bme\b", re.IGNORECASE), lambda m: "the user"),
    (re.compile(r"\bI(?:'m| am)\b"), lambda m: "the user is"),
    (re.compile(r"\bI\b"), lambda m: "the user"),
]


def third_person(text: str) -> str:
    """Rewrite a first-person message about the user in the third person."""
    for pattern, replace in _THIRD_PERSON:
        text = pattern.sub(replace, text)
    return text


_QUESTION = re.compile(
    r"\?\s*$|^\s*(?:who|what|when|where|why|which|how|do|does|did|is|are|am|can|could|tell)\b",
    re.IGNORECASE,
)


def _compact_prompt(message: str, recalled: list[Hit]) -> list[ChatMessage]:
    system = ChatMessage(role="system", content=render_prompt("respond_compact_system").strip())
    if not _QUESTION.search(message):
        # Tiny models answer statements best on their own; memory serves questions.
        return [system, ChatMessage(role="user", content=message)]
    facts = [hit for hit in recalled if hit.item.kind is Kind.FACT]
    chosen = facts[:4] if facts else recalled[:2]
    memories = " ".join(_sentence(hit.item.text) for hit in chosen) or "(nothing)."
    return [
        system,
        ChatMessage(
            role="user",
            content=render_prompt(
                "respond_compact", memories=memories, message=third_person(message)
            ).strip(),
        ),
    ]


def _sentence(text: str) -> str:
    """Memory text as one quoted sentence (see :func:`quote_memory`)."""
    flat = " ".join(text.split())
    return quote_memory(flat if flat.endswith((".", "!", "?")) else flat + ".")
