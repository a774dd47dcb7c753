"""docs/extending.md: every code block runs, and its components pass the shipped suites.

The blocks are executed here and their ``Test*`` classes collected as this module's, so
pytest runs the shipped contract suites against the page's own store test, policy,
embedder and chat model.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agentmem import ManualClock, Memory
from agentmem.testing import HashEmbedder
from agentmem.testing.stores import MemoryStoreContract

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "extending.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", DOC, re.S)
_NS: dict[str, Any] = {}
for _number, _block in enumerate(BLOCKS):
    if "from tinystore import" in _block:
        continue  # the example's own test file: compared below, run by test_shipped_contracts
    exec(compile(_block, f"docs/extending.md block {_number}", "exec"), _NS)  # noqa: S102

TestForgetChatter = _NS["TestForgetChatter"]
TestTrigramEmbedder = _NS["TestTrigramEmbedder"]
TestParrot = _NS["TestParrot"]


def test_the_store_test_on_the_page_is_the_example_s_own() -> None:
    shown = next(b for b in BLOCKS if "from tinystore import" in b)
    example = (ROOT / "examples" / "custom_store" / "test_tinystore.py").read_text()
    assert shown.strip() in example
    suite = [name for name in dir(MemoryStoreContract) if name.startswith("test_")]
    assert f"python -m pytest -q   # {len(suite)} passed" in DOC


def test_every_optional_capability_is_in_the_table() -> None:
    import agentmem._capabilities as capabilities

    for name in capabilities.__all__:
        assert f"| `{name}` |" in DOC, name


def test_it_forgets_short_messages_a_day_old() -> None:
    clock = ManualClock(datetime(2024, 1, 1, tzinfo=UTC))
    memory = Memory.in_memory(
        embedder=HashEmbedder(32), clock=clock, policies=[_NS["ForgetChatter"]()]
    )
    memory.add("ok", user_id="u")
    memory.add("a long message that stays, whatever its age", user_id="u")
    clock.advance(timedelta(days=2))
    memory.tick()
    assert [i.text for i in memory.items(user_id="u")] == [
        "a long message that stays, whatever its age"
    ]
    memory.close()


def test_the_toy_embedder_finds_the_nearest_text() -> None:
    embedder = _NS["TrigramEmbedder"]()
    rows = embedder.embed(["Alice moved to Lisbon", "Bob likes jazz", "Alice lives in Lisbon"])
    assert float(rows[0] @ rows[2]) > float(rows[0] @ rows[1])
