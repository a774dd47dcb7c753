"""Knowledge conflicts: does the answer follow what memory says, or the model's prior?

- :func:`load_conflictqa` reads ConflictQA (Xie et al., JSON lines): each record has the
  model's own answer (``memory_answer``) and a passage that contradicts it
  (``counter_memory``, ``counter_answer``). :meth:`ConflictEvaluator.conflictqa` gives the
  passage as a recalled memory and asks the question as a two-way choice, in both option
  orders (or once, in a balanced seeded order), so a habit of answering "A" shows up as
  position bias instead of as following the memory.
- :meth:`ConflictEvaluator.substitution` asks entity-substituted QA items
  (:mod:`agentmem.eval.substitution`) with the substituted passage as memory.
- :func:`staleness` replays generated multi-session histories whose facts change
  (:func:`agentmem.eval.simulate.generate_log`) under several retention policy sets and counts
  how often recall hands back an outdated value (Keep Me Updated!).

Per item the answers follow the memory (``counter``), the prior (``prior``), neither
(``other``) or, asked in both orders, disagree (``inconsistent``); with P_o the prior rate
and P_s the counter rate, the memorization ratio of Longpre et al. is
M_R = P_o / (P_o + P_s). Every rate has a seeded bootstrap 95% interval
(:mod:`agentmem.eval.intervals`).

This module is longer than ~500 lines on purpose: the three conflict evaluations share the
per-item scoring, the option-order control and the report tables defined here.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from tqdm.auto import tqdm

from agentmem._clock import ManualClock
from agentmem._errors import UserError
from agentmem._memory import Memory
from agentmem._prompts import render_prompt
from agentmem._protocols import ChatMessage, ChatModel, Embedder, RetentionPolicy
from agentmem.eval.intervals import Rate, sign_test
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
    "item_outcome",
    "load_conflictqa",
    "memorization_ratio",
    "sample",
    "staleness",
    "summarize_conflicts",
]

Follows = Literal["counter", "prior", "other"]
Outcome = Literal["counter", "prior", "inconsistent", "other"]
Order = Literal["counter-first", "prior-first", "open"]


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
    return sample(items, limit, seed=seed)


def sample(items: list[ConflictItem], limit: int | None, *, seed: int = 0) -> list[ConflictItem]:
    """``limit`` of ``items`` drawn with ``seed``, in their order (all of them for ``None``)."""
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
    """What one reply followed; ``order`` says which answer was offered first."""

    item: str
    condition: str
    prediction: str
    follows: Follows
    order: Order = "open"
    letter: str | None = None


def item_outcome(replies: Sequence[ConflictResult]) -> Outcome:
    """One item's outcome over the replies it got in one condition.

    Asked once: what the reply followed. Asked in both option orders: ``counter`` or
    ``prior`` only when both replies agree on it, ``other`` when neither picked an option,
    ``inconsistent`` otherwise (e.g. the same letter both times: a choice by position).
    """
    follows = {r.follows for r in replies}
    if len(follows) == 1:
        return next(iter(follows))
    return "inconsistent"


class ConflictSummary(BaseModel):
    """Per-item rates over one condition, each with its seeded 95% interval and n.

    ``preference`` is the mean of +1 (item follows the memory), -1 (the prior), 0 (else)
    and names the side its interval excludes 0 on (``none`` otherwise).
    ``first_option`` is the share of replies that picked the option shown first (averaged
    per item, over items that got a choice): 0.5 for a model that chooses by content when
    both orders are asked. ``same_letter``: the share of items given one letter in both
    orders. ``position_biased``: a two-sided sign test of A against B over those items
    (asked once: over the letters given) has ``position_p_value`` below 0.05.
    """

    items: int
    counter_rate: float
    prior_rate: float
    inconsistent_rate: float
    other_rate: float
    memorization_ratio: float | None
    preference: Literal["memory", "prior", "none"]
    position_biased: bool
    position_p_value: float = 1.0
    rates: dict[str, Rate]


def summarize_conflicts(results: Sequence[ConflictResult], *, seed: int | str) -> ConflictSummary:
    """Score the replies of one condition per item, with intervals seeded by ``seed``."""
    per_item: dict[str, list[ConflictResult]] = defaultdict(list)
    for r in results:
        per_item[r.item].append(r)
    outcomes = [item_outcome(replies) for replies in per_item.values()]
    rates = {
        name: Rate.of([float(o == name) for o in outcomes], seed=f"{seed}/{name}")
        for name in ("counter", "prior", "inconsistent", "other")
    }
    score = {"counter": 1.0, "prior": -1.0}
    rates["preference"] = Rate.of([score.get(o, 0.0) for o in outcomes], seed=f"{seed}/pref")
    # per item, the share of its lettered replies that picked A: replies of one item are
    # not independent, so the bootstrap resamples items, not replies
    firsts = []
    for replies in per_item.values():
        picked = [r.letter == "A" for r in replies if r.letter is not None and r.order != "open"]
        if picked:
            firsts.append(sum(picked) / len(picked))
    if firsts:
        rates["first_option"] = Rate.of(firsts, seed=f"{seed}/first")
    both = [rs for rs in per_item.values() if len({r.order for r in rs}) == 2]
    if both:
        rates["same_letter"] = Rate.of(
            [float(len({r.letter for r in rs}) == 1 and rs[0].letter is not None) for rs in both],
            seed=f"{seed}/same",
        )
    pref = rates["preference"]
    preference: Literal["memory", "prior", "none"] = (
        "memory" if pref.low > 0 else "prior" if pref.high < 0 else "none"
    )
    # the flag: a sign test on items that got the same letter in both orders (AA vs BB),
    # or, asked once, on the letters given; with no position bias A and B are equally
    # likely there. The bootstrap interval alone is too narrow at small n.
    if both:
        same = [rs[0].letter for rs in both if len({r.letter for r in rs}) == 1]
        a, n = sum(letter == "A" for letter in same), sum(letter is not None for letter in same)
    else:
        letters = [str(r.letter) for r in results if r.letter is not None and r.order != "open"]
        a, n = letters.count("A"), len(letters)
    p_value = sign_test(a, n)
    return ConflictSummary(
        items=len(outcomes),
        counter_rate=rates["counter"].value,
        prior_rate=rates["prior"].value,
        inconsistent_rate=rates["inconsistent"].value,
        other_rate=rates["other"].value,
        memorization_ratio=memorization_ratio(rates["prior"].value, rates["counter"].value),
        preference=preference,
        position_biased=n > 0 and p_value < 0.05,
        position_p_value=float(f"{p_value:.3g}"),
        rates=rates,
    )


class ConflictReport(BaseModel):
    """Per-item counter / prior / inconsistent rates, M_R and position bias per condition."""

    source: str
    llm: str
    seed: int
    orders: str = "both"
    summary: dict[str, ConflictSummary]
    results: list[ConflictResult]

    @classmethod
    def build(cls, *, results: list[ConflictResult], **fields: Any) -> ConflictReport:
        """Summarise the results per condition."""
        seed = fields.get("seed", 0)
        summary = {
            condition: summarize_conflicts(
                [r for r in results if r.condition == condition], seed=f"{seed}/{condition}"
            )
            for condition in dict.fromkeys(r.condition for r in results)
        }
        return cls.model_validate({"results": results, "summary": summary, **fields})

    def to_markdown(self) -> str:
        """The report as Markdown tables: outcomes per item, then position bias."""
        kinds = self._kinds()
        asked = {
            "both": "each item asked in both option orders; counter / prior only when both "
            "replies agree, inconsistent when they differ (a pick by position)",
            "balanced": "each item asked once, half of them with the memory's answer first "
            "(seeded)",
            "open": "open answers",
        }[self.orders]
        lines = [
            f"# Knowledge conflicts: {self.source}",
            "",
            f"seed {self.seed}; answers: {self.llm}; {asked}. counter: the item follows the "
            "given memory; prior: the model's own answer; other: no option picked. "
            "M_R = prior / (prior + counter). Brackets: seeded bootstrap 95% intervals over "
            "items.",
            "",
            "| condition | items | " + " | ".join(kinds) + " | M_R | preference |",
            "|---" * (len(kinds) + 4) + "|",
        ]
        for name, s in self.summary.items():
            mr = "-" if s.memorization_ratio is None else f"{s.memorization_ratio:.3f}"
            cells = [name, str(s.items)]
            cells += [s.rates[k].cell() for k in kinds]
            cells += [mr, f"{s.preference} ({s.rates['preference'].cell()})"]
            lines.append("| " + " | ".join(cells) + " |")
        if any("first_option" in s.rates for s in self.summary.values()):
            lines += [
                "",
                "## Position bias",
                "",
                "first-option rate: share of replies that picked the option shown first "
                "(0.5 when the choice follows content, since each answer is shown first "
                "equally often). Position-biased: a two-sided sign test of A against B, over "
                "the items given the same letter in both orders, has p < 0.05.",
                "",
                "| condition | items with a choice | first-option rate | same letter in both "
                "orders | sign test p | position-biased |",
                "|---|---|---|---|---|---|",
            ]
            for name, s in self.summary.items():
                first = s.rates.get("first_option")
                same = s.rates.get("same_letter")
                lines.append(
                    f"| {name} | {first.n if first else 0} | {first.cell() if first else '-'} | "
                    f"{same.cell() if same else '-'} | {s.position_p_value:.2g} | "
                    f"{'**yes**' if s.position_biased else 'no'} |"
                )
        return "\n".join(lines) + "\n"

    def _kinds(self) -> list[str]:
        if self.orders == "both":
            return ["counter", "prior", "inconsistent", "other"]
        return ["counter", "prior", "other"]

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Per-item outcome rates per condition and the first-option rate, with 95% intervals."""
        from agentmem.eval.plots import draw_rates

        kinds = self._kinds()
        panels: dict[str, dict[str, dict[str, Rate]]] = {
            "item outcomes": {c: {k: s.rates[k] for k in kinds} for c, s in self.summary.items()}
        }
        references: dict[str, float] = {}
        if any("first_option" in s.rates for s in self.summary.values()):
            title = "position bias: first-option rate"
            panels[title] = {
                c: {"first option": s.rates["first_option"]}
                for c, s in self.summary.items()
                if "first_option" in s.rates
            }
            references[title] = 0.5
        return draw_rates(
            panels,
            Path(path),
            title=f"knowledge conflicts: {self.source} ({self.llm}, seed {self.seed})",
            references=references,
        )

    def save(self, out_dir: str | os.PathLike[str], *, stem: str = "conflicts") -> dict[str, Path]:
        """Write ``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` into ``out_dir``."""
        from agentmem.eval.report import save_report

        return save_report(self, out_dir, stem=stem)


