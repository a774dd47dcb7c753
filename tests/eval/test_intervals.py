"""Bootstrap intervals: coverage on simulated data, determinism, and their place in reports."""

from __future__ import annotations

import math
import random

import pytest

from agentmem.eval.intervals import Rate, bootstrap_interval


def test_intervals_cover_a_known_rate_at_about_the_nominal_level() -> None:
    # 400 simulated studies of n=120 yes/no outcomes with a true rate of 0.3: a 95% interval
    # should hold 0.3 in about 95% of them (the percentile bootstrap runs a little low at
    # small n; the binomial noise of 400 trials is +-0.011)
    rng = random.Random(7)
    true, n, trials = 0.3, 120, 400
    covered = 0
    for trial in range(trials):
        values = [float(rng.random() < true) for _ in range(n)]
        low, high = bootstrap_interval(values, seed=trial, resamples=1000)
        covered += low <= true <= high
    assert 0.91 <= covered / trials <= 0.98


def test_intervals_cover_a_known_mean_of_a_skewed_score() -> None:
    # token-F1-like scores: mostly 0, some partial, some 1; true mean known by construction
    rng = random.Random(3)
    pool = [0.0] * 50 + [0.4] * 20 + [1.0] * 30
    true = sum(pool) / len(pool)
    covered = sum(
        (lambda v: v[0] <= true <= v[1])(
            bootstrap_interval([rng.choice(pool) for _ in range(150)], seed=t, resamples=1000)
        )
        for t in range(300)
    )
    assert 0.90 <= covered / 300 <= 0.985


def test_intervals_are_seeded_and_narrow_with_more_data() -> None:
    values = [float(i % 3 == 0) for i in range(90)]
    assert bootstrap_interval(values, seed="a") == bootstrap_interval(values, seed="a")
    assert bootstrap_interval(values, seed="a") != bootstrap_interval(values, seed="b")
    small = Rate.of(values[:30], seed=1)
    large = Rate.of(values * 10, seed=1)
    assert small.n == 30 and large.n == 900
    assert (large.high - large.low) < (small.high - small.low) / 2
    assert large.low <= large.value <= large.high


def test_rate_edge_cases() -> None:
    empty = Rate.of([])
    assert empty.n == 0 and math.isnan(empty.value) and empty.cell() == "-"
    constant = Rate.of([1.0] * 10)
    assert (constant.value, constant.low, constant.high) == (1.0, 1.0, 1.0)
    assert constant.excludes(0.5) and not constant.excludes(1.0)
    assert Rate.of([0.0, 1.0], seed=0).cell().startswith("0.500 [")
    with pytest.raises(ValueError, match="level"):
        bootstrap_interval([1.0], level=1.5)


def test_sign_test_by_hand() -> None:
    from agentmem.eval.intervals import sign_test

    assert sign_test(2, 2) == 0.5  # two of two: 2 * 1/4
    assert sign_test(20, 20) == pytest.approx(2 / 2**20)
    assert sign_test(5, 10) == 1.0 and sign_test(0, 0) == 1.0
    assert sign_test(1, 10) == pytest.approx(2 * 11 / 1024)


def test_paired_difference_by_hand() -> None:
    from agentmem.eval.report import QuestionResult, Report

    def row(q: str, value: float, category: str = "single-hop") -> QuestionResult:
        return QuestionResult(
            conversation="c",
            question=q,
            category=category,
            recall={"recall@10": value},
            prompt_tokens=1,
            full_context_tokens=1,
        )

    a = [row(f"q{i}", 1.0) for i in range(30)] + [row("adv", 0.0, "adversarial")]
    b = [row(f"q{i}", float(i % 2)) for i in range(30)] + [row("adv", 1.0, "adversarial")]
    report = Report.build(
        results={"a": a, "b": b}, dataset="d", systems=["a", "b"], k=10, ks=[10], seed=0
    )
    diff = report.paired_difference("a", "b")
    assert diff.n == 30 and diff.value == 0.5  # the adversarial question is left out
    assert 0.3 < diff.low < 0.5 < diff.high <= 0.7
    assert report.paired_difference("a", "b", category="all").n == 31
    assert report.paired_difference("a", "b", category="adversarial").value == -1.0
    same = report.paired_difference("a", "a")
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0)
