"""Evaluation reports: per system and category, saved as JSON, Markdown and a PNG plot."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

from agentmem.eval.intervals import Rate
from agentmem.eval.metrics import percentile

__all__ = ["ALL", "HEADLINE", "QuestionResult", "Report", "Summary", "save_report"]

ALL = "all"
HEADLINE = "headline"
"""The summary over every category but the ``excluded`` ones (LoCoMo: categories 1-4)."""
_CATEGORY_ORDER = ["multi-hop", "temporal", "open-domain", "single-hop", "adversarial"]


class QuestionResult(BaseModel):
    """How one system did on one question."""

    conversation: str
    question: str
    category: str
    recall: dict[str, float] | None = None
    prompt_tokens: int
    full_context_tokens: int
    prediction: str | None = None
    f1: float | None = None
    em: float | None = None
    abstained: float | None = None
    judge: float | None = None
    latency_s: float = 0.0


class Summary(BaseModel):
    """Means over a group of questions (``None`` where no question had the measure).

    ``rates`` holds the same means with their seeded bootstrap 95% intervals and the n
    behind each (``recall@k`` over questions with evidence, ``f1``/``em``/``judge`` over
    answerable questions, ``abstention`` over unanswerable ones).
    """

    questions: int
    with_evidence: int = 0
    recall: dict[str, float] = Field(default_factory=dict)
    f1: float | None = None
    em: float | None = None
    abstention: float | None = None
    judge: float | None = None
    prompt_tokens: float
    full_context_tokens: float
    latency_p50_ms: float
    latency_p95_ms: float
    rates: dict[str, Rate] = Field(default_factory=dict)


def _mean(values: list[float]) -> float | None:
    return round(math.fsum(values) / len(values), 4) if values else None


def summarize(results: list[QuestionResult], *, seed: int | str = 0) -> Summary:
    """Average ``results`` into one :class:`Summary`, intervals seeded by ``seed``."""
    with_recall = [r.recall for r in results if r.recall]
    keys = sorted({key for rec in with_recall for key in rec}, key=lambda s: int(s.split("@")[1]))
    latencies = [r.latency_s * 1000 for r in results]
    samples: dict[str, list[float]] = {key: [rec[key] for rec in with_recall] for key in keys}
    samples["f1"] = [r.f1 for r in results if r.f1 is not None]
    samples["em"] = [r.em for r in results if r.em is not None]
    samples["judge"] = [r.judge for r in results if r.judge is not None]
    samples["abstention"] = [r.abstained for r in results if r.abstained is not None]
    rates = {key: Rate.of(v, seed=f"{seed}/{key}") for key, v in samples.items() if v}
    return Summary(
        questions=len(results),
        with_evidence=len(with_recall),
        recall={key: _mean(samples[key]) or 0.0 for key in keys},
        f1=_mean(samples["f1"]),
        em=_mean(samples["em"]),
        abstention=_mean(samples["abstention"]),
        judge=_mean(samples["judge"]),
        prompt_tokens=_mean([float(r.prompt_tokens) for r in results]) or 0.0,
        full_context_tokens=_mean([float(r.full_context_tokens) for r in results]) or 0.0,
        latency_p50_ms=round(percentile(latencies, 50), 3) if latencies else 0.0,
        latency_p95_ms=round(percentile(latencies, 95), 3) if latencies else 0.0,
        rates=rates,
    )


def _category_key(category: str) -> str:
    """A category's key in a summary; one named like a reserved key gets a suffix."""
    return f"{category} (category)" if category in (ALL, HEADLINE) else category


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _cell(summary: Summary, key: str) -> str:
    rate = summary.rates.get(key)
    return "-" if rate is None else rate.cell()