def _name(llm: ChatModel) -> str:
    return str(getattr(llm, "name", None) or type(llm).__name__)


def _orders(items: Sequence[ConflictItem], orders: str, seed: int) -> list[tuple[int, Order]]:
    if orders == "both":
        return [(i, o) for i in range(len(items)) for o in ("counter-first", "prior-first")]
    if orders == "balanced":
        flags = [i % 2 == 0 for i in range(len(items))]
        random.Random(f"{seed}/orders").shuffle(flags)
        return [(i, "counter-first" if f else "prior-first") for i, f in enumerate(flags)]
    msg = f"orders is 'both' or 'balanced', got {orders!r}"
    raise UserError(msg)


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
        orders: str = "both",
        source: str = "conflictqa",
    ) -> ConflictReport:
        """Two-way choice between the prior and the counter answer.

        ``orders="both"`` asks every item twice, once with each answer as option A, and
        scores the item by both replies; ``"balanced"`` asks once, with the memory's answer
        first for a seeded half of the items. Condition ``memory`` puts the counter-memory
        in the prompt as a recalled memory; ``no-memory`` asks the question alone.
        """
        bad = set(conditions) - {"memory", "no-memory"}
        if bad or not conditions:
            msg = f"conditions are 'memory' and/or 'no-memory', got {list(conditions)}"
            raise UserError(msg)
        results = []
        jobs = [(c, items[i], o) for c in conditions for i, o in _orders(items, orders, seed)]
        for condition, item, order in tqdm(jobs, desc="conflictqa", disable=not self.progress):
            first: list[Follows] = (
                ["counter", "prior"] if order == "counter-first" else ["prior", "counter"]
            )
            text = {"counter": item.counter_answer, "prior": item.prior_answer}
            options = {"A": text[first[0]], "B": text[first[1]]}
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
            follows: Follows = "other" if letter is None else first["AB".index(letter)]
            results.append(
                ConflictResult(
                    item=item.id,
                    condition=condition,
                    prediction=reply,
                    follows=follows,
                    order=order,
                    letter=letter,
                )
            )
        return ConflictReport.build(
            results=results, source=source, llm=_name(self.llm), seed=seed, orders=orders
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
            results=results,
            source="entity substitution",
            llm=_name(self.llm),
            seed=seed,
            orders="open",
        )


