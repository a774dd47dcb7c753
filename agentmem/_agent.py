"""Agent: an LLM with long-term memory, one turn at a time.

Each ``chat`` runs the turn loop and returns what every step did::

    recall  -> search memory for the user's message (scoped), best first
    respond -> the LLM answers, recalled memories quoted as data with their dates
    reflect -> lasting facts drawn from the user's message (patterns + the LLM); with a
               thinker, post-thinking also draws thoughts from the exchange
    write   -> the raw turn and its facts are stored; UpdatePolicy settles changed facts;
               thoughts go to the thought store, where they are merged and forgotten
    retain  -> time-based policies decay, merge and forget; every change is logged

It is over 500 lines because the turn loop is read top to bottom: each step above, its
sync and async forms and the streaming reply sit together, so what one turn does can
be followed in one file.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agentmem._clock import as_utc
from agentmem._errors import UserError
from agentmem._facts import Fact, FactExtractor, LLMFactExtractor, PatternFactExtractor, merge_facts
from agentmem._language import LANGUAGE_NAMES, STOPWORDS, detect_language
from agentmem._memory import Changes, Memory
from agentmem._models import Hit, Kind, MemoryItem
from agentmem._prompts import quote_memory, render_prompt
from agentmem._protocols import ChatMessage, ChatModel, ChatResult
from agentmem._thinking import PostThinker, Thought
from agentmem._tracing import Tracer, traced
from agentmem._validation import check_text

__all__ = ["Agent", "Reply"]


class Reply(BaseModel):
    """What one turn produced: the answer and everything memory did for it."""

    model_config = ConfigDict(defer_build=True)

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
        self._reply: tuple[ChatModel, ChatModel] | None = None
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
        self._languages: dict[str, str] = {}

    @property
    def reply_llm(self) -> ChatModel:
        """The model that writes replies.

        That is ``llm``, or the copy of it tuned for chat replies that it offers through
        ``for_replies()`` (LocalLLM: no loops, short, stopped at the end of the answer).
        Fact extraction keeps ``llm`` itself.
        """
        if self._reply is None or self._reply[0] is not self.llm:
            for_replies = getattr(self.llm, "for_replies", None)
            self._reply = (self.llm, for_replies() if callable(for_replies) else self.llm)
        return self._reply[1]

    @reply_llm.setter
    def reply_llm(self, model: ChatModel) -> None:
        self._reply = (self.llm, model)

    def _language(self, message: str, user_id: str) -> str:
        """The user's language: this message's, else the last one seen, else English."""
        found = detect_language(message)
        if found in LANGUAGE_NAMES:
            self._languages[user_id] = found
            return found
        return self._languages.get(user_id, "en")

    def chat(
        self,
        message: str,
        *,
        user_id: str,
        session_id: str | None = None,
        agent_id: str | None = None,
        created_at: datetime | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Reply:
        """Answer ``message`` from ``user_id`` using and updating long-term memory.

        ``on_text`` receives the reply piece by piece while the model writes it (all at
        once for a model that cannot stream), before memory is written.
        """
        message = check_text(message, max_bytes=self.memory.max_text_bytes, what="message")
        when = self.memory.clock.now() if created_at is None else as_utc(created_at)
        start = time.perf_counter()
        recalled = self.memory.search(message, user_id=user_id, k=self.recall_k)
        recall_s = time.perf_counter() - start
        turn = self._answer(message, recalled, when, user_id, session_id, on_text)
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
        on_text: Callable[[str], None] | None = None,
    ) -> Reply:
        """Respond and reflect (no memory changes): a Reply without the writes yet."""
        timings: dict[str, float] = {}
        start = time.perf_counter()
        messages = self._prompt(message, recalled, when, user_id, session_id)
        with traced(self.tracer, "llm", "respond", messages=len(messages)) as out:
            result = self._respond(messages, on_text)
            out.update(text=result.text, prompt_tokens=result.prompt_tokens)
        timings["respond"] = time.perf_counter() - start
        start = time.perf_counter()
        facts: list[Fact] = []
        question_only = _only_questions(message)
        for extractor in self.extractors:
            if question_only and isinstance(extractor, LLMFactExtractor):
                continue  # a question states no lasting fact: spare a model call
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

    def _respond(
        self, messages: list[ChatMessage], on_text: Callable[[str], None] | None
    ) -> ChatResult:
        llm = self.reply_llm
        if on_text is None:
            return llm.chat(messages, max_tokens=self.max_tokens)
        if "on_text" in inspect.signature(llm.chat).parameters:
            result: ChatResult = llm.chat(  # type: ignore[call-arg]
                messages, max_tokens=self.max_tokens, on_text=on_text
            )
            return result
        result = llm.chat(messages, max_tokens=self.max_tokens)
        on_text(result.text)
        return result

    def _prompt(
        self,
        message: str,
        recalled: list[Hit],
        when: datetime,
        user_id: str,
        session_id: str | None,
    ) -> list[ChatMessage]:
        if self.prompt_style == "compact":

            def facts() -> list[MemoryItem]:
                return self.memory.items(user_id=user_id, filters={"kinds": [Kind.FACT]})

            return _compact_prompt(message, recalled, self._language(message, user_id), facts)
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


def _compact_prompt(
    message: str,
    recalled: list[Hit],
    language: str,
    facts: Callable[[], list[MemoryItem]] | None = None,
) -> list[ChatMessage]:
    """A prompt tiny local models follow: short, in the user's language, one fact.

    A statement goes alone under a system prompt that names the language and asks for a
    short reply. A question gets the memory that answers it (:func:`_answering_memory`;
    when no recalled one shares a word with it, the user's stored facts are looked up by
    attribute through ``facts``), addressed to the user ("Your dog is named Max."), before
    it: the answer is a copy.
    """
    from agentmem._prompts import load_prompt

    try:
        load_prompt(f"respond_compact_system_{language}")
        system_text = render_prompt(f"respond_compact_system_{language}")
    except UserError:
        system_text = render_prompt(
            "respond_compact_system", language=LANGUAGE_NAMES.get(language, "English")
        )
    system = ChatMessage(role="system", content=system_text.strip())
    if not _QUESTION.search(message):
        # Tiny models answer statements best on their own; memory serves questions.
        return [system, ChatMessage(role="user", content=message)]
    chosen, overlap = _answering_memory(message, [hit.item for hit in recalled])
    if overlap == 0 and facts is not None:
        found, by_attribute = _answering_memory(message, facts()[::-1])  # newest first
        if by_attribute > 0:
            chosen = found
    if chosen is None:
        return [system, ChatMessage(role="user", content=message)]
    text = second_person(chosen.text)
    if language == "en" and chosen.kind is Kind.MESSAGE:
        text = _to_you(text)  # the user's own words, said back to them
    memory = _sentence(text)
    template = "respond_compact" if language == "en" else "respond_compact_other"
    content = render_prompt(template, memories=memory, message=message).strip()
    return [system, ChatMessage(role="user", content=content)]


# Words a question uses for a fact's attribute ("what do I do for a living?" -> job).
_ATTRIBUTE_WORDS = {
    "job": "job work do living profession occupation career profissão trabalho profesión "
    "trabajo métier travail beruf arbeit lavoro",
    "employer": "work employer company firm empresa trabalho trabajo entreprise firma azienda",
    "lives_in": "live city home town country where moro mora vivo vive onde dónde habite "
    "wohne abito",
    "name": "name called nome nombre chama chamo llama llamo nom appelle heiße heißt chiamo",
    "pet_name": "pet dog cat puppy kitten cão perro gato chien chat hund katze cane gatto",
    "age": "old age idade edad anos años âge alter età",
    "partner": "partner wife husband girlfriend boyfriend",
}
_STOP = (
    frozenset(
        "a an the is are was were am do does did i my me you your what who where when which how "
        "of to in on at for and or it this that now still have has".split()
    )
    | STOPWORDS
)


_CONCEPT_OF: dict[str, set[str]] = {}
for _attribute, _vocabulary in _ATTRIBUTE_WORDS.items():
    for _word in _vocabulary.split():
        _CONCEPT_OF.setdefault(_word.rstrip("s"), set()).add(_attribute)


def _concepts(stems: set[str]) -> set[str]:
    """The attributes these words usually talk about ("vivo", "live" -> lives_in)."""
    return set().union(*(_CONCEPT_OF.get(stem, set()) for stem in stems)) if stems else set()


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", text.lower()) if w not in _STOP}


def _answering_memory(message: str, recalled: list[MemoryItem]) -> tuple[MemoryItem | None, int]:
    """The recalled memory most likely to answer a question.

    Among the recalled memories, the one sharing most words with it (a fact's attribute and
    its usual words count too, and so does talking about the same attribute in other words:
    "¿dónde vivo?" and "vivo en Sevilla"); ties go to facts, then to recall order. Returns
    the memory and how many words and attributes it shares with the question.
    """
    asked = {w.rstrip("s") for w in _words(message)}
    asked_about = _concepts(asked)
    best: tuple[int, int, int] | None = None
    chosen: MemoryItem | None = None
    for rank, item in enumerate(recalled):
        if item.kind is Kind.MESSAGE and item.text.rstrip().endswith("?"):
            continue  # an earlier question answers nothing
        words = _words(item.text)
        attribute = str(item.metadata.get("attribute", "")).lower()
        if attribute:
            words |= set(attribute.split("_")) | set(_ATTRIBUTE_WORDS.get(attribute, "").split())
        stems = {w.rstrip("s") for w in words}
        overlap = len(asked & stems) + int(bool(asked_about & _concepts(stems)))
        key = (overlap, int(item.kind is Kind.FACT), -rank)
        if best is None or key > best:
            best, chosen = key, item
    return chosen, 0 if best is None else best[0]


_SECOND_PERSON = [
    (re.compile(r"\bthe user's\b", re.IGNORECASE), "your"),
    (re.compile(r"\bthe user is\b", re.IGNORECASE), "you are"),
    (re.compile(r"\bthe user was\b", re.IGNORECASE), "you were"),
    (re.compile(r"\bthe user has\b", re.IGNORECASE), "you have"),
    (
        re.compile(
            r"\bthe user (live|work|like|love|own|want|play|drive|speak|prefer|enjoy|hate|"
            r"need|use|visit|know|teach|train|run|cook|paint|write|read)s\b",
            re.IGNORECASE,
        ),
        r"you \1",
    ),
    (re.compile(r"\bthe user studies\b", re.IGNORECASE), "you study"),
    (re.compile(r"\bthe user\b", re.IGNORECASE), "your"),
]


_TO_YOU = [
    (re.compile(r"\bI am\b"), "you are"),
    (re.compile(r"\bI'm\b"), "you're"),
    (re.compile(r"\bI've\b"), "you've"),
    (re.compile(r"\bI\b"), "you"),
    (re.compile(r"\bmy\b", re.IGNORECASE), "your"),
    (re.compile(r"\bmine\b", re.IGNORECASE), "yours"),
    (re.compile(r"\bme\b", re.IGNORECASE), "you"),
]


def _to_you(text: str) -> str:
    """An English first-person turn said back to its speaker ("My cat" -> "Your cat")."""
    for pattern, replace in _TO_YOU:
        text = pattern.sub(replace, text)
    return text[:1].upper() + text[1:]


def second_person(text: str) -> str:
    """Rewrite a stored fact about "the user" as said to the user ("Your dog is ...")."""
    for pattern, replace in _SECOND_PERSON:
        text = pattern.sub(replace, text)
    return text[:1].upper() + text[1:]


def _only_questions(message: str) -> bool:
    """Whether every sentence of ``message`` is a question (so it states no fact)."""
    sentences = [part.strip() for part in re.findall(r"[^.!?]+[.!?]*", message) if part.strip()]
    return bool(sentences) and all(part.endswith("?") for part in sentences)


def _sentence(text: str) -> str:
    """Memory text as one quoted sentence (see :func:`quote_memory`)."""
    flat = " ".join(text.split())
    return quote_memory(flat if flat.endswith((".", "!", "?")) else flat + ".")
