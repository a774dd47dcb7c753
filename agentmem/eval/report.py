"""Evaluation reports: per system and category, saved as JSON, Markdown and a PNG plot."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

from agentmem.eval.metrics import percentile

__all__ = ["QuestionResult", "Report", "Summary", "save_report"]

ALL = "all"


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
    """Means over a group of questions (``None`` where no question had the measure)."""

    questions: int
    recall: dict[str, float] = Field(default_factory=dict)
    f1: float | None = None
    em: float | None = None
    abstention: float | None = None
    judge: float | None = None
    prompt_tokens: float
    full_context_tokens: float
    latency_p50_ms: float
    latency_p95_ms: float


def _mean(values: list[float]) -> float | None:
    return round(math.fsum(values) / len(values), 4) if values else None


def summarize(results: list[QuestionResult]) -> Summary:
    """Average ``results`` into one :class:`Summary`."""
    with_recall = [r.recall for r in results if r.recall]
    keys = sorted({key for rec in with_recall for key in rec}, key=lambda s: int(s.split("@")[1]))
    latencies = [r.latency_s * 1000 for r in results]
    return Summary(
        questions=len(results),
        recall={key: _mean([rec[key] for rec in with_recall]) or 0.0 for key in keys},
        f1=_mean([r.f1 for r in results if r.f1 is not None]),
        em=_mean([r.em for r in results if r.em is not None]),
        abstention=_mean([r.abstained for r in results if r.abstained is not None]),
        judge=_mean([r.judge for r in results if r.judge is not None]),
        prompt_tokens=_mean([float(r.prompt_tokens) for r in results]) or 0.0,
        full_context_tokens=_mean([float(r.full_context_tokens) for r in results]) or 0.0,
        latency_p50_ms=round(percentile(latencies, 50), 3) if latencies else 0.0,
        latency_p95_ms=round(percentile(latencies, 95), 3) if latencies else 0.0,
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


class Report(BaseModel):
    """The outcome of :meth:`Evaluator.run`: per-question results and their summaries.

    ``summary[system][category]`` holds the means; category ``"all"`` covers every
    question. Everything but the latencies repeats to the digit for the same seed.
    """

    dataset: str
    systems: list[str]
    k: int
    ks: list[int]
    seed: int
    llm: str | None = None
    judge: str | None = None
    summary: dict[str, dict[str, Summary]]
    results: dict[str, list[QuestionResult]]

    @classmethod
    def build(cls, *, results: dict[str, list[QuestionResult]], **fields: object) -> Report:
        """Summarise per-question ``results`` per system and category."""
        summary: dict[str, dict[str, Summary]] = {}
        for system, rows in results.items():
            categories = sorted({r.category for r in rows})
            summary[system] = {ALL: summarize(rows)} | {
                c: summarize([r for r in rows if r.category == c]) for c in categories
            }
        return cls.model_validate({"results": results, "summary": summary, **fields})

    def to_markdown(self) -> str:
        """The report as Markdown tables; latency comes last, in its own section."""
        recall_keys = [f"recall@{k}" for k in self.ks]
        lines = [
            f"# Long-term recall: {self.dataset}",
            "",
            f"seed {self.seed}; {self.k} recalled turns in the prompt; answers: "
            f"{self.llm or 'none (retrieval only)'}; judge: {self.judge or 'none'}.",
            "Recall of fixed-context systems (full-context, recent-window, no-memory) counts "
            "everything in their prompt. Prompt tokens are estimated the same way for all.",
            "",
            "| system | questions | "
            + " | ".join(recall_keys)
            + " | F1 | EM | abstention | judge | prompt tokens | full-context tokens | share |",
            "|---" * (len(recall_keys) + 9) + "|",
        ]
        for system in self.systems:
            s = self.summary[system][ALL]
            share = s.prompt_tokens / s.full_context_tokens if s.full_context_tokens else 0.0
            cells = [system, str(s.questions)]
            cells += [_fmt(s.recall.get(key)) for key in recall_keys]
            cells += [_fmt(s.f1), _fmt(s.em), _fmt(s.abstention), _fmt(s.judge)]
            cells += [f"{s.prompt_tokens:.1f}", f"{s.full_context_tokens:.1f}", f"{share:.1%}"]
            lines.append("| " + " | ".join(cells) + " |")
        top = recall_keys[-1]
        categories = sorted({c for per in self.summary.values() for c in per if c != ALL})
        lines += ["", f"## Per category ({top} / F1)", ""]
        lines += ["| category | " + " | ".join(self.systems) + " |"]
        lines += ["|---" * (len(self.systems) + 1) + "|"]
        for category in categories:
            cells = [category]
            for system in self.systems:
                found = self.summary[system].get(category)
                cells.append(
                    "-" if found is None else f"{_fmt(found.recall.get(top))} / {_fmt(found.f1)}"
                )
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "## Latency per question (varies between runs)", ""]
        lines += ["| system | p50 ms | p95 ms |", "|---|---|---|"]
        for system in self.systems:
            s = self.summary[system][ALL]
            lines.append(f"| {system} | {s.latency_p50_ms:.2f} | {s.latency_p95_ms:.2f} |")
        return "\n".join(lines) + "\n"

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Draw recall@k, F1 and prompt tokens per system into a PNG file."""
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
