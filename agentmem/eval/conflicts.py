"""Knowledge conflicts: does the answer follow what memory says, or the model's prior?

- :func:`load_conflictqa` reads ConflictQA (Xie et al., JSON lines): each record has the
  model's own answer (``memory_answer``) and a passage that contradicts it
  (``counter_memory``, ``counter_answer``). :meth:`ConflictEvaluator.conflictqa` gives the
  passage as a recalled memory and asks the question as a two-way choice.
- :meth:`ConflictEvaluator.substitution` asks entity-substituted QA items
  (:mod:`agentmem.eval.substitution`) with the substituted passage as memory.
- :func:`staleness` replays generated multi-session histories whose facts change
  (:func:`agentmem.simulate.generate_log`) under several retention policy sets and counts
  how often recall hands back an outdated value (Keep Me Updated!).

Per item the answer follows the memory (``counter``), the prior (``prior``) or neither
(``other``); with P_o the prior rate and P_s the counter rate, the memorization ratio of
Longpre et al. is M_R = P_o / (P_o + P_s).
"""

from __future__ import annotations

import json
import os
import random
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError
from tqdm.auto import tqdm

from agentmem._clock import ManualClock
from agentmem._errors import UserError
from agentmem._memory import Memory
from agentmem._prompts import render_prompt
from agentmem._protocols import ChatMessage, ChatModel, Embedder, RetentionPolicy
from agentmem.eval.loaders import DatasetError
from agentmem.eval.metrics import mentions, normalize_answer
from agentmem.eval.substitution import EntityQA

__all__ = [
    "ConflictEvaluator",
    "ConflictItem",
    "ConflictReport",
    "ConflictResult",
    "ConflictSummary",
    "StalenessReport",
    "StalenessSummary",
    "classify_choice",
    "load_conflictqa",
    "memorization_ratio",
    "staleness",
]

Follows = Literal["counter", "prior", "other"]


class ConflictItem(BaseModel):
    """A question with the model's prior answer and a memory that contradicts it."""

    id: str
    question: str
    prior_answer: str
    counter_answer: str
    counter_memory: str


