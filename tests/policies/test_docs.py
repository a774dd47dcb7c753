from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_docs_example_runs() -> None:
    text = (ROOT / "docs" / "policies.md").read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert blocks
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "docs/policies.md", "exec"), namespace)  # noqa: S102
    memory = namespace["memory"]
    assert [i.text for i in memory.items(user_id="alice")] == ["Alice lives in Lisbon"]  # type: ignore[attr-defined]


def test_example_script_runs(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(ROOT / "examples" / "forgetting_policies.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "after undo: ['Nice weather today', 'Alice moved to Porto']" in out
    assert "| capacity-30 |" in out


def test_docs_consolidation_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "docs" / "policies.md").read_text("utf-8")
    block = re.findall(r"```python\n(.*?)```", text, re.DOTALL)[1]
    exec(compile(block, "docs/policies.md", "exec"), {})  # noqa: S102
    assert "consolidation: near-duplicates" in capsys.readouterr().out


def test_docs_not_kept_example_prints_what_it_says(capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "docs" / "policies.md").read_text("utf-8")
    block, printed = re.search(
        r"```python\n([^`]*NotKeptError[^`]*)```\s*```text\n([^`]*)```", text
    ).groups()  # type: ignore[union-attr]
    exec(compile(block, "docs/policies.md", "exec"), {})  # noqa: S102
    assert capsys.readouterr().out == printed
