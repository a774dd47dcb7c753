"""Replay a dated conversation log under several policy sets and measure each.

The log is JSON lines, one event per line, in time order:

- a turn: ``{"type": "turn", "at": "2024-01-01T09:00:00+00:00", "session": "s1",
  "user": "user", "text": "My city is Lisbon.", "kind": "fact", "importance": 0.8,
  "metadata": {"subject": "user", "attribute": "city", "value": "Lisbon"}}``
  (``kind``, ``importance`` and ``metadata`` are optional; a turn without ``kind`` is a
  message);
- a probe: ``{"type": "probe", "at": "...", "user": "user", "question": "What is my
  city?", "answer": "Lisbon"}``: a question whose right answer is known at that time.

:func:`replay` writes each turn through a fresh :class:`~agentmem.Memory` per policy set,
moving a :class:`~agentmem.ManualClock` to the turn's time and ticking the policies at
each new session and before each group of probes. A probe is answered right when the
top ``k`` hits of ``memory.search(question)`` contain the answer. Per time step (each
group of probes) it records the memory's size (open memories) and the probe accuracy.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from agentmem._clock import ManualClock
from agentmem._errors import InvalidInputError, MissingDependencyError, NotKeptError
from agentmem._memory import Memory
from agentmem._models import Kind
from agentmem._protocols import RetentionPolicy

__all__ = [
    "LogEvent",
    "MemoryFactory",
    "Probe",
    "ReplayResult",
    "Step",
    "LoggedTurn",
    "generate_log",
    "hash_memory_factory",
    "line_styles",
    "plot_replay",
    "read_log",
    "replay",
    "write_log",
]

logger = logging.getLogger(__name__)


class LoggedTurn(BaseModel):
    """One dated turn of the conversation, written to memory as it happens."""

    type: Literal["turn"] = "turn"
    at: datetime
    session: str
    user: str = "user"
    text: str
    kind: Kind = Kind.MESSAGE
    importance: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    def write_to(self, memory: Memory) -> None:
        """Add this turn to ``memory``, dated when it was said (a policy may drop it at once)."""
        with contextlib.suppress(NotKeptError):  # e.g. a capacity policy evicted it
            memory.add(
                self.text,
                user_id=self.user,
                session_id=self.session,
                kind=self.kind,
                created_at=self.at,
                importance=self.importance,
                metadata=self.metadata,
            )


class Probe(BaseModel):
    """A question whose right answer is known at time ``at``."""

    type: Literal["probe"] = "probe"
    at: datetime
    user: str = "user"
    question: str
    answer: str


LogEvent = LoggedTurn | Probe
_EVENTS: TypeAdapter[list[LogEvent]] = TypeAdapter(list[LogEvent])

MemoryFactory = Callable[[Sequence[RetentionPolicy], ManualClock], Memory]


class Step(BaseModel):
    """What one policy set's memory looked like at one group of probes."""

    at: datetime
    size: int
    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        """The share of probes answered right at this step."""
        return self.correct / self.total if self.total else 0.0


