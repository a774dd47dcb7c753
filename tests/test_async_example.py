from __future__ import annotations

import runpy
from pathlib import Path

from agentmem import Memory
from agentmem.testing import HashEmbedder

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "async_agents.py"


def test_async_example_serves_everyone_without_stalling(capsys) -> None:
    example = runpy.run_path(str(EXAMPLE))
    with Memory.in_memory(embedder=HashEmbedder()) as memory:
        worst = example["main"](memory=memory)
        assert memory.count() == 12
        assert all(memory.count(user_id=f"user{i}") == 1 for i in range(12))
    assert worst < 0.3
    out = capsys.readouterr().out
    assert "12 turns in" in out and "memories stored: 12" in out
