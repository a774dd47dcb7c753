"""PI-LLM update streams: 46 keys x 400 updates, the current and every past value right."""

from __future__ import annotations

import json
import os
import random
from datetime import timedelta
from pathlib import Path

import pytest

from agentmem import Kind, ManualClock
from agentmem.policies import UpdatePolicy

from .conftest import START, MakeMemory

# CI keeps shared/ beside the clone; AGENTMEM_SHARED_DATA points elsewhere (e.g. a worktree).
DATA = (
    Path(
        os.environ.get(
            "AGENTMEM_SHARED_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
        )
    )
    / "pi_llm"
)
FILES = sorted(DATA.glob("*.json")) if DATA.is_dir() else []


@pytest.mark.skipif(not FILES, reason=f"PI-LLM data not found at {DATA} (../shared/data)")
def test_pi_llm_update_stream(make_memory: MakeMemory, clock: ManualClock) -> None:
    vocab: dict[str, list[str]] = json.loads(FILES[0].read_text("utf-8"))
    keys = sorted(vocab)
    assert len(keys) == 46 and all(len(vocab[k]) == 400 for k in keys)
    memory = make_memory([UpdatePolicy()])

    def when(update: int, key_index: int) -> object:
        return START + timedelta(minutes=update * len(keys) + key_index)

    for first in range(0, 400, 50):  # eight batches of 50 updates per key
        batch = [
            memory.make_item(
                f"{key}: {vocab[key][n]}",
                user_id="pi",
                kind=Kind.FACT,
                created_at=when(n, k),  # type: ignore[arg-type]
                metadata={"subject": "tracker", "attribute": key, "value": vocab[key][n]},
            )
            for n in range(first, first + 50)
            for k, key in enumerate(keys)
        ]
        clock.set(when(first + 49, len(keys)))  # type: ignore[arg-type]
        memory.write(batch)

    def answer(key: str, as_of: object = None) -> str:
        hits = memory.search(
            key,
            user_id="pi",
            k=1,
            filters={"kinds": ["fact"], "metadata": {"subject": "tracker", "attribute": key}},
            as_of=as_of,  # type: ignore[arg-type]
            record_access=False,
        )
        return str(hits[0].item.metadata["value"]) if hits else ""

    assert len(memory.items(user_id="pi")) == len(keys)
    assert {key: answer(key) for key in keys} == {key: vocab[key][-1] for key in keys}
    rng = random.Random(5)
    for _ in range(120):
        n, k = rng.randrange(400), rng.randrange(len(keys))
        moment = when(n, k) + timedelta(seconds=30)  # type: ignore[operator]
        assert answer(keys[k], moment) == vocab[keys[k]][n], (keys[k], n)