# -- outdated vs updated memories ----------------------------------------------------------


class StalenessSummary(BaseModel):
    """Probes about facts that changed: how often recall gave the current or an old value."""

    probes: int
    update_accuracy: float
    staleness_rate: float
    rates: dict[str, Rate] = Field(default_factory=dict)


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
            f"value; staleness rate: one of the top {self.k} hits gives an outdated value. "
            "Brackets: seeded bootstrap 95% intervals over probes.",
            "",
            "| policy set | probes | update accuracy | staleness rate |",
            "|---|---|---|---|",
        ]
        for name, s in self.summary.items():
            lines.append(
                f"| {name} | {s.probes} | {s.rates['update_accuracy'].cell()} | "
                f"{s.rates['staleness'].cell()} |"
            )
        return "\n".join(lines) + "\n"

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Bars of update accuracy and staleness rate per policy set, with 95% intervals."""
        from agentmem.eval.plots import draw_rates

        return draw_rates(
            {
                "update accuracy (top hit current)": {
                    n: {"update accuracy": s.rates["update_accuracy"]}
                    for n, s in self.summary.items()
                },
                f"staleness rate (outdated in top {self.k})": {
                    n: {"staleness": s.rates["staleness"]} for n, s in self.summary.items()
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

    Each history (``agentmem.eval.simulate.generate_log(seed, sessions)``) is written turn by
    turn into a fresh vector memory with the policy set; at each probe about a fact whose
    value has changed, the top hit should give the current value (update accuracy) and no
    top-``k`` hit an outdated one (staleness).
    """
    from agentmem.eval.simulate import LoggedTurn, Probe, generate_log
    from agentmem.stores import VectorStore

    counts: dict[str, list[tuple[float, float]]] = defaultdict(list)
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
                    if isinstance(event, LoggedTurn):
                        event.write_to(memory)
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
                    current = (
                        bool(texts)
                        and mentions(texts[0], event.answer)
                        and not any(mentions(texts[0], v) for v in old)
                    )
                    stale = any(mentions(t, v) for t in texts for v in old)
                    counts[name].append((float(current), float(stale)))
            finally:
                memory.close()
    summary = {}
    for name in policies:
        probes = counts.get(name, [])
        rates = {
            "update_accuracy": Rate.of([p[0] for p in probes], seed=f"{name}/update"),
            "staleness": Rate.of([p[1] for p in probes], seed=f"{name}/stale"),
        }
        summary[name] = StalenessSummary(
            probes=len(probes),
            update_accuracy=rates["update_accuracy"].value if probes else 0.0,
            staleness_rate=rates["staleness"].value if probes else 0.0,
            rates=rates,
        )
    return StalenessReport(seeds=list(seeds), sessions=sessions, k=k, summary=summary)
