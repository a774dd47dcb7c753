"""PNG plots of evaluation reports (matplotlib, no global pyplot state)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentmem.eval.report import Report

__all__ = ["draw_bars", "draw_curves", "draw_report"]


def draw_report(report: Report, path: Path) -> Path:
    """Draw recall@k per system, F1 (if answers were scored) and prompt tokens."""
    from matplotlib.figure import Figure

    summaries = [report.summary[name]["all"] for name in report.systems]
    has_f1 = any(s.f1 is not None for s in summaries)
    fig = Figure(figsize=(5 * (3 if has_f1 else 2), 4.2), layout="constrained")
    axes = fig.subplots(1, 3 if has_f1 else 2)
    positions = list(range(len(report.systems)))
    width = 0.8 / len(report.ks)
    ax = axes[0]
    for i, k in enumerate(report.ks):
        values = [s.recall.get(f"recall@{k}", 0.0) for s in summaries]
        ax.bar([p + i * width for p in positions], values, width, label=f"recall@{k}")
    ax.set_xticks([p + width * (len(report.ks) - 1) / 2 for p in positions], report.systems)
    ax.set_ylim(0, 1.05)
    ax.set_title("evidence recall")
    ax.legend(fontsize="small")
    if has_f1:
        axes[1].bar(positions, [s.f1 or 0.0 for s in summaries], color="tab:green")
        axes[1].set_xticks(positions, report.systems)
        axes[1].set_ylim(0, 1.05)
        axes[1].set_title(f"answer token F1 ({report.llm})")
    ax = axes[-1]
    ax.bar(positions, [s.prompt_tokens for s in summaries], color="tab:orange")
    full = max((s.full_context_tokens for s in summaries), default=0.0)
    ax.axhline(full, color="black", linestyle="--", label=f"full context ({full:.0f})")
    ax.set_xticks(positions, report.systems)
    ax.set_title("prompt tokens per question")
    ax.legend(fontsize="small")
    for axis in axes:
        axis.tick_params(axis="x", labelrotation=30, labelsize="small")
    fig.suptitle(f"{report.dataset} (seed {report.seed})")
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path


Curves = dict[str, list[tuple[float, float]]]


def draw_curves(
    panels: dict[str, Curves],
    path: Path,
    *,
    x_label: str,
    title: str,
    log_x: bool = False,
) -> Path:
    """One panel per title: a line per system of ``(x, score)`` points, scores in [0, 1].

    A system keeps its colour, marker and line style in every panel; styles differ so that
    lines lying on top of each other stay visible.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5 * len(panels), 4.2), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    names = list(dict.fromkeys(name for curves in panels.values() for name in curves))
    style = {
        name: {
            "color": f"C{i % 10}",
            "marker": "osD^v"[i % 5],
            "linestyle": ("-", "--", ":")[i % 3],
        }
        for i, name in enumerate(names)
    }
    for ax, (panel, curves) in zip(axes, panels.items(), strict=True):
        for name, points in curves.items():
            if points:
                xs, ys = zip(*sorted(points), strict=True)
                ax.plot(xs, ys, label=name, **style[name])
        if log_x:
            ax.set_xscale("symlog", base=2, linthresh=1)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel(x_label)
        ax.set_title(panel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path


def draw_bars(panels: dict[str, dict[str, float]], path: Path, *, title: str) -> Path:
    """One panel per title: a bar per label, values in [0, 1]."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5 * len(panels), 4.2), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (panel, bars) in zip(axes, panels.items(), strict=True):
        positions = list(range(len(bars)))
        ax.bar(positions, list(bars.values()), color="tab:blue")
        ax.set_xticks(positions, list(bars))
        ax.set_ylim(0, 1.05)
        ax.set_title(panel)
        ax.tick_params(axis="x", labelrotation=30, labelsize="small")
    fig.suptitle(title)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path
