"""In-context interference: accuracy as more and more interfering information arrives.

Two tracks, each a list of :class:`Episode` (a short conversation, its probes and the
amount of interference ``x``):

- :func:`update_stream_episodes` (PI-LLM, "Unable to Forget"): ``n_keys`` keys updated
  ``u`` times each (``key: value`` lines), then the latest value of each key is asked.
- :func:`babi_episodes` (In-context Interference in Chat-based LLMs): a bAbI story up to
  a question, then ``k`` interfering statements about other people, then the question.

:class:`InterferenceEvaluator` runs any harness systems (``full-context``,
``recent-window``, ``vector``, ``facts`` ...) on the episodes. Per probe it scores the
memory level (for ranked systems: does the top recalled line give the right value and no
other; for fixed-context systems: is the deciding statement in the context) and, given a
chat model, the answer level (does the reply give the right value and no other).
Systems that answer from memory (``facts:answer=memory``) reply with the top recalled
fact's stored value and ask no chat model, so they get an answer level without one.
"""

from __future__ import annotations

import math
import os
import random
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, Field
from tqdm.auto import tqdm

from agentmem._clock import ManualClock
from agentmem._errors import UserError
from agentmem._prompts import render_prompt
from agentmem._protocols import ChatMessage, ChatModel, Embedder
from agentmem._tokens import estimate_tokens
from agentmem.eval.babi import BabiStory
from agentmem.eval.dataset import Conversation, Question, Session, Turn
from agentmem.eval.intervals import Rate
from agentmem.eval.metrics import picks_answer, recall_at_k
from agentmem.eval.systems import System, build_system

__all__ = [
    "Episode",
    "InterferenceEvaluator",
    "InterferenceReport",
    "InterferenceResult",
    "PointSummary",
    "babi_episodes",
    "update_stream_episodes",
]

START = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)


class Episode(BaseModel):
    """One conversation with its probes, at interference level ``x``.

    ``alternatives[question id]`` lists the wrong candidate values (e.g. a key's earlier
    values) that a right answer must not mention.
    """

    track: str
    x: int
    conversation: Conversation
    alternatives: dict[str, list[str]] = Field(default_factory=dict)


def _episode(
    track: str, x: int, eid: str, lines: Sequence[str], questions: list[Question]
) -> Episode:
    turns = [Turn(id=f"t{i}", speaker="user", text=line) for i, line in enumerate(lines)]
    session = Session(id="s1", date=START, turns=turns)
    convo = Conversation(id=eid, sessions=[session], questions=questions)
    return Episode(track=track, x=x, conversation=convo)


def update_stream_episodes(
    vocabulary: Mapping[str, Sequence[str]],
    *,
    n_keys: int = 4,
    updates: Sequence[int] = (1, 2, 4, 8, 16),
    streams: int = 1,
    seed: int = 0,
    probe: str = "The latest {key} is",
) -> list[Episode]:
    """Streams of ``key: value`` updates, ``u`` per key, probing each key's latest value.

    Keys are categories of ``vocabulary`` and values words of them; each update changes
    the value, and rounds visit the keys in a shuffled order. ``probe`` is the question,
    with ``{key}`` in it. The same seed gives the same streams.
    """
    keys_all = sorted(vocabulary)
    if n_keys < 1 or n_keys > len(keys_all) or not updates or min(updates) < 1:
        msg = f"need 1 <= n_keys <= {len(keys_all)} and updates >= 1, got {n_keys}, {updates}"
        raise UserError(msg)
    episodes = []
    for u in updates:
        for s in range(streams):
            rng = random.Random(f"{seed}/{u}/{s}")
            keys = rng.sample(keys_all, n_keys)
            current: dict[str, str] = {}
            seen: dict[str, list[str]] = {k: [] for k in keys}
            lines: list[str] = []
            last: dict[str, int] = {}
            for _ in range(u):
                for key in rng.sample(keys, len(keys)):
                    value = rng.choice([v for v in vocabulary[key] if v != current.get(key)])
                    current[key] = value
                    seen[key].append(value)
                    last[key] = len(lines)
                    lines.append(f"{key}: {value}")
            questions = [
                Question(
                    id=f"u{u}-s{s}-{key}",
                    question=probe.format(key=key),
                    answer=current[key],
                    category=f"u={u}",
                    evidence=[f"t{last[key]}"],
                )
                for key in keys
            ]
            episode = _episode("update-stream", u, f"u{u}-s{s}", lines, questions)
            episode.alternatives = {q.id: seen[k] for q, k in zip(questions, keys, strict=True)}
            episodes.append(episode)
    return episodes


