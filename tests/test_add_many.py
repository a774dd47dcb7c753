"""Memory.add_many: one batched embedding per batch, an add event per item, policies applied."""

from __future__ import annotations

import contextlib
import io
import re
import runpy
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from agentmem import EventOp, InvalidInputError, Kind, ManualClock, Memory
from agentmem.policies import CapacityPolicy
from agentmem.stores import HybridStore
from agentmem.testing import HashEmbedder
from tests.helpers import T0


class CountingEmbedder(HashEmbedder):
    """A HashEmbedder that counts its calls and the texts it was given."""

    def __init__(self) -> None:
        super().__init__(64)
        self.calls: list[int] = []

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls.append(len(texts))
        return super().embed(texts)


def _memory(embedder: CountingEmbedder, **kwargs: object) -> Memory:
    clock = ManualClock(T0)
    store = HybridStore(None, embedder, clock=clock)
    return Memory([store], embedder=embedder, clock=clock, **kwargs)  # type: ignore[arg-type]


def test_add_many_embeds_once_and_logs_every_item() -> None:
    embedder = CountingEmbedder()
    memory = _memory(embedder)
    day = T0 - timedelta(days=2)
    items = memory.add_many(
        [
            "Alice moved to Lisbon",
            {"text": "Bob adopted a cat", "metadata": {"speaker": "Bob"}, "kind": "fact"},
            {"text": "Alice visited Porto", "session_id": "s2", "source_ids": ["t9"]},
        ],
        user_id="alice",
        session_id="s1",
        created_at=day,
    )
    # one batched call for the whole batch: three texts, and Bob's name (for his turn's
    # in-context vector)
    assert embedder.calls == [4]
    assert [i.text for i in items] == [
        "Alice moved to Lisbon",
        "Bob adopted a cat",
        "Alice visited Porto",
    ]
    assert [i.scope.session_id for i in items] == ["s1", "s1", "s2"]
    assert items[1].kind is Kind.FACT and items[1].metadata == {"speaker": "Bob"}
    assert items[2].source_ids == ["t9"] and all(i.created_at == day for i in items)
    for item in items:
        assert [e.op for e in memory.history(item.id)] == [EventOp.ADD]
        assert memory.get(item.id).text == item.text
    assert memory.count(user_id="alice") == 3
    memory.close()


def test_add_many_writes_in_batches_and_applies_policies() -> None:
    embedder = CountingEmbedder()
    memory = _memory(embedder, policies=[CapacityPolicy(max_items=4)])
    memory.add_many([f"note number {i}" for i in range(10)], user_id="u", batch=4)
    assert embedder.calls == [4, 4, 2]
    assert memory.count(user_id="u") <= 4  # the policy ran on the batches
    forgets = [e for e in memory.events(user_id="u") if e.op is EventOp.FORGET]
    assert forgets and all(e.policy for e in forgets)
    memory.close()


@pytest.mark.parametrize(
    "records",
    [
        [{"txt": "typo"}],
        [{"text": "ok", "colour": "red"}],
        [42],
        "a single string",
    ],
)
def test_add_many_refuses_bad_records_and_writes_nothing(records: object) -> None:
    embedder = CountingEmbedder()
    memory = _memory(embedder)
    with pytest.raises(InvalidInputError):
        memory.add_many(records, user_id="u")  # type: ignore[arg-type]
    assert memory.count() == 0
    memory.close()


def test_bulk_loaded_memories_have_add_events_with_the_skip_reason(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    clock = ManualClock(T0)
    memory = Memory(
        [HybridStore(tmp_path, embedder, clock=clock)],
        policies=[CapacityPolicy(max_items=3)],
        clock=clock,
    )
    records = ({"text": f"row {i}", "created_at": T0 + timedelta(minutes=i)} for i in range(250))
    items = memory.add_many(
        records, user_id="u", batch=100, skip_policies="import of a curated export"
    )
    assert embedder.calls == [100, 100, 50] and memory.count(user_id="u") == 250
    events = memory.events(user_id="u")
    assert [e.op for e in events] == [EventOp.ADD] * 250  # one per memory, no forget
    assert [e.item_ids for e in events] == [[item.id] for item in items]
    assert all(e.reason.endswith("policies skipped: import of a curated export") for e in events)
    assert memory.history(items[7].id)[0].after == {
        "text": "row 7",
        "kind": "message",
        "metadata": {},
    }
    assert len(memory.tick().forgotten) == 247  # the policy still applies on the next tick
    memory.close()


@pytest.mark.parametrize("reason", ["", "   ", 3])
def test_skipping_the_policies_needs_a_reason(reason: object) -> None:
    memory = _memory(CountingEmbedder())
    with pytest.raises(InvalidInputError, match="skip_policies"):
        memory.add_many(["x"], user_id="u", skip_policies=reason)  # type: ignore[arg-type]
    assert memory.count() == 0
    memory.close()


def test_the_bulk_loading_docs_run_and_print_what_they_say() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "hybrid.md").read_text()
    code, printed = re.search(
        r"```python\n([^`]*skip_policies=[^`]*)```\s*```text\n([^`]*)```", doc
    ).groups()  # type: ignore[union-attr]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/hybrid.md", "exec"), {})  # noqa: S102 - the docs' own code
    assert out.getvalue() == printed


def test_the_bulk_import_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "bulk_import.py"
    runpy.run_path(str(example), run_name="__main__")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "loaded 5 memories"
    assert out[1].endswith("retention policies skipped: curated export from the old assistant")
    assert out[2].startswith("not kept: Alice said hi | capacity:")
    assert out[3] == (
        "left: ['Alice is allergic to peanuts', \"Alice's sister is called Ines\", "
        "'Alice works night shifts on Tuesdays']"
    )
