"""PNG plots of evaluation reports (matplotlib, no global pyplot state)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentmem._errors import MissingDependencyError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from agentmem.eval.intervals import Rate
    from agentmem.eval.report import Report

__all__ = ["draw_curves", "draw_rates", "draw_report"]

RatePanels = dict[str, dict[str, dict[str, "Rate"]]]
"""panel title -> group on the x axis -> series (one colour each) -> rate."""


def _figure() -> type[Figure]:
    """Matplotlib's Figure class, or an error naming ``agentmem[eval]``."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError.for_extra("matplotlib", "eval", "plotting") from exc
    return Figure


def draw_report(report: Report, path: Path) -> Path:
    """Recall@k per system, recall per category, answer scores and prompt tokens (log axis).

    Rates carry 95% bootstrap error bars; the headline panels leave out the excluded
    categories (LoCoMo's adversarial), the per-category panel shows every category.
    """
    Figure = _figure()

    from agentmem.eval.report import HEADLINE

    head = {name: report.summary[name][HEADLINE] for name in report.systems}
    top = f"recall@{report.ks[-1]}"
    panels: RatePanels = {
        "evidence recall (headline)": {
            name: {key: s.rates[key] for k in report.ks if (key := f"recall@{k}") in s.rates}
            for name, s in head.items()
        },
    }
    if len(report.categories) > 1:
        panels[f"{top} per category"] = {
            c: {
                name: report.summary[name][c].rates[top]
                for name in report.systems
                if c in report.summary[name] and top in report.summary[name][c].rates
            }
            for c in report.categories
        }
    if report.has_answers:
        panels[f"answers (headline; {report.llm})"] = {
            name: {
                label: s.rates[key]
                for key, label in (("f1", "F1"), ("em", "EM"), ("judge", "J"))
                if key in s.rates
            }
            for name, s in head.items()
        }
    per_category = f"{top} per category"
    top_row = [p for p in panels if p != per_category] + ["tokens"]
    widths = [_panel_width(panels[p]) if p in panels else 1.5 + 0.7 * len(head) for p in top_row]
    rows = 2 if per_category in panels else 1
    fig = Figure(figsize=(max(12.0, sum(widths)), 4.5 * rows))
    fig.set_layout_engine("constrained")
    layout: Any = [top_row, [per_category] * len(top_row)][:rows]
    named = fig.subplot_mosaic(layout, width_ratios=widths)
    for panel, groups in panels.items():
        _rate_panel(named[panel], panel, groups, None, "rate")
    ax = named["tokens"]
    tokens = [s.prompt_tokens for s in head.values()]
    bars = ax.bar(range(len(head)), tokens, color="tab:orange")
    ax.bar_label(bars, labels=[f"{t:,.0f}" for t in tokens], fontsize="small")
    full = max((s.full_context_tokens for s in head.values()), default=0.0)
    ax.axhline(full, color="black", linestyle="--", label=f"full context ({full:,.0f})")
    ax.set_yscale("log")
    if full > 0 and min(tokens, default=0) > 0:
        ax.set_ylim(min(tokens) / 2, full * 4)
    ax.set_xticks(list(range(len(head))), list(head))
    ax.tick_params(axis="x", labelrotation=30, labelsize="small")
    ax.set_title("prompt tokens per question (log)")
    ax.legend(fontsize="small", loc="upper left")
    fig.suptitle(report.title() + "\n(error bars: 95% bootstrap intervals)", fontsize="medium")
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path


def draw_rates(
    panels: RatePanels,
    path: Path,
    *,
    title: str,
    references: dict[str, float] | None = None,
    y_label: str = "rate",
) -> Path:
    """Grouped bars with 95% error bars, one panel per title; the n under each group.

    ``references`` draws a dashed line at a value in the panels it names (e.g. 0.5, the
    first-option rate of a model that chooses by content).
    """
    Figure = _figure()

    widths = [_panel_width(groups) for groups in panels.values()]
    fig = Figure(figsize=(max(6.5, sum(widths)), 4.4))
    fig.set_layout_engine("constrained")
    axes = fig.subplots(1, len(panels), squeeze=False, width_ratios=widths)[0]
    for ax, (panel, groups) in zip(axes, panels.items(), strict=True):
        _rate_panel(ax, panel, groups, (references or {}).get(panel), y_label)
    fig.suptitle(title + "\n(error bars: 95% bootstrap intervals)", fontsize="medium")
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path


def _panel_width(groups: dict[str, dict[str, Rate]]) -> float:
    bars = sum(len(rates) for rates in groups.values())
    return max(4.0, 1.5 + 0.3 * bars + 0.3 * len(groups))


def _rate_panel(
    ax: Any,
    panel: str,
    groups: dict[str, dict[str, Rate]],
    reference: float | None,
    y_label: str,
) -> None:
    series = list(dict.fromkeys(s for rates in groups.values() for s in rates))
    width = 0.8 / max(1, len(series))
    for i, name in enumerate(series):
        xs, ys, low, high = [], [], [], []
        for g, rates in enumerate(groups.values()):
            rate = rates.get(name)
            if rate is None or rate.n == 0:
                continue
            xs.append(g + (i - (len(series) - 1) / 2) * width)
            ys.append(rate.value)
            down, up = rate.errors
            low.append(down)
            high.append(up)
        ax.bar(xs, ys, width, label=name, color=f"C{i % 10}")
        ax.errorbar(xs, ys, yerr=[low, high], fmt="none", ecolor="black", capsize=2, lw=1)
    labels = []
    for group, rates in groups.items():
        ns = sorted({r.n for r in rates.values() if r.n})
        n = "/".join(str(v) for v in ns) if len(ns) <= 2 else f"{ns[0]}-{ns[-1]}"
        labels.append(f"{group}\n(n={n or 0})")
    ax.set_xticks(list(range(len(groups))), labels)
    ax.tick_params(axis="x", labelsize="small", labelrotation=20 if len(groups) > 4 else 0)
    if reference is not None:
        ax.axhline(reference, color="black", linestyle="--", lw=1)
    ax.set_ylim(0, 1.22 if len(series) > 1 else 1.05)
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_ylabel(y_label)
    ax.set_title(panel)
    if len(series) > 1:
        ax.legend(fontsize="x-small", loc="upper center", ncols=min(len(series), 7))
    ax.grid(axis="y", alpha=0.3)


Curves = dict[str, list[tuple[float, float]]]


def draw_curves(
    panels: dict[str, Curves],
    path: Path,
    *,
    x_label: str,
    title: str,
    log_x: bool = False,
    bands: dict[str, dict[str, list[tuple[float, float, float]]]] | None = None,
) -> Path:
    """One panel per title: a line per system of ``(x, score)`` points, scores in [0, 1].

    A system keeps its colour, marker and line style in every panel; styles differ so that
    lines lying on top of each other stay visible. ``bands[panel][system]`` holds
    ``(x, low, high)`` intervals, drawn as a shaded band around the line.
    """
    Figure = _figure()

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
            band = sorted((bands or {}).get(panel, {}).get(name, []))
            if band:
                bx, low, high = zip(*band, strict=True)
                ax.fill_between(bx, low, high, color=style[name]["color"], alpha=0.12, lw=0)
        if log_x:
            ax.set_xscale("symlog", base=2, linthresh=1)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel(x_label)
        ax.set_title(panel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(title, fontsize="medium")
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path
