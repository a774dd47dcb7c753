"""Systems: named memory configurations the evaluator runs side by side.

A system is built from a spec string, ``name`` or ``name:key=value,key=value`` (for
example ``recent-window:n=20`` or ``vector:k=5``), or passed as a :class:`System` object.
New systems register a factory with :func:`register_system`.
"""

from __future__ import annotations

import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, NamedTuple

from agentmem._clock import ManualClock
from agentmem._derived import DerivedMemories
from agentmem._errors import UserError
from agentmem._memory import Memory
from agentmem._protocols import Embedder, MemoryStore, RetentionPolicy
from agentmem._spec import split_spec
from agentmem.eval.dataset import Conversation, Question, Session, Turn
from agentmem.stores._fts import match_expression

__all__ = [
    "BM25System",
    "FullContextSystem",
    "MemorySystem",
    "NoMemorySystem",
    "RecentWindowSystem",
    "System",
    "StoredAnswer",
    "SystemFactory",
    "build_system",
    "parse_system_spec",
    "register_system",
    "registered_systems",
]

Recalled = list[tuple[str, str]]
"""What a system puts in the prompt: ``(turn id, line)`` pairs, best first if ranked."""


class StoredAnswer(NamedTuple):
    """A value read straight from memory, with the turn it was stored from."""

    value: str
    source: str


def _line(session: Session, turn: Turn) -> str:
    return f"[{session.date:%d %B %Y}] {turn.speaker}: {turn.text}"