class ReplayResult(BaseModel):
    """Per policy set, the steps of its replay (same times for every set)."""

    runs: dict[str, list[Step]]
    specs: dict[str, str] = Field(default_factory=dict)  # name -> what the set holds

    def table(self) -> str:
        """A Markdown table: size and accuracy of each policy set."""
        lines = [
            "| policy set | policies | final size | peak size | mean accuracy | final accuracy |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for name, steps in self.runs.items():
            if not steps:
                continue
            correct = sum(s.correct for s in steps)
            total = sum(s.total for s in steps)
            lines.append(
                f"| {name} | `{self.specs.get(name, '')}` | {steps[-1].size} | "
                f"{max(s.size for s in steps)} | {correct / max(total, 1):.3f} | "
                f"{steps[-1].accuracy:.3f} |"
            )
        return "\n".join(lines) + "\n"


def read_log(path: str | os.PathLike[str]) -> list[LogEvent]:
    """Read a JSON-lines log; a bad line raises InvalidInputError naming its number."""
    events: list[LogEvent] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                events += _EVENTS.validate_python([json.loads(line)])
            except (ValueError, ValidationError) as exc:
                msg = f"{path}:{number}: not a turn or probe event: {exc}"
                raise InvalidInputError(msg) from exc
    return events


def write_log(events: Iterable[LogEvent], path: str | os.PathLike[str]) -> None:
    """Write events as JSON lines."""
    with open(path, "w", encoding="utf-8") as handle:
        for event in events:
            handle.write(event.model_dump_json(exclude_defaults=False) + "\n")


def hash_memory_factory(policies: Sequence[RetentionPolicy], clock: ManualClock) -> Memory:
    """An in-memory store with the hashing embedder: fast, deterministic, offline."""
    from agentmem.stores import VectorStore
    from agentmem.testing import HashEmbedder

    embedder = HashEmbedder(256)
    return Memory([VectorStore(None, embedder)], policies=policies, embedder=embedder, clock=clock)


def replay(
    log: Sequence[LogEvent],
    memory_factory: MemoryFactory = hash_memory_factory,
    *,
    policies: Mapping[str, Sequence[RetentionPolicy] | RetentionPolicy],
    probes: Sequence[Probe] = (),
    k: int = 1,
    progress: bool = False,
) -> ReplayResult:
    """Replay ``log`` (plus extra ``probes``) under each policy set, side by side in time.

    Args:
        log: turns and probes (see the module docs for the format).
        memory_factory: builds a fresh memory for a policy set on the replay's clock.
        policies: policy-set name -> its policies (a list, or one policy such as
            :class:`~agentmem.policies.Policies`).
        probes: more probes, merged into the log by time.
        k: a probe is right when one of the top ``k`` hits contains its answer.
        progress: show a progress bar per policy set.
    """
    events = sorted([*log, *probes], key=lambda e: e.at)
    if not events:
        msg = "the log is empty: give it turns and probes (see agentmem.eval.simulate)"
        raise InvalidInputError(msg)
    runs: dict[str, list[Step]] = {}
    for name, chosen in policies.items():
        members = [chosen] if isinstance(chosen, RetentionPolicy) else list(chosen)
        runs[name] = _run(events, memory_factory, members, k, progress, name)
    specs = {name: _describe(chosen) for name, chosen in policies.items()}
    return ReplayResult(runs=runs, specs=specs)


def _describe(chosen: Sequence[RetentionPolicy] | RetentionPolicy) -> str:
    members = [chosen] if isinstance(chosen, RetentionPolicy) else list(chosen)
    flat: list[RetentionPolicy] = []
    for policy in members:
        flat += getattr(policy, "policies", [policy])
    return " + ".join(policy.name for policy in flat) or "none"


def _run(
    events: Sequence[LogEvent],
    factory: MemoryFactory,
    policies: Sequence[RetentionPolicy],
    k: int,
    progress: bool,
    name: str,
) -> list[Step]:
    from tqdm import tqdm

    clock = ManualClock(events[0].at)
    steps: list[Step] = []
    session: str | None = None
    pending: list[Probe] = []
    with factory(policies, clock) as memory:
        for event in tqdm(events, desc=name, disable=not progress, unit="event"):
            if pending and (isinstance(event, LoggedTurn) or event.at != pending[0].at):
                steps.append(_ask(memory, pending, k))
                pending = []
            clock.set(max(event.at, clock.now()))
            if isinstance(event, Probe):
                pending.append(event)
                continue
            if event.session != session:
                session = event.session
                memory.tick()
            event.write_to(memory)
        if pending:
            steps.append(_ask(memory, pending, k))
    return steps


def _ask(memory: Memory, probes: Sequence[Probe], k: int) -> Step:
    memory.tick()
    correct = 0
    for probe in probes:
        hits = memory.search(probe.question, user_id=probe.user, k=k)
        if any(probe.answer.lower() in hit.item.text.lower() for hit in hits):
            correct += 1
    users = {probe.user for probe in probes}
    size = sum(len(memory.items(user_id=user)) for user in users)
    return Step(at=probes[0].at, size=size, correct=correct, total=len(probes))


# -- a generated log ------------------------------------------------------------------------

_CHANGING: dict[str, list[str]] = {
    "city": ["Lisbon", "Porto", "Berlin", "Madrid", "Oslo", "Dublin", "Vienna", "Prague"],
    "job": ["nurse", "baker", "pilot", "teacher", "architect", "plumber", "chemist"],
    "car": ["Fiat", "Volvo", "Tesla", "Skoda", "Toyota", "Renault", "Mazda"],
    "book": ["Dune", "Emma", "Beloved", "Ulysses", "Middlemarch", "Solaris", "Kindred"],
    "gym day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
    "coffee order": ["espresso", "latte", "cortado", "americano", "macchiato", "flat white"],
    "team": ["Benfica", "Arsenal", "Ajax", "Celtic", "Napoli", "Boca", "Lyon"],
}
_STABLE: dict[str, list[str]] = {
    "birthday": ["March 3", "July 19", "October 8", "May 27"],
    "allergy": ["peanuts", "penicillin", "shellfish", "pollen"],
    "hometown": ["Coimbra", "Bergen", "Leeds", "Graz"],
    "sister": ["Marta", "Ingrid", "Chloe", "Petra"],
}
_CHATTER = [
    "The weather was {adj} today, so I stayed in.",
    "I watched a {adj} film last night.",
    "Lunch was {adj} but a bit late.",
    "Traffic on the way home was {adj}.",
    "The meeting ran long and felt {adj}.",
    "I tried a {adj} recipe for dinner.",
    "My phone battery was {adj} again.",
    "The neighbours' party was {adj}.",
]
_ADJ = ["grey", "odd", "lovely", "slow", "noisy", "calm", "strange", "bright", "dull"]


def _fact(attribute: str, value: str, at: datetime, session: str, user: str) -> LoggedTurn:
    return LoggedTurn(
        at=at,
        session=session,
        user=user,
        text=f"My {attribute} is {value}.",
        kind=Kind.FACT,
        importance=0.8,
        metadata={"subject": user, "attribute": attribute, "value": value},
    )


def generate_log(
    seed: int = 0, sessions: int = 30, *, user: str = "user", start: datetime | None = None
) -> list[LogEvent]:
    """A dated log: ``sessions`` sessions 1-5 days apart, facts that change, probes.

    Stable facts (birthday, allergy, hometown, sister) are said once, in the first
    session; changing facts (city, job, car, ...) are said then and change, or are
    repeated, at random later. Each session also holds small talk (importance 0.1) and
    ends with a probe for every fact said so far, answered with its value at that time.
    """
    rng = random.Random(seed)
    at = start or datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
    current: dict[str, str] = {}
    events: list[LogEvent] = []
    for number in range(1, sessions + 1):
        session = f"s{number}"
        turns: list[LoggedTurn] = []
        if number == 1:
            for attribute, values in {**_STABLE, **_CHANGING}.items():
                current[attribute] = rng.choice(values)
                turns.append(_fact(attribute, current[attribute], at, session, user))
        else:
            for attribute, values in _CHANGING.items():
                roll = rng.random()
                if roll < 0.25:
                    current[attribute] = rng.choice([v for v in values if v != current[attribute]])
                elif roll >= 0.35:  # 10% of the time the same value is said again
                    continue
                turns.append(_fact(attribute, current[attribute], at, session, user))
        for _ in range(rng.randint(6, 10)):
            text = rng.choice(_CHATTER).format(adj=rng.choice(_ADJ))
            turns.append(LoggedTurn(at=at, session=session, user=user, text=text, importance=0.1))
        rng.shuffle(turns)
        for turn in turns:
            turn.at = at
            events.append(turn)
            at += timedelta(minutes=2)
        for attribute, value in current.items():
            question = f"What is my {attribute}?"
            events.append(Probe(at=at, user=user, question=question, answer=value))
        at += timedelta(days=rng.randint(1, 5), hours=rng.randint(0, 6))
    return events


def line_styles(n: int) -> list[dict[str, Any]]:
    """One distinct style per line, so equal curves stay visible on top of each other.

    Earlier lines are wider and drawn first; each has its own marker and dash pattern,
    so a line hidden exactly under another still shows around its edges and markers.
    """
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    dashes = ["-", "--", "-.", ":"]
    return [
        {
            "marker": markers[i % len(markers)],
            "markersize": max(7.0 - 1.2 * i, 2.5),
            "linestyle": dashes[i % len(dashes)],
            "linewidth": max(4.0 - 0.9 * i, 1.0),
            "alpha": 0.85,
            "zorder": 2 + i,
        }
        for i in range(n)
    ]


def plot_replay(result: ReplayResult, folder: str | os.PathLike[str]) -> list[Path]:
    """Draw memory size and probe accuracy over time; return the PNG files written."""
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingDependencyError.for_extra("matplotlib", "eval", "plotting") from exc

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for metric, label, filename in (
        ("size", "open memories", "size.png"),
        ("accuracy", "probe accuracy", "accuracy.png"),
    ):
        figure, axes = plt.subplots(figsize=(7, 3.8))
        styles = line_styles(len(result.runs))
        for (name, steps), style in zip(result.runs.items(), styles, strict=True):
            axes.plot(
                [s.at for s in steps],  # type: ignore[arg-type]  # matplotlib plots dates
                [getattr(s, metric) for s in steps],
                label=name,
                **style,
            )
        axes.set_xlabel("conversation time")
        axes.set_ylabel(label)
        axes.set_title(f"{label} over time, per policy set")
        if metric == "accuracy":
            axes.set_ylim(-0.02, 1.02)
        axes.legend(fontsize=8)
        figure.autofmt_xdate()
        figure.tight_layout()
        path = out / filename
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written