def load_conflictqa(
    path: str | os.PathLike[str], *, limit: int | None = None, seed: int = 0
) -> list[ConflictItem]:
    """Read ConflictQA JSON lines; ``limit`` samples that many records with ``seed``."""
    items = []
    try:
        lines = Path(path).read_text("utf-8").splitlines()
    except OSError as exc:
        msg = f"cannot read ConflictQA file {path}: {exc}"
        raise DatasetError(msg) from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            items.append(
                ConflictItem(
                    id=f"cqa{number}",
                    question=record["question"],
                    prior_answer=record["memory_answer"],
                    counter_answer=record["counter_answer"],
                    counter_memory=record["counter_memory"],
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValidationError) as exc:
            msg = f"{Path(path).name} line {number}: not a ConflictQA record ({exc})"
            raise DatasetError(msg) from exc
    if limit is not None and limit < len(items):
        keep = set(random.Random(seed).sample(range(len(items)), limit))
        items = [item for i, item in enumerate(items) if i in keep]
    return items


_LETTER = re.compile(r"^\W*(?:answer\W*)?\(?([AB])\b", re.IGNORECASE)


def classify_choice(reply: str, options: Mapping[str, str]) -> str | None:
    """Which option (``"A"``/``"B"``) a reply picks; ``None`` for neither or both.

    A leading letter decides; otherwise the one option whose text the reply contains.
    """
    match = _LETTER.match(reply.strip())
    if match:
        return match.group(1).upper()
    said = [k for k, text in options.items() if normalize_answer(text) in normalize_answer(reply)]
    return said[0] if len(said) == 1 else None


def memorization_ratio(prior: float, counter: float) -> float | None:
    """M_R = P_o / (P_o + P_s); ``None`` when neither answer was ever given."""
    total = prior + counter
    return round(prior / total, 4) if total else None


class ConflictResult(BaseModel):
    """What one reply followed."""

    item: str
    condition: str
    prediction: str
    follows: Follows


class ConflictSummary(BaseModel):
    """Rates over the items of one condition."""

    items: int
    counter_rate: float
    prior_rate: float
    other_rate: float
    memorization_ratio: float | None


class ConflictReport(BaseModel):
    """Counter-answer and prior-answer rates and M_R per condition; seeded."""

    source: str
    llm: str
    seed: int
    summary: dict[str, ConflictSummary]
    results: list[ConflictResult]

    @classmethod
    def build(cls, *, results: list[ConflictResult], **fields: object) -> ConflictReport:
        """Summarise the results per condition."""
        summary = {}
        for condition in dict.fromkeys(r.condition for r in results):
            rows = [r for r in results if r.condition == condition]
            rate = {
                f: round(sum(r.follows == f for r in rows) / len(rows), 4)
                for f in ("counter", "prior", "other")
            }
            summary[condition] = ConflictSummary(
                items=len(rows),
                counter_rate=rate["counter"],
                prior_rate=rate["prior"],
                other_rate=rate["other"],
                memorization_ratio=memorization_ratio(rate["prior"], rate["counter"]),
            )
        return cls.model_validate({"results": results, "summary": summary, **fields})

    def to_markdown(self) -> str:
        """The report as a Markdown table."""
        lines = [
            f"# Knowledge conflicts: {self.source}",
            "",
            f"seed {self.seed}; answers: {self.llm}. counter: the answer follows the given "
            "memory; prior: it follows the model's own answer; M_R = prior / (prior + counter).",
            "",
            "| condition | items | counter-answer rate | prior-answer rate | other | M_R |",
            "|---|---|---|---|---|---|",
        ]
        for name, s in self.summary.items():
            mr = "-" if s.memorization_ratio is None else f"{s.memorization_ratio:.3f}"
            lines.append(
                f"| {name} | {s.items} | {s.counter_rate:.3f} | {s.prior_rate:.3f} | "
                f"{s.other_rate:.3f} | {mr} |"
            )
        return "\n".join(lines) + "\n"

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Bars of the counter-answer and prior-answer rates per condition."""
        from agentmem.eval.plots import draw_bars

        return draw_bars(
            {
                "counter-answer rate (follows memory)": {
                    c: s.counter_rate for c, s in self.summary.items()
                },
                "prior-answer rate (follows the model)": {
                    c: s.prior_rate for c, s in self.summary.items()
                },
            },
            Path(path),
            title=f"knowledge conflicts: {self.source} ({self.llm}, seed {self.seed})",
        )

    def save(self, out_dir: str | os.PathLike[str], *, stem: str = "conflicts") -> dict[str, Path]:
        """Write ``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` into ``out_dir``."""
        from agentmem.eval.report import save_report

        return save_report(self, out_dir, stem=stem)


def _name(llm: ChatModel) -> str:
    return str(getattr(llm, "name", None) or type(llm).__name__)


class ConflictEvaluator:
    """Asks a chat model conflicting questions with and without the memory.

    Args:
        llm: the model under test.
        max_tokens: the cap on each reply.
        progress: show a progress bar.
    """

    def __init__(self, llm: ChatModel, *, max_tokens: int = 16, progress: bool = True) -> None:
        if max_tokens <= 0:
            msg = f"max_tokens must be positive, got {max_tokens}"
            raise UserError(msg)
        self.llm = llm
        self.max_tokens = max_tokens
        self.progress = progress

    def _chat(self, prompt: str) -> str:
        reply = self.llm.chat(
            [ChatMessage(role="user", content=prompt)], max_tokens=self.max_tokens
        )
        return reply.text.strip()

    def conflictqa(
        self,
        items: Sequence[ConflictItem],
        *,
        seed: int = 0,
        conditions: Sequence[str] = ("memory", "no-memory"),
    ) -> ConflictReport:
        """Two-way choice between the prior and the counter answer, options in seeded order.

        Condition ``memory`` puts the counter-memory in the prompt as a recalled memory;
        ``no-memory`` asks the question alone (the model's prior).
        """
        bad = set(conditions) - {"memory", "no-memory"}
        if bad or not conditions:
            msg = f"conditions are 'memory' and/or 'no-memory', got {list(conditions)}"
            raise UserError(msg)
        results = []
        jobs = [(c, item) for c in conditions for item in items]
        for condition, item in tqdm(jobs, desc="conflictqa", disable=not self.progress):
            counter_first = random.Random(f"{seed}/{item.id}").random() < 0.5
            order = ["counter", "prior"] if counter_first else ["prior", "counter"]
            text = {"counter": item.counter_answer, "prior": item.prior_answer}
            options = {"A": text[order[0]], "B": text[order[1]]}
            memory = f"Memory: {item.counter_memory.strip()}\n" if condition == "memory" else ""
            prompt = render_prompt(
                "eval_conflict_choice",
                memory=memory,
                question=item.question,
                option_a=options["A"],
                option_b=options["B"],
            )
            reply = self._chat(prompt)
            letter = classify_choice(reply, options)
            follows: Follows = "other" if letter is None else order["AB".index(letter)]  # type: ignore[assignment]
            results.append(
                ConflictResult(item=item.id, condition=condition, prediction=reply, follows=follows)
            )
        return ConflictReport.build(
            results=results, source="conflictqa", llm=_name(self.llm), seed=seed
        )

    def substitution(
        self,
        originals: Sequence[EntityQA],
        substituted: Sequence[EntityQA],
        *,
        seed: int = 0,
    ) -> ConflictReport:
        """Open answers with a passage as memory: the ``original`` or the ``substituted`` one.

        An answer naming the original entity follows the prior, the substitute the memory.
        """
        if len(originals) != len(substituted):
            msg = "give one substituted item per original (see substitute_all)"
            raise UserError(msg)
        results = []
        pairs = [("original", o, o) for o in originals]
        pairs += [("substituted", o, s) for o, s in zip(originals, substituted, strict=True)]
        for condition, original, shown in tqdm(
            pairs, desc="substitution", disable=not self.progress
        ):
            prompt = render_prompt(
                "eval_conflict_open", memory=f"Memory: {shown.context}", question=shown.question
            )
            reply = self._chat(prompt)
            prior = mentions(reply, original.answer)
            counter = shown.substituted is not None and mentions(reply, shown.substituted)
            follows: Follows = "other" if prior == counter else ("prior" if prior else "counter")
            results.append(
                ConflictResult(
                    item=original.id, condition=condition, prediction=reply, follows=follows
                )
            )
        return ConflictReport.build(
            results=results, source="entity substitution", llm=_name(self.llm), seed=seed
        )


# -- outdated vs updated memories ----------------------------------------------------------


class StalenessSummary(BaseModel):
    """Probes about facts that changed: how often recall gave the current or an old value."""

    probes: int
    update_accuracy: float
    staleness_rate: float


class StalenessReport(BaseModel):
    """Staleness rate and update accuracy per retention policy set, over seeded histories."""

    seeds: list[int]
    sessions: int
    k: int
    summary: dict[str, StalenessSummary]

    def to_markdown(self) -> str:
        """The report as a Markdown table."""
        lines = [
            "# Outdated vs updated memories",
            "",
            f"histories: seeds {self.seeds}, {self.sessions} sessions each; only probes about "
            f"facts that had changed count. Update accuracy: the top hit gives the current "
            f"value; staleness rate: one of the top {self.k} hits gives an outdated value.",
            "",
            "| policy set | probes | update accuracy | staleness rate |",
            "|---|---|---|---|",
        ]
        for name, s in self.summary.items():
            lines.append(
                f"| {name} | {s.probes} | {s.update_accuracy:.3f} | {s.staleness_rate:.3f} |"
            )
        return "\n".join(lines) + "\n"

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Bars of update accuracy and staleness rate per policy set."""
        from agentmem.eval.plots import draw_bars

        return draw_bars(
            {
                "update accuracy (top hit current)": {
                    n: s.update_accuracy for n, s in self.summary.items()
                },
                f"staleness rate (outdated in top {self.k})": {
                    n: s.staleness_rate for n, s in self.summary.items()
                },
            },
            Path(path),
            title=f"outdated vs updated memories (seeds {self.seeds})",
        )

    def save(self, out_dir: str | os.PathLike[str], *, stem: str = "staleness") -> dict[str, Path]:
        """Write ``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` into ``out_dir``."""
        from agentmem.eval.report import save_report

        return save_report(self, out_dir, stem=stem)


_ASKED = re.compile(r"^What is my (.+)\?$")


def staleness(
    policies: Mapping[str, Sequence[RetentionPolicy]],
    *,
    embedder: Embedder,
    seeds: Sequence[int] = (0,),
    sessions: int = 20,
    k: int = 3,
) -> StalenessReport:
    """Replay generated histories under each policy set and score recall of changed facts.

    Each history (``agentmem.simulate.generate_log(seed, sessions)``) is written turn by
    turn into a fresh vector memory with the policy set; at each probe about a fact whose
    value has changed, the top hit should give the current value (update accuracy) and no
    top-``k`` hit an outdated one (staleness).
    """
    from agentmem.simulate import Probe, Turn, generate_log
    from agentmem.stores import VectorStore

    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for seed in seeds:
        log = generate_log(seed, sessions)
        for name, chosen in policies.items():
            clock = ManualClock(log[0].at)
            memory = Memory(
                [VectorStore(None, embedder)], policies=list(chosen), embedder=embedder, clock=clock
            )
            seen: dict[str, list[str]] = defaultdict(list)
            try:
                for event in log:
                    clock.set(event.at)
                    if isinstance(event, Turn):
                        memory.add(
                            event.text,
                            user_id=event.user,
                            session_id=event.session,
                            kind=event.kind,
                            importance=event.importance,
                            metadata=event.metadata,
                        )
                        attribute = event.metadata.get("attribute")
                        if (
                            isinstance(attribute, str)
                            and event.metadata["value"] not in seen[attribute]
                        ):
                            seen[attribute].append(str(event.metadata["value"]))
                        continue
                    assert isinstance(event, Probe)
                    asked = _ASKED.match(event.question)
                    old = [
                        v
                        for v in seen.get(asked.group(1) if asked else "", [])
                        if v != event.answer
                    ]
                    if not old:
                        continue
                    hits = memory.search(
                        event.question, user_id=event.user, k=k, record_access=False
                    )
                    texts = [h.item.text for h in hits]
                    tally = counts[name]
                    tally[0] += 1
                    tally[1] += (
                        bool(texts)
                        and mentions(texts[0], event.answer)
                        and not any(mentions(texts[0], v) for v in old)
                    )
                    tally[2] += any(mentions(t, v) for t in texts for v in old)
            finally:
                memory.close()
    summary = {
        name: StalenessSummary(
            probes=c[0],
            update_accuracy=round(c[1] / c[0], 4) if c[0] else 0.0,
            staleness_rate=round(c[2] / c[0], 4) if c[0] else 0.0,
        )
        for name, c in counts.items()
    }
    return StalenessReport(seeds=list(seeds), sessions=sessions, k=k, summary=summary)
