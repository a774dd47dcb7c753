"""The bundled embedder's CPU policy: small calls on one torch thread in float32, larger ones on
the cores other processes leave free, in bfloat16 where the CPU has it; torch's setting restored."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from agentmem import UserError
from agentmem.embedders import SentenceTransformerEmbedder, _sentence

pytestmark = pytest.mark.real_models


def _threads_seen(embedder: SentenceTransformerEmbedder, texts: list[str]) -> list[int]:
    import torch

    model = embedder.model
    seen: list[int] = []
    encode = model.encode

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append(torch.get_num_threads())
        return encode(*args, **kwargs)

    model.encode = recording
    try:
        embedder.embed(texts)
    finally:
        del model.encode  # back to the class's method
    return seen


def test_small_calls_use_one_thread_and_restore_the_setting() -> None:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        embedder = SentenceTransformerEmbedder(batch_threads=None, precision="float32")
        assert _threads_seen(embedder, ["where does my sister live?"]) == [1]
        assert torch.get_num_threads() == 2
        assert _threads_seen(embedder, [f"turn {i}" for i in range(20)]) == [2]
        off = SentenceTransformerEmbedder(small_batch_threads=None)
        assert _threads_seen(off, ["one query"]) == [2]
        one = embedder.embed(["the same text"])
        many = embedder.embed(["the same text"] * 20)
        assert np.allclose(one[0], many[0], atol=1e-5)
        fixed = SentenceTransformerEmbedder(batch_threads=1)
        assert _threads_seen(fixed, [f"turn {i}" for i in range(20)]) == [1]
    finally:
        torch.set_num_threads(before)


def test_batches_use_the_cores_other_processes_leave_free(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        embedder = SentenceTransformerEmbedder()
        batch = [f"turn {i}" for i in range(20)]
        monkeypatch.setattr(_sentence, "spare_cores", lambda: 1.4)  # a busy neighbour on 2
        assert _threads_seen(embedder, batch) == [1]
        monkeypatch.setattr(_sentence, "spare_cores", lambda: -3.0)  # overloaded
        assert _threads_seen(embedder, batch) == [1]
        monkeypatch.setattr(_sentence, "spare_cores", lambda: 7.9)  # idle: torch's setting
        assert _threads_seen(embedder, batch) == [2]
        assert embedder.threads_for(1) == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_spare_cores_reads_the_load() -> None:
    spare = _sentence.spare_cores()
    assert spare <= (os.cpu_count() or 1)


def test_bfloat16_batches_agree_with_float32() -> None:
    texts = [f"On day {i} Dara told Sam about the trip to Porto and the new job" for i in range(30)]
    texts += ["hi", "What did Sam paint last summer, and where did the painting end up?"]
    exact = SentenceTransformerEmbedder(precision="float32").embed(texts)
    fast = SentenceTransformerEmbedder(precision="bfloat16")
    assert fast.batch_precision == "bfloat16"
    vectors = fast.embed(texts)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = (vectors * exact).sum(axis=1)
    assert cosines.min() > 0.9995
    assert not np.array_equal(vectors, exact)  # it did run in bfloat16
    query = fast.embed([texts[-1]])  # a small call: float32, as the exact embedder
    assert np.allclose(query[0], exact[-1], atol=1e-5)


def test_auto_precision_follows_the_cpu() -> None:
    auto = SentenceTransformerEmbedder()
    expected = "bfloat16" if _sentence.native_bfloat16() else "float32"
    assert auto.batch_precision == expected
    assert SentenceTransformerEmbedder(device="cuda").batch_precision == "float32"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"small_batch_threads": 0},
        {"batch_threads": 0},
        {"batch_threads": "many"},
        {"batch_threads": True},
        {"precision": "float16"},
        {"batch_size": 0},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(UserError):
        SentenceTransformerEmbedder(**kwargs)
