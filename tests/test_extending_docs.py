"""docs/extending.md: its example policy runs and passes the shipped policy contract."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agentmem import ManualClock, Memory, RetentionPolicy
from agentmem.testing import HashEmbedder
from agentmem.testing.policies import RetentionPolicyContract

DOC = (Path(__file__).resolve().parent.parent / "docs" / "extending.md").read_text()
_BLOCK = next(
    b for b in re.findall(r"```python\n(.*?)```", DOC, re.S) if "class ForgetChatter" in b
)
_NS: dict[str, Any] = {}
exec(compile(_BLOCK, "docs/extending.md", "exec"), _NS)  # noqa: S102 - the docs' own code


class TestForgetChatterFromTheDocs(RetentionPolicyContract):
    @pytest.fixture
    def policy(self) -> RetentionPolicy:
        return _NS["ForgetChatter"]()  # type: ignore[no-any-return]


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