_FRESH_NAMES = ["Bill", "Fred", "Julie", "Jeff", "Emily", "Greg", "Lily", "Brian", "Yann"]
_PLACES = ["kitchen", "garden", "hallway", "bathroom", "bedroom", "office"]
_VERBS = ["moved to", "went to", "journeyed to", "travelled to", "went back to"]
_CAPITAL = re.compile(r"\b[A-Z][a-z]+\b")


def babi_episodes(
    stories: Sequence[BabiStory],
    *,
    ks: Sequence[int] = (0, 2, 4, 8, 16),
    questions: int = 20,
    seed: int = 0,
) -> list[Episode]:
    """Ask bAbI questions after ``k`` interfering statements, for each ``k`` in ``ks``.

    ``questions`` questions are sampled with ``seed``; each is asked after its story's
    statements so far plus ``k`` statements in bAbI's own form about people who are not
    in the story ("Fred went to the garden."), which change nothing about the answer.
    """
    pool = [(story, q) for story in stories for q in story.questions]
    if not pool or not ks or min(ks) < 0:
        msg = "need bAbI stories with questions and non-negative interference levels"
        raise UserError(msg)
    rng = random.Random(seed)
    chosen = rng.sample(pool, min(questions, len(pool)))
    episodes = []
    for n, (story, q) in enumerate(chosen):
        statements = story.statements[: q.after]
        names = set(_CAPITAL.findall(" ".join(text for _, text in statements)))
        fresh = [name for name in _FRESH_NAMES if name not in names] or ["Zed"]
        noise_rng = random.Random(f"{seed}/{n}")
        noise = [
            f"{noise_rng.choice(fresh)} {noise_rng.choice(_VERBS)} the {noise_rng.choice(_PLACES)}."
            for _ in range(max(ks))
        ]
        ids = {line_id: i for i, (line_id, _) in enumerate(statements)}
        for k in ks:
            lines = [text for _, text in statements] + noise[:k]
            question = Question(
                id=f"{story.id}/q{n}/k{k}",
                question=q.question,
                answer=q.answer,
                category=f"k={k}",
                evidence=[f"t{ids[s]}" for s in q.supporting if s in ids],
            )
            episode = _episode("babi", k, f"{story.id}/q{n}/k{k}", lines, [question])
            episode.alternatives = {question.id: [p for p in _PLACES if p != q.answer]}
            episodes.append(episode)
    return episodes


class InterferenceResult(BaseModel):
    """How one system did on one probe."""

    system: str
    episode: str
    x: int
    question: str
    answer: str
    memory: float
    prompt_tokens: int
    context_lines: int = 0
    prediction: str | None = None
    source: str | None = None
    correct: float | None = None


class PointSummary(BaseModel):
    """Means over the probes of one system at one interference level."""

    probes: int
    memory: float
    accuracy: float | None = None
    prompt_tokens: float
    rates: dict[str, Rate] = Field(default_factory=dict)


def _mean(values: Sequence[float]) -> float | None:
    return round(math.fsum(values) / len(values), 4) if values else None


