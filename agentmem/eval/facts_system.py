"""A memory system that stores what turns state as structured facts (``Kind.FACT``).

Each turn a parser recognises becomes a fact ``subject.attribute = value``; with an
:class:`~agentmem.policies.UpdatePolicy` a new value closes the old one, so recall hands
back the current value only. Turns the parser does not recognise are stored as messages.
Registered as the ``facts`` system (``facts:policy=none`` keeps every value open). With
``answer=memory`` (``facts:answer=memory``) the system answers a value probe itself from
the top recalled fact's stored value and its source turn, with no chat model: the
retrieval-level answer a weak model cannot spoil.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import timedelta

from agentmem._errors import UserError
from agentmem._models import Hit, Kind
from agentmem._protocols import Embedder, MemoryStore, RetentionPolicy
from agentmem.eval.dataset import Question, Session, Turn
from agentmem.eval.systems import MemorySystem, Recalled, StoredAnswer, System, register_system

__all__ = ["FactMemorySystem", "FactParser", "parse_fact"]

FactParser = Callable[[str], tuple[str, str, str] | None]
"""``parser(text) -> (subject, attribute, value)`` or ``None`` when the text states none."""

_UPDATE = re.compile(r"^\s*([\w][\w '&-]{0,60}?)\s*:\s*(\S.{0,200}?)\s*$")
_MOVE = re.compile(
    r"^\s*([A-Z]\w+) (?:moved|went|journeyed|travelled|traveled|went back) to the (\w+)\s*\.?\s*$"
)


def parse_fact(text: str) -> tuple[str, str, str] | None:
    """Read ``key: value`` updates and bAbI moves (``Mary went to the kitchen.``)."""
    move = _MOVE.match(text)
    if move:
        return move.group(1), "location", move.group(2)
    update = _UPDATE.match(text)
    if update:
        return update.group(1), "value", update.group(2)
    return None


class FactMemorySystem(MemorySystem):
    """Turns parsed into facts; recall searches the facts of the subject a question names.

    Args:
        name: the system's name in reports.
        make_store: builds a fresh store for each conversation.
        policies: retention policies (an UpdatePolicy keeps only current values open).
        embedder: the memory's embedder.
        parser: reads a fact from a turn's text.
        answer_from_memory: :meth:`answer` gives the top recalled fact's stored value
            (evaluators then ask no chat model).
    """

    def __init__(
        self,
        name: str,
        make_store: Callable[[], MemoryStore],
        *,
        policies: Callable[[], Sequence[RetentionPolicy]] = tuple,
        embedder: Embedder | None = None,
        parser: FactParser = parse_fact,
        answer_from_memory: bool = False,
    ) -> None:
        super().__init__(name, make_store, policies=policies, embedder=embedder)
        self._parser = parser
        self.answers_from_memory = answer_from_memory
        self._subjects: set[str] = set()

    def observe(self, session: Session, turns: Sequence[Turn]) -> None:  # noqa: D102
        memory = self._require()
        items = []
        for i, turn in enumerate(turns):
            if not turn.text.strip():
                continue
            fact = self._parser(turn.text)
            metadata: dict[str, object] = {"turn": turn.id}
            if fact is not None:
                subject, attribute, value = fact
                self._subjects.add(subject)
                metadata |= {"subject": subject, "attribute": attribute, "value": value}
            items.append(
                memory.make_item(
                    turn.text,
                    user_id=self._user,
                    session_id=session.id[:200],
                    kind=Kind.FACT if fact is not None else Kind.MESSAGE,
                    created_at=session.date + timedelta(seconds=i),
                    metadata=metadata,
                    source_ids=[turn.id],
                )
            )
        memory.write(items)

    def _search(self, question: Question, k: int) -> list[Hit]:
        memory = self._require()
        text = question.question.lower()
        named = [s for s in self._subjects if re.search(rf"\b{re.escape(s.lower())}\b", text)]
        filters = None
        if named:
            subject = max(named, key=len)
            filters = {"kinds": ["fact"], "metadata": {"subject": subject}}
        return memory.search(
            question.question, user_id=self._user, k=k, filters=filters, record_access=False
        )

    def recall(self, question: Question, k: int) -> Recalled:  # noqa: D102
        hits = self._search(question, k)
        return [(str(h.item.metadata.get("turn", h.item.id)), h.item.text) for h in hits]

    def answer(self, question: Question, k: int) -> StoredAnswer | None:
        """The top recalled fact's stored value and source turn (``answer=memory`` only)."""
        if not self.answers_from_memory:
            return None
        for hit in self._search(question, k):
            value = hit.item.metadata.get("value")
            if hit.item.kind == Kind.FACT and isinstance(value, str):
                return StoredAnswer(value, str(hit.item.metadata.get("turn", hit.item.id)))
        return None

    def end(self) -> None:  # noqa: D102
        super().end()
        self._subjects = set()


def _facts(
    *, embedder: Embedder | None = None, policy: str = "update", answer: str = "llm"
) -> System:
    from agentmem.policies import UpdatePolicy
    from agentmem.stores import VectorStore

    if embedder is None:
        msg = "the facts system needs an embedder: pass embedder=..."
        raise UserError(msg)
    if policy not in ("update", "none"):
        msg = f"facts option policy must be update or none, got {policy!r}"
        raise UserError(msg)
    if answer not in ("llm", "memory"):
        msg = f"facts option answer must be llm or memory, got {answer!r}"
        raise UserError(msg)
    chosen: Callable[[], Sequence[RetentionPolicy]] = (
        (lambda: [UpdatePolicy()]) if policy == "update" else tuple
    )
    name = "facts" if policy == "update" else "facts:policy=none"
    return FactMemorySystem(
        name,
        lambda: VectorStore(None, embedder),
        policies=chosen,
        embedder=embedder,
        answer_from_memory=answer == "memory",
    )


register_system("facts", _facts)
