from __future__ import annotations

import runpy
from pathlib import Path

from agentmem import Memory
from agentmem.testing import HashEmbedder

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "langgraph_langmem.py"


def test_example_stores_and_recalls_through_agentmem(tmp_path, capsys) -> None:
    example = runpy.run_path(str(EXAMPLE))
    with Memory.default(tmp_path / "m", embedder=HashEmbedder()) as memory:
        answers = example["main"](memory=memory)
        assert answers == ["Got it, no peanuts.", "You are allergic to peanuts."]
        (item,) = memory.items(user_id="alice")
        assert item.text == "Alice is allergic to peanuts"
        assert item.metadata["langgraph_namespace"] == "memories.alice"
    out = capsys.readouterr().out
    assert "['Alice is allergic to peanuts']" in out
    assert "'add'" in out and "'access'" in out


def test_docs_block_runs(tmp_path, monkeypatch) -> None:
    import re

    doc = Path(__file__).resolve().parents[2] / "docs" / "langgraph.md"
    (block,) = re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)[:1]
    example = runpy.run_path(str(EXAMPLE))
    memory = Memory.default(tmp_path / "m", embedder=HashEmbedder())
    monkeypatch.setattr(Memory, "default", staticmethod(lambda path: memory))
    model = example["ScriptedToolModel"](replies=list(example["SCRIPT"]))
    scope: dict = {"chat_model": model}
    exec(block, scope)  # noqa: S102 - the doc's own code
    try:
        assert [h.item.text for h in memory.search("peanuts", user_id="alice")] == [
            "Alice is allergic to peanuts"
        ]
        assert not model.replies
    finally:
        memory.close()
