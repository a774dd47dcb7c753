"""The bundled embedder runs small calls on one torch thread, and restores torch's setting."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agentmem import UserError
from agentmem.embedders import SentenceTransformerEmbedder

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
        embedder = SentenceTransformerEmbedder()
        assert _threads_seen(embedder, ["where does my sister live?"]) == [1]
        assert torch.get_num_threads() == 2
        assert _threads_seen(embedder, [f"turn {i}" for i in range(20)]) == [2]
        off = SentenceTransformerEmbedder(small_batch_threads=None)
        assert _threads_seen(off, ["one query"]) == [2]
        one = embedder.embed(["the same text"])
        many = embedder.embed(["the same text"] * 20)
        assert np.allclose(one[0], many[0], atol=1e-5)
    finally:
        torch.set_num_threads(before)


def test_bad_thread_count_is_refused() -> None:
    with pytest.raises(UserError):
        SentenceTransformerEmbedder(small_batch_threads=0)