class System(ABC):
    """A memory configuration: it watches a conversation, then recalls turns for questions.

    ``ranked`` says whether :meth:`recall` orders turns by relevance (recall@k then counts
    the first k) or hands back a fixed context (recall counts all of it).
    ``answers_from_memory`` says whether :meth:`answer` replies itself, from a stored value,
    instead of a chat model reading the recalled lines.
    """

    name: str = "system"
    ranked: bool = True
    answers_from_memory: bool = False

    @abstractmethod
    def begin(self, conversation: Conversation, clock: ManualClock) -> None:
        """Forget everything and get ready for a new conversation."""

    @abstractmethod
    def observe(self, session: Session, turns: Sequence[Turn]) -> None:
        """Take in the turns of one session; the clock is set to the session's date."""

    @abstractmethod
    def recall(self, question: Question, k: int) -> Recalled:
        """The turns to put in the prompt for ``question``."""

    def answer(self, question: Question, k: int) -> StoredAnswer | None:
        """The stored value that answers ``question``, for systems that answer from memory.

        It is read from the best of the ``k`` memories :meth:`recall` would hand back.

        ``None`` when nothing stored answers it; systems whose ``answers_from_memory`` is
        false leave answering to a chat model and always give ``None``.
        """
        return None

    def end(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release what :meth:`begin` acquired."""


class NoMemorySystem(System):
    """Answers from the question alone: the floor every memory must beat."""

    ranked = False

    def __init__(self) -> None:
        self.name = "no-memory"

    def begin(self, conversation: Conversation, clock: ManualClock) -> None:  # noqa: D102
        pass

    def observe(self, session: Session, turns: Sequence[Turn]) -> None:  # noqa: D102
        pass

    def recall(self, question: Question, k: int) -> Recalled:  # noqa: D102
        return []


class RecentWindowSystem(System):
    """The last ``n`` turns of the conversation, verbatim."""

    ranked = False

    def __init__(self, n: int = 20) -> None:
        self.name = f"recent-window:n={n}" if n != 20 else "recent-window"
        self.n = n
        self._lines: Recalled = []

    def begin(self, conversation: Conversation, clock: ManualClock) -> None:  # noqa: D102
        self._lines = []

    def observe(self, session: Session, turns: Sequence[Turn]) -> None:  # noqa: D102
        self._lines = (self._lines + [(t.id, _line(session, t)) for t in turns])[-self.n :]

    def recall(self, question: Question, k: int) -> Recalled:  # noqa: D102
        return list(self._lines)


class FullContextSystem(RecentWindowSystem):
    """Every turn of the conversation in the prompt: the baseline for prompt tokens."""

    def __init__(self) -> None:
        super().__init__(n=0)
        self.name = "full-context"

    def observe(self, session: Session, turns: Sequence[Turn]) -> None:  # noqa: D102
        self._lines += [(t.id, _line(session, t)) for t in turns]


class MemorySystem(System):
    """Any agentmem store behind a :class:`~agentmem.Memory`, fed one item per turn.

    Each turn is stored as a user's code would store it: its text, with the speaker and
    the turn id in metadata (``{"speaker": ..., "turn": ...}``) and the session's date,
    so a store indexes it as it indexes any conversation turn. Recalled turns are shown
    as ``[date] Speaker: text``.

    Args:
        name: the system's name in reports.
        make_store: builds a fresh store for each conversation.
        policies: retention policies the memory applies while ingesting.
        embedder: the memory's embedder (for policies that need one).
        derived: builds the memory's derived memories for each conversation (none if
            ``None``).
    """

    def __init__(
        self,
        name: str,
        make_store: Callable[[], MemoryStore],
        *,
        policies: Callable[[], Sequence[RetentionPolicy]] = tuple,
        embedder: Embedder | None = None,
        derived: Callable[[], DerivedMemories] | None = None,
    ) -> None:
        self.name = name
        self._make_store = make_store
        self._derived = derived
        self._policies = policies
        self._embedder = embedder
        self._memory: Memory | None = None
        self._user = "user"

    def begin(self, conversation: Conversation, clock: ManualClock) -> None:  # noqa: D102
        self.end()
        policies = list(self._policies())
        self._memory = Memory(
            [self._make_store()],
            policies=policies,
            embedder=self._embedder,
            clock=clock,
            derived=None if self._derived is None else self._derived(),
        )
        self._user = conversation.id[:200] or "user"

    def observe(self, session: Session, turns: Sequence[Turn]) -> None:  # noqa: D102
        memory = self._require()
        items = [
            memory.make_item(
                turn.text,
                user_id=self._user,
                session_id=session.id[:200],
                created_at=session.date + timedelta(seconds=i),
                metadata={"speaker": turn.speaker, "turn": turn.id},
                source_ids=[turn.id],
            )
            for i, turn in enumerate(turns)
            if turn.text.strip()
        ]
        memory.write(items)

    def recall(self, question: Question, k: int) -> Recalled:  # noqa: D102
        memory = self._require()
        hits = memory.search(
            question.question, user_id=self._user, k=k, record_access=bool(memory.policies)
        )
        out: Recalled = []
        for hit in hits:
            turn_id = str(hit.item.metadata.get("turn", hit.item.id))
            speaker = hit.item.metadata.get("speaker")
            text = f"{speaker}: {hit.item.text}" if speaker else hit.item.text
            out.append((turn_id, f"[{hit.item.created_at:%d %B %Y}] {text}"))
        return out

    def end(self) -> None:  # noqa: D102
        if self._memory is not None:
            self._memory.close()
            self._memory = None

    def _require(self) -> Memory:
        if self._memory is None:
            msg = f"system {self.name!r}: call begin() before observe() or recall()"
            raise UserError(msg)
        return self._memory


class BM25System(System):
    """Lexical search over turns with SQLite FTS5's BM25 ranking."""

    def __init__(self) -> None:
        self.name = "bm25"
        self._db: sqlite3.Connection | None = None

    def begin(self, conversation: Conversation, clock: ManualClock) -> None:  # noqa: D102
        self.end()
        self._db = sqlite3.connect(":memory:")
        self._db.execute("CREATE VIRTUAL TABLE turns USING fts5(turn_id UNINDEXED, line)")

    def observe(self, session: Session, turns: Sequence[Turn]) -> None:  # noqa: D102
        assert self._db is not None
        rows = [(t.id, _line(session, t)) for t in turns]
        self._db.executemany("INSERT INTO turns VALUES (?, ?)", rows)

    def recall(self, question: Question, k: int) -> Recalled:  # noqa: D102
        assert self._db is not None
        query = match_expression(question.question)
        if query is None:
            return []
        rows = self._db.execute(
            "SELECT turn_id, line FROM turns WHERE turns MATCH ? ORDER BY bm25(turns), rowid "
            "LIMIT ?",
            (query, k),
        ).fetchall()
        return [(str(a), str(b)) for a, b in rows]

    def end(self) -> None:  # noqa: D102
        if self._db is not None:
            self._db.close()
            self._db = None


SystemFactory = Callable[..., System]
"""``factory(embedder=..., **options) -> System``; options come from the spec as strings."""

_REGISTRY: dict[str, SystemFactory] = {}


