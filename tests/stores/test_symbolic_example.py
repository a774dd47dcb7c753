from __future__ import annotations

import runpy
from pathlib import Path

import pytest


def test_symbolic_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(Path(__file__).parents[2] / "examples" / "symbolic_shop.py"))
    out = capsys.readouterr().out
    assert "apple on May 5: {'price': 2.0}" in out
    assert "[step 2] SELECT sum(kg)" in out and "[6.0]" in out
    assert "refused:" in out