class Report(BaseModel):
    """The outcome of :meth:`Evaluator.run`: per-question results and their summaries.

    ``summary[system][category]`` holds the means; ``"all"`` covers every question and
    ``"headline"`` every question outside ``excluded`` (by default LoCoMo's adversarial
    category, scored on its own row: the usual headline is categories 1-4). Everything
    but the latencies repeats to the digit for the same seed.
    """

    dataset: str
    systems: list[str]
    k: int
    ks: list[int]
    seed: int
    llm: str | None = None
    judge: str | None = None
    excluded: list[str] = Field(default_factory=lambda: ["adversarial"])
    judge_check: dict[str, bool] | None = None
    summary: dict[str, dict[str, Summary]]
    results: dict[str, list[QuestionResult]]

    @classmethod
    def build(cls, *, results: dict[str, list[QuestionResult]], **fields: object) -> Report:
        """Summarise per-question ``results`` per system and category."""
        seed = fields.get("seed", 0)
        raw = fields.get("excluded")
        excluded = {str(c) for c in raw} if isinstance(raw, list) else {"adversarial"}
        summary: dict[str, dict[str, Summary]] = {}
        for system, rows in results.items():
            categories = sorted({r.category for r in rows})
            summary[system] = {
                ALL: summarize(rows, seed=f"{seed}/{system}/{ALL}"),
                HEADLINE: summarize(
                    [r for r in rows if r.category not in excluded],
                    seed=f"{seed}/{system}/{HEADLINE}",
                ),
            } | {
                _category_key(c): summarize(
                    [r for r in rows if r.category == c], seed=f"{seed}/{system}/{c}"
                )
                for c in categories
            }
        return cls.model_validate({"results": results, "summary": summary, **fields})

    @property
    def categories(self) -> list[str]:
        """The question categories: LoCoMo's in its numbering, others sorted, excluded last."""
        found = {c for per in self.summary.values() for c in per if c not in (ALL, HEADLINE)}
        known = {c: i for i, c in enumerate(_CATEGORY_ORDER)}
        return sorted(found, key=lambda c: (c in self.excluded, known.get(c, len(known)), c))

    @property
    def has_answers(self) -> bool:
        """Whether an LLM answered (F1, EM and maybe a judge were scored)."""
        return any(s[ALL].f1 is not None for s in self.summary.values())

    def title(self) -> str:
        """One line naming the data, seed, prompt size and cut-offs."""
        ks = ", ".join(str(k) for k in self.ks)
        return (
            f"{self.dataset}: seed {self.seed}; {self.k} turns in the prompt; recall@k for k = {ks}"
        )

    def paired_difference(
        self, a: str, b: str, measure: str = "recall@10", *, category: str = HEADLINE
    ) -> Rate:
        """``a`` minus ``b`` on ``measure``, with a paired bootstrap 95% interval.

        Over the questions both systems scored; resampling questions moves both systems
        together, so the interval is narrower than either system's own. ``measure`` is
        ``recall@<k>``, ``f1``, ``em``, ``judge`` or ``abstention``; ``category`` a
        category name, ``"headline"`` or ``"all"``.
        """

        def scores(system: str) -> dict[tuple[str, str], float]:
            out = {}
            for r in self.results[system]:
                if category == HEADLINE and r.category in self.excluded:
                    continue
                if category not in (ALL, HEADLINE) and r.category != category:
                    continue
                value = (
                    (r.recall or {}).get(measure)
                    if measure.startswith("recall@")
                    else {"f1": r.f1, "em": r.em, "judge": r.judge, "abstention": r.abstained}.get(
                        measure
                    )
                )
                if value is not None:
                    out[(r.conversation, r.question)] = value
            return out

        first, second = scores(a), scores(b)
        both = [key for key in first if key in second]
        return Rate.of(
            [first[key] - second[key] for key in both],
            seed=f"{self.seed}/{a}-{b}/{measure}/{category}",
        )

    def to_markdown(self) -> str:
        """The report as Markdown tables; latency comes last, in its own section."""
        recall_keys = [f"recall@{k}" for k in self.ks]
        excluded = [c for c in self.excluded if c in self.categories]
        scope = (
            f"every category but {', '.join(excluded)} (on its own row below)"
            if excluded
            else "every question"
        )
        answer_cols = ["F1", "EM", "J (judge)"] if self.has_answers else []
        lines = [
            f"# Long-term recall: {self.title()}",
            "",
            f"Answers: {self.llm or 'none (retrieval only)'}; judge: {self.judge or 'none'}. "
            f"Headline over {scope}. Recall is averaged over the questions with evidence "
            "turns; brackets are seeded bootstrap 95% intervals over questions. Recall of "
            "fixed-context systems (full-context, recent-window, no-memory) counts everything "
            "in their prompt. Prompt tokens are estimated the same way for all.",
        ]
        if self.judge_check is not None and not all(self.judge_check.values()):
            failed = ", ".join(name for name, ok in self.judge_check.items() if not ok)
            lines += [
                "",
                f"**The judge failed its check** ({failed}: it misgraded a known right or "
                "wrong answer), so its J column measures the judge, not the answers.",
            ]
        lines += [
            "",
            "| system | questions | with evidence | "
            + " | ".join(recall_keys + answer_cols)
            + " | prompt tokens | share of full context |",
            "|---" * (len(recall_keys) + len(answer_cols) + 5) + "|",
        ]
        for system in self.systems:
            s = self.summary[system][HEADLINE]
            share = s.prompt_tokens / s.full_context_tokens if s.full_context_tokens else 0.0
            cells = [system, str(s.questions), str(s.with_evidence)]
            cells += [_cell(s, key) for key in recall_keys]
            if answer_cols:
                cells += [_cell(s, "f1"), _cell(s, "em"), _cell(s, "judge")]
            cells += [f"{s.prompt_tokens:.1f}", f"{share:.1%}"]
            lines.append("| " + " | ".join(cells) + " |")
        full = max((self.summary[x][HEADLINE].full_context_tokens for x in self.systems), default=0)
        lines += ["", f"Full context: {full:.1f} prompt tokens per question."]
        for category in excluded:
            lines += [
                "",
                f"## {category} (unanswerable: the right reply says it was never mentioned)",
                "",
                f"| system | questions | with evidence | {recall_keys[-1]} | abstention |",
                "|---|---|---|---|---|",
            ]
            for system in self.systems:
                found = self.summary[system].get(category)
                if found is not None:
                    lines.append(
                        f"| {system} | {found.questions} | {found.with_evidence} | "
                        f"{_cell(found, recall_keys[-1])} | {_cell(found, 'abstention')} |"
                    )
        top = recall_keys[-1]
        measure = f"{top} / F1" if self.has_answers else top
        lines += ["", f"## Per category ({measure}; n = questions with evidence)", ""]
        lines += ["| category | n | " + " | ".join(self.systems) + " |"]
        lines += ["|---" * (len(self.systems) + 2) + "|"]
        for category in self.categories:
            first = self.summary[self.systems[0]].get(category)
            cells = [category, str(first.with_evidence if first else 0)]
            for system in self.systems:
                found = self.summary[system].get(category)
                if found is None:
                    cells.append("-")
                elif self.has_answers:
                    cells.append(f"{_cell(found, top)} / {_cell(found, 'f1')}")
                else:
                    cells.append(_cell(found, top))
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "## Latency per question (varies between runs)", ""]
        lines += ["| system | p50 ms | p95 ms |", "|---|---|---|"]
        for system in self.systems:
            s = self.summary[system][ALL]
            lines.append(f"| {system} | {s.latency_p50_ms:.2f} | {s.latency_p95_ms:.2f} |")
        return "\n".join(lines) + "\n"

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Draw recall@k, per-category recall, answer scores and prompt tokens into a PNG."""
        from agentmem.eval.plots import draw_report

        return draw_report(self, Path(path))

    def save(self, out_dir: str | os.PathLike[str], *, stem: str = "report") -> dict[str, Path]:
        """Write ``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` into ``out_dir``."""
        return save_report(self, out_dir, stem=stem)


class _Saveable(Protocol):
    def model_dump(self, *, mode: str) -> dict[str, object]: ...
    def to_markdown(self) -> str: ...
    def plot(self, path: str | os.PathLike[str]) -> Path: ...


def save_report(
    report: _Saveable, out_dir: str | os.PathLike[str], *, stem: str = "report"
) -> dict[str, Path]:
    """Write any report's ``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` into ``out_dir``."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / f"{stem}.json", "md": folder / f"{stem}.md"}
    paths["json"].write_text(
        json.dumps(report.model_dump(mode="json"), indent=1, sort_keys=True) + "\n", "utf-8"
    )
    paths["md"].write_text(report.to_markdown(), "utf-8")
    paths["png"] = report.plot(folder / f"{stem}.png")
    return paths
