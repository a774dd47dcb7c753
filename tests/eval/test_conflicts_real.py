"""ConflictQA with the offline local model: structure only (a 135M model's choices vary)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from agentmem.eval import ConflictEvaluator, load_conflictqa

pytestmark = pytest.mark.real_models

FIXTURES = Path(__file__).parent / "fixtures"


def test_conflictqa_runs_on_the_local_model() -> None:
    from agentmem.llms import LocalLLM

    items = load_conflictqa(FIXTURES / "conflictqa_mini.json", limit=3, seed=0)
    assert len(items) == 3
    report = ConflictEvaluator(LocalLLM(), max_tokens=4, progress=False).conflictqa(items)
    print(report.to_markdown())
    assert set(report.summary) == {"memory", "no-memory"}
    assert len(report.results) == 12 and all(r.prediction for r in report.results)
    for s in report.summary.values():
        assert s.items == 3
        assert math.isclose(
            s.counter_rate + s.prior_rate + s.inconsistent_rate + s.other_rate, 1.0, abs_tol=1e-3
        )
        assert s.memorization_ratio is None or 0.0 <= s.memorization_ratio <= 1.0
        if s.counter_rate + s.prior_rate == 0:
            assert s.memorization_ratio is None