class InterferenceReport(BaseModel):
    """Accuracy per system and interference level; repeats to the digit for a seed.

    ``summary[system][str(x)]`` holds the means; ``memory`` is the memory-level score,
    ``accuracy`` the answer-level one (``None`` without a chat model, except for systems in
    ``from_memory``, which answer from a stored value). ``fixed_context`` lists the systems
    whose prompt is a fixed context (their memory level only says the deciding statement is
    in it).
    """

    track: str
    systems: list[str]
    fixed_context: list[str] = Field(default_factory=list)
    from_memory: list[str] = Field(default_factory=list)
    max_prompt_tokens: int | None = None
    xs: list[int]
    k: int
    seed: int
    llm: str | None = None
    summary: dict[str, dict[str, PointSummary]]
    results: list[InterferenceResult]

    @classmethod
    def build(cls, *, results: list[InterferenceResult], **fields: object) -> InterferenceReport:
        """Summarise per-probe results per system and level."""
        systems = list(dict.fromkeys(r.system for r in results))
        summary: dict[str, dict[str, PointSummary]] = {}
        for system in systems:
            summary[system] = {}
            for x in sorted({r.x for r in results if r.system == system}):
                rows = [r for r in results if r.system == system and r.x == x]
                answered = [r.correct for r in rows if r.correct is not None]
                where = f"{fields.get('seed', 0)}/{system}/{x}"
                rates = {"memory": Rate.of([r.memory for r in rows], seed=f"{where}/memory")}
                if answered:
                    rates["accuracy"] = Rate.of(answered, seed=f"{where}/accuracy")
                summary[system][str(x)] = PointSummary(
                    rates=rates,
                    probes=len(rows),
                    memory=_mean([r.memory for r in rows]) or 0.0,
                    accuracy=_mean([r.correct for r in rows if r.correct is not None]),
                    prompt_tokens=_mean([float(r.prompt_tokens) for r in rows]) or 0.0,
                )
        xs = sorted({r.x for r in results})
        return cls.model_validate(
            {"results": results, "summary": summary, "systems": systems, "xs": xs, **fields}
        )

    @property
    def x_label(self) -> str:
        """What the interference level counts."""
        if self.track == "update-stream":
            return "updates per key (u)"
        return "interfering statements (k)"

    def curve(self, system: str, measure: str = "accuracy") -> list[tuple[float, float]]:
        """``(x, value)`` points of ``measure`` (``accuracy`` or ``memory``) for a system."""
        points: list[tuple[float, float]] = []
        for x, s in self.summary[system].items():
            value = getattr(s, measure)
            if value is not None:
                points.append((float(int(x)), float(value)))
        return points

    def band(self, system: str, measure: str = "accuracy") -> list[tuple[float, float, float]]:
        """``(x, low, high)``: the 95% interval of ``measure`` at each level, for a system."""
        return [
            (float(int(x)), rate.low, rate.high)
            for x, s in self.summary[system].items()
            if (rate := s.rates.get(measure)) is not None and rate.n
        ]

    def to_markdown(self) -> str:
        """The report as Markdown tables."""
        lines = [
            f"# In-context interference: {self.track}",
            "",
            f"seed {self.seed}; {self.k} recalled lines for ranked systems; answers: "
            f"{self.llm or 'none (memory level only)'}.",
            "Memory level: ranked systems, the top recalled line gives the right value and no "
            "other; fixed-context systems, the deciding statement is in the prompt. Answer "
            "level: the reply gives the right value and no other. Brackets: seeded bootstrap "
            "95% intervals over probes.",
        ]
        if self.max_prompt_tokens is not None and self.llm is not None:
            lines.append(
                f"Prompts over {self.max_prompt_tokens} tokens were not sent to the model "
                "(answer accuracy '-')."
            )
        if self.from_memory:
            lines.append(
                f"Answered from memory (top recalled fact's stored value, no chat model): "
                f"{', '.join(self.from_memory)}."
            )
        lines += [
            "",
            f"| system | {self.x_label} | probes | memory level | answer accuracy | "
            "prompt tokens |",
            "|---|---|---|---|---|---|",
        ]
        for system in self.systems:
            for x, s in self.summary[system].items():
                acc = s.rates["accuracy"].cell() if "accuracy" in s.rates else "-"
                mem = s.rates["memory"].cell() if "memory" in s.rates else f"{s.memory:.3f}"
                lines.append(
                    f"| {system} | {x} | {s.probes} | {mem} | {acc} | {s.prompt_tokens:.1f} |"
                )
        return "\n".join(lines) + "\n"

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Draw accuracy against interference per system into a PNG file."""
        from agentmem.eval.plots import draw_curves

        answered = [s for s in self.systems if self.curve(s)]
        ranked = [s for s in self.systems if s not in self.fixed_context]
        panels: dict[str, dict[str, list[tuple[float, float]]]] = {}
        bands: dict[str, dict[str, list[tuple[float, float, float]]]] = {}
        if answered:
            who = [f"model: {self.llm}"] if self.llm else []
            if self.from_memory:
                who.append("answer=memory: stored value")
            title = "\n".join(["answer accuracy", *who])
            panels[title] = {s: self.curve(s) for s in answered}
            bands[title] = {s: self.band(s) for s in answered}
        if ranked:
            title = "memory level: top recalled line right\n(ranked systems only)"
            panels[title] = {s: self.curve(s, "memory") for s in ranked}
            bands[title] = {s: self.band(s, "memory") for s in ranked}
        if not panels:
            title = "memory level: deciding statement in the prompt"
            panels[title] = {s: self.curve(s, "memory") for s in self.systems}
            bands[title] = {s: self.band(s, "memory") for s in self.systems}
        return draw_curves(
            panels,
            Path(path),
            bands=bands,
            x_label=self.x_label,
            title=f"in-context interference: {self.track} (seed {self.seed})\n"
            "(shaded: 95% bootstrap intervals)",
            log_x=self.track == "update-stream",
        )

    def save(
        self, out_dir: str | os.PathLike[str], *, stem: str = "interference"
    ) -> dict[str, Path]:
        """Write ``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` into ``out_dir``."""
        from agentmem.eval.report import save_report

        return save_report(self, out_dir, stem=stem)


class InterferenceEvaluator:
    """Runs systems on interference episodes and scores memory and answers.

    Args:
        embedder: the embedder systems that search by meaning use.
        k: how many recalled lines a ranked system puts in the prompt.
        max_tokens: the cap on each reply (answers are a word or two).
        max_prompt_tokens: prompts longer than this are not sent to the chat model (a slow
            model and a long full context); their answer level stays ``None``.
        progress: show a progress bar.
    """

    def __init__(
        self,
        *,
        embedder: Embedder | None = None,
        k: int = 5,
        max_tokens: int = 10,
        max_prompt_tokens: int | None = None,
        progress: bool = True,
    ) -> None:
        if k <= 0 or max_tokens <= 0 or (max_prompt_tokens is not None and max_prompt_tokens <= 0):
            msg = (
                f"k, max_tokens and max_prompt_tokens must be positive, got {k}, {max_tokens}, "
                f"{max_prompt_tokens}"
            )
            raise UserError(msg)
        self.embedder = embedder
        self.k = k
        self.max_tokens = max_tokens
        self.max_prompt_tokens = max_prompt_tokens
        self.progress = progress

    def run(
        self,
        systems: Sequence[str | System],
        episodes: Sequence[Episode],
        *,
        llm: ChatModel | None = None,
        seed: int = 0,
    ) -> InterferenceReport:
        """Evaluate ``systems`` on ``episodes``; ``llm=None`` scores the memory level only."""
        built = [build_system(s, embedder=self.embedder) for s in systems]
        names = [s.name for s in built]
        tracks = {e.track for e in episodes}
        if not built or len(set(names)) != len(names) or len(tracks) != 1:
            msg = f"give distinct systems and episodes of one track, got {names}, {sorted(tracks)}"
            raise UserError(msg)
        results: list[InterferenceResult] = []
        jobs = [(s, e) for s in built for e in episodes]
        for system, episode in tqdm(
            jobs, desc="eval interference", unit="episode", disable=not self.progress
        ):
            results += self._run_one(system, episode, llm)
        return InterferenceReport.build(
            results=results,
            fixed_context=[s.name for s in built if not s.ranked],
            from_memory=[s.name for s in built if s.answers_from_memory],
            max_prompt_tokens=self.max_prompt_tokens,
            track=tracks.pop(),
            k=self.k,
            seed=seed,
            llm=None if llm is None else str(getattr(llm, "name", None) or type(llm).__name__),
        )

    def _run_one(
        self, system: System, episode: Episode, llm: ChatModel | None
    ) -> list[InterferenceResult]:
        convo = episode.conversation
        clock = ManualClock(START)
        system.begin(convo, clock)
        try:
            for session in convo.sessions:
                system.observe(session, session.turns)
            clock.set(convo.end + timedelta(minutes=1))
            texts = {t.id: t.text for _, t in convo.turns()}
            order = {t.id: i for i, (_, t) in enumerate(convo.turns())}
            out = []
            for question in convo.questions:
                out.append(self._ask(system, episode, question, texts, order, llm))
            return out
        finally:
            system.end()

    def _ask(
        self,
        system: System,
        episode: Episode,
        question: Question,
        texts: dict[str, str],
        order: dict[str, int],
        llm: ChatModel | None,
    ) -> InterferenceResult:
        answer = question.answer or ""
        others = episode.alternatives.get(question.id, [])
        recalled = system.recall(question, self.k)
        in_prompt = recalled[: self.k] if system.ranked else recalled
        if system.ranked:
            memory = picks_answer(recalled[0][1], answer, others) if recalled else 0.0
        else:
            ids = [turn_id for turn_id, _ in in_prompt]
            memory = recall_at_k(ids, question.evidence, None) if question.evidence else 0.0
        result = InterferenceResult(
            system=system.name,
            episode=episode.conversation.id,
            x=episode.x,
            question=question.question,
            answer=answer,
            memory=memory,
            prompt_tokens=0,
        )
        if system.answers_from_memory:
            stored = system.answer(question, self.k)
            result.prediction = "" if stored is None else stored.value
            result.source = None if stored is None else stored.source
            result.context_lines = int(stored is not None)
            result.correct = picks_answer(result.prediction, answer, others)
            return result
        ids = sorted({i for i, _ in in_prompt if i in texts}, key=order.__getitem__)
        prompt = render_prompt(
            "eval_interference",
            context="\n".join(texts[i] for i in ids) or "(nothing)",
            question=question.question,
        )
        result.prompt_tokens = estimate_tokens(prompt)
        result.context_lines = len(ids)
        too_long = self.max_prompt_tokens is not None and (
            result.prompt_tokens > self.max_prompt_tokens
        )
        if llm is not None and not too_long:
            reply = llm.chat([ChatMessage(role="user", content=prompt)], max_tokens=self.max_tokens)
            result.prediction = reply.text.strip()
            result.correct = picks_answer(reply.text, answer, others)
        return result
