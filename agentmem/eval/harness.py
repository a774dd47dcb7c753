"""The evaluator: ingest each conversation through a clock, ask the questions, score."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import time
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from agentmem._clock import ManualClock
from agentmem._errors import UserError
from agentmem._prompts import render_prompt
from agentmem._protocols import ChatMessage, ChatModel, Embedder
from agentmem._tokens import estimate_tokens
from agentmem.eval.dataset import Conversation, Dataset, Question
from agentmem.eval.metrics import exact_match, is_abstention, recall_at_k, token_f1
from agentmem.eval.report import QuestionResult, Report
from agentmem.eval.systems import System, build_system

__all__ = ["JUDGE_CHECK", "Evaluator", "JudgeCache", "check_judge", "parse_verdict"]

logger = logging.getLogger(__name__)

_SLUG = re.compile(r"[^A-Za-z0-9_.=-]+")


def _slug(text: str) -> str:
    return _SLUG.sub("_", text)[:120] or "_"


def _model_name(model: ChatModel | None) -> str | None:
    if model is None:
        return None
    return str(getattr(model, "name", None) or type(model).__name__)


class Evaluator:
    """Runs systems side by side on the same conversations and scores them.

    Args:
        embedder: the embedder systems that search by meaning use.
        k: how many recalled turns go into the prompt.
        ks: the cut-offs evidence recall is reported at.
        out_dir: where finished conversations are cached (``cache/<system>/``) so an
            interrupted run resumes, with the judge's verdicts (``cache/judge.jsonl``);
            ``None`` caches nothing.
        max_questions: ask at most this many questions per conversation (sampled with
            the run's seed); ``None`` asks them all.
        progress: show progress bars.
    """

    def __init__(
        self,
        *,
        embedder: Embedder | None = None,
        k: int = 10,
        ks: Sequence[int] = (1, 5, 10),
        out_dir: str | os.PathLike[str] | None = None,
        max_questions: int | None = None,
        progress: bool = True,
    ) -> None:
        if k <= 0 or not ks or min(ks) <= 0:
            msg = f"k and every cut-off in ks must be positive, got k={k}, ks={list(ks)}"
            raise UserError(msg)
        self.embedder = embedder
        self.k = k
        self.ks = sorted(set(ks))
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.max_questions = max_questions
        self.progress = progress
        self._judge_cache = JudgeCache(
            None if self.out_dir is None else self.out_dir / "cache" / "judge.jsonl"
        )

    def run(
        self,
        systems: Sequence[str | System],
        dataset: Dataset,
        *,
        llm: ChatModel | None = None,
        judge: ChatModel | None = None,
        seed: int = 0,
    ) -> Report:
        """Evaluate ``systems`` on ``dataset``; ``llm=None`` measures retrieval only."""
        built = [build_system(s, embedder=self.embedder) for s in systems]
        names = [s.name for s in built]
        if not built or len(set(names)) != len(names):
            msg = f"give one or more systems with distinct names, got {names}"
            raise UserError(msg)
        if judge is not None and llm is None:
            msg = "an LLM judge grades answers, so it needs llm=... as well"
            raise UserError(msg)
        key = {
            "dataset": dataset.name,
            "k": self.k,
            "ks": self.ks,
            "llm": _model_name(llm),
            "judge": _model_name(judge),
            "seed": seed,
            "max_questions": self.max_questions,
        }
        judge_check = None
        if judge is not None:
            judge_check = check_judge(judge, self._judge_cache)
            if not all(judge_check.values()):
                logger.warning("the judge misgrades its check items %s", judge_check)
        results: dict[str, list[QuestionResult]] = {name: [] for name in names}
        jobs = [(c, s) for c in dataset.conversations for s in built]
        bar = tqdm(jobs, desc="eval recall", unit="conv", disable=not self.progress)
        for convo, system in bar:
            bar.set_postfix_str(f"{system.name} on {convo.id}"[:60])
            cached = self._load_cache(system.name, convo.id, key)
            if cached is None:
                cached = self._run_one(system, convo, llm, judge, seed)
                self._save_cache(system.name, convo.id, key, cached)
            results[system.name] += cached
        return Report.build(
            dataset=dataset.name,
            systems=names,
            results=results,
            k=self.k,
            ks=self.ks,
            seed=seed,
            llm=_model_name(llm),
            judge=_model_name(judge),
            judge_check=judge_check,
        )

    # -- one conversation --------------------------------------------------------------
    def _questions(self, convo: Conversation, seed: int) -> list[Question]:
        questions = list(convo.questions)
        if self.max_questions is not None and len(questions) > self.max_questions:
            rng = random.Random(f"{seed}/{convo.id}")
            keep = set(rng.sample(range(len(questions)), self.max_questions))
            questions = [q for i, q in enumerate(questions) if i in keep]
        return questions

    def _run_one(
        self,
        system: System,
        convo: Conversation,
        llm: ChatModel | None,
        judge: ChatModel | None,
        seed: int,
    ) -> list[QuestionResult]:
        clock = ManualClock(convo.sessions[0].date)
        system.begin(convo, clock)
        try:
            for session in convo.sessions:
                clock.set(session.date)
                system.observe(session, session.turns)
            full = [f"[{s.date:%d %B %Y}] {t.speaker}: {t.text}" for s, t in convo.turns()]
            out = []
            for question in self._questions(convo, seed):
                clock.set(question.date or convo.end)
                out.append(self._ask(system, convo, question, full, llm, judge, clock))
            return out
        finally:
            system.end()

    def _ask(
        self,
        system: System,
        convo: Conversation,
        question: Question,
        full: list[str],
        llm: ChatModel | None,
        judge: ChatModel | None,
        clock: ManualClock,
    ) -> QuestionResult:
        started = time.perf_counter()
        recalled = system.recall(question, max(self.k, *self.ks))
        in_prompt = recalled[: self.k] if system.ranked else recalled
        today = f"{clock.now():%d %B %Y}"
        prompt = render_prompt(
            "eval_answer",
            today=today,
            context="\n".join(line for _, line in in_prompt) or "(nothing recalled)",
            question=question.question,
        )
        result = QuestionResult(
            conversation=convo.id,
            question=question.id,
            category=question.category,
            prompt_tokens=estimate_tokens(prompt),
            full_context_tokens=estimate_tokens(
                render_prompt("eval_answer", today=today, context="\n".join(full), question="")
            )
            + estimate_tokens(question.question),
            recall=self._recall(system, recalled, question),
        )
        if llm is not None:
            reply = llm.chat([ChatMessage(role="user", content=prompt)], max_tokens=64).text
            result.prediction = reply.strip()
            if question.abstain or question.answer is None:
                result.abstained = float(is_abstention(reply))
            else:
                result.f1 = token_f1(reply, question.answer)
                result.em = exact_match(reply, question.answer)
                if judge is not None:
                    result.judge = _judge(judge, question, reply, self._judge_cache)
        result.latency_s = time.perf_counter() - started
        return result

    def _recall(
        self, system: System, recalled: list[tuple[str, str]], question: Question
    ) -> dict[str, float] | None:
        ids = [turn_id for turn_id, _ in recalled]
        if question.evidence:
            evidence = question.evidence
        elif question.evidence_sessions:
            ids = [turn_id.rsplit(":", 1)[0] for turn_id in ids]
            evidence = question.evidence_sessions
        else:
            return None
        return {
            f"recall@{k}": recall_at_k(ids, evidence, k if system.ranked else None) for k in self.ks
        }

    # -- the cache ---------------------------------------------------------------------
    def _cache_path(self, system: str, convo: str) -> Path | None:
        if self.out_dir is None:
            return None
        return self.out_dir / "cache" / _slug(system) / f"{_slug(convo)}.json"

    def _load_cache(
        self, system: str, convo: str, key: dict[str, object]
    ) -> list[QuestionResult] | None:
        path = self._cache_path(system, convo)
        if path is None or not path.exists():
            return None
        try:
            data = json.loads(path.read_text("utf-8"))
        except json.JSONDecodeError:
            logger.warning("ignoring the unreadable cache file %s", path)
            return None
        if data.get("key") != key:
            return None
        logger.info("reusing %s from %s", convo, path)
        return [QuestionResult.model_validate(r) for r in data["results"]]

    def _save_cache(
        self, system: str, convo: str, key: dict[str, object], results: list[QuestionResult]
    ) -> None:
        path = self._cache_path(system, convo)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"key": key, "results": [r.model_dump(mode="json") for r in results]}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload), "utf-8")
        tmp.replace(path)


_VERDICT = re.compile(r"\b(CORRECT|WRONG|INCORRECT)\b", re.IGNORECASE)


def parse_verdict(text: str) -> float | None:
    """1.0 for CORRECT, 0.0 for WRONG / INCORRECT, ``None`` for neither or both.

    A reply that names both (a small model echoing "CORRECT or WRONG") decides nothing.
    """
    said = {word.upper() for word in _VERDICT.findall(text)}
    if not said or ("CORRECT" in said and len(said) > 1):
        return None
    return float(said == {"CORRECT"})


JUDGE_CHECK = (
    ("right", "What colour is a clear daytime sky?", "blue", "It is blue.", 1.0),
    ("wrong", "What colour is a clear daytime sky?", "blue", "It is green.", 0.0),
    ("wrong-date", "When did Ann move to Porto?", "7 May 2023", "In 2019.", 0.0),
)
"""Graded before a run: a judge must pass a right answer and fail two wrong ones."""


class JudgeCache:
    """Verdicts by (judge, question, reference, prediction), appended to a JSON-lines file.

    A rerun, or a run interrupted half-way, never asks the judge the same thing twice;
    ``path=None`` keeps them in memory only.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._verdicts: dict[str, dict[str, object]] = {}
        if path is not None and path.exists():
            for line in path.read_text("utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self._verdicts[str(entry["key"])] = entry
                except (json.JSONDecodeError, KeyError, TypeError):
                    logger.warning("ignoring an unreadable line of %s", path)

    @staticmethod
    def key(judge: str, question: str, answer: str, prediction: str) -> str:
        """A stable hash of what the judge is asked."""
        raw = json.dumps([judge, question, answer, prediction])
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]

    def get(self, key: str) -> dict[str, object] | None:
        """The cached entry for ``key``, if any."""
        return self._verdicts.get(key)

    def put(self, key: str, verdict: float | None, raw: str) -> None:
        """Remember a verdict, and append it to the file."""
        entry: dict[str, object] = {"key": key, "verdict": verdict, "raw": raw}
        self._verdicts[key] = entry
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")


def check_judge(judge: ChatModel, cache: JudgeCache | None = None) -> dict[str, bool]:
    """Whether ``judge`` grades each :data:`JUDGE_CHECK` item as expected, by name."""
    cache = cache or JudgeCache(None)
    out = {}
    for name, question, answer, reply, expected in JUDGE_CHECK:
        probe = Question(id=name, question=question, answer=answer, category="check")
        out[name] = _judge(judge, probe, reply, cache) == expected
    return out


def _judge(judge: ChatModel, question: Question, reply: str, cache: JudgeCache) -> float | None:
    answer = question.answer or ""
    key = JudgeCache.key(_model_name(judge) or "", question.question, answer, reply)
    found = cache.get(key)
    if found is not None:
        verdict = found.get("verdict")
        return None if verdict is None else float(str(verdict))
    prompt = render_prompt(
        "eval_judge", question=question.question, answer=answer, prediction=reply
    )
    raw = judge.chat([ChatMessage(role="user", content=prompt)], max_tokens=8).text
    verdict = parse_verdict(raw)
    if verdict is None:
        logger.warning("the judge's reply %r names no verdict; question left unjudged", raw)
    cache.put(key, verdict, raw)
    return verdict