def register_system(name: str, factory: SystemFactory) -> None:
    """Make ``name`` usable in spec strings; ``factory(embedder=..., **options)`` builds it."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        msg = f"system name {name!r} must be lower-case letters, digits, '-' or '_'"
        raise UserError(msg)
    _REGISTRY[name] = factory


def registered_systems() -> list[str]:
    """The names spec strings may use."""
    return sorted(_REGISTRY)


def parse_system_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``name:key=value,key=value`` into the system's name and its options."""
    return split_spec(spec, "system spec")


def build_system(spec: str | System, *, embedder: Embedder | None = None) -> System:
    """Build a system from a spec string (or return a :class:`System` as it is)."""
    if isinstance(spec, System):
        return spec
    name, options = parse_system_spec(spec)
    if name not in _REGISTRY:
        msg = f"unknown system {name!r}; registered: {', '.join(registered_systems())}"
        raise UserError(msg)
    try:
        system = _REGISTRY[name](embedder=embedder, **options)
    except TypeError as exc:
        msg = f"system spec {spec!r}: {exc}"
        raise UserError(msg) from exc
    system.name = spec.strip()
    return system


def _int(value: Any, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number <= 0:
        msg = f"{what} must be a positive integer, got {value!r}"
        raise UserError(msg)
    return number


def _vector(*, embedder: Embedder | None = None, **options: str) -> System:
    from agentmem.stores import VectorStore

    if options:
        msg = f"the vector system takes no options, got {sorted(options)}"
        raise UserError(msg)
    if embedder is None:
        msg = "the vector system needs an embedder: Evaluator(embedder=...)"
        raise UserError(msg)
    return MemorySystem("vector", lambda: VectorStore(None, embedder), embedder=embedder)


def _conversation_options() -> dict[str, Any]:
    from agentmem.stores import conversation_options

    return conversation_options()


_HYBRID_OPTIONS: dict[str, Callable[[], dict[str, Any]]] = {
    "default": dict,
    "conversation": _conversation_options,
}
"""Named HybridStore option sets for ``hybrid:options=NAME``."""


def _hybrid(*, embedder: Embedder | None = None, **options: str) -> System:
    """``hybrid``: HybridStore with its defaults (``options=default``).

    ``hybrid:options=conversation`` uses :func:`~agentmem.stores.conversation_options`;
    ``signals=dense`` or ``signals=bm25`` keeps one retriever; ``derived=pattern`` adds
    derived memories as ``Memory.default`` has them (:class:`~agentmem.PatternDeriver`).
    """
    from agentmem.stores import HybridStore

    if embedder is None:
        msg = "the hybrid system needs an embedder: Evaluator(embedder=...)"
        raise UserError(msg)
    signals = tuple(options.pop("signals", "dense+bm25").split("+"))
    preset = options.pop("options", "default")
    derive = options.pop("derived", "none")
    if derive not in ("none", "pattern"):
        msg = f"the hybrid system's derived must be 'none' or 'pattern', got {derive!r}"
        raise UserError(msg)
    if preset not in _HYBRID_OPTIONS:
        msg = (
            f"the hybrid system's options must be one of {sorted(_HYBRID_OPTIONS)}, got {preset!r}"
        )
        raise UserError(msg)
    if options:
        msg = (
            "the hybrid system takes only the options signals, options and derived, "
            f"got {sorted(options)}"
        )
        raise UserError(msg)
    store_options = _HYBRID_OPTIONS[preset]()
    clock: list[ManualClock] = []

    class _Hybrid(MemorySystem):
        def begin(self, conversation: Conversation, clock_: ManualClock) -> None:
            clock[:] = [clock_]  # relative dates in questions resolve against the replay
            super().begin(conversation, clock_)

    def derived() -> DerivedMemories:
        return DerivedMemories.open(None, None, clock=clock[0])

    return _Hybrid(
        "hybrid",
        lambda: HybridStore(None, embedder, signals=signals, clock=clock[0], **store_options),  # type: ignore[arg-type]
        embedder=embedder,
        derived=derived if derive == "pattern" else None,
    )


def _window(*, embedder: Embedder | None = None, n: str = "20") -> System:
    return RecentWindowSystem(_int(n, "recent-window option n"))


register_system("full-context", lambda *, embedder=None: FullContextSystem())
register_system("no-memory", lambda *, embedder=None: NoMemorySystem())
register_system("recent-window", _window)
register_system("vector", _vector)
register_system("hybrid", _hybrid)
register_system("bm25", lambda *, embedder=None: BM25System())
