"""The model-load guard holds even after a real model was loaded and cached."""

from __future__ import annotations

import pytest

from agentmem import ChatMessage, ModelLoadBlockedError
from agentmem.embedders import SentenceTransformerEmbedder
from agentmem.llms import LocalLLM
from agentmem.testing import set_model_loads_allowed


def test_guard_applies_to_cached_models(monkeypatch: pytest.MonkeyPatch) -> None:
    from agentmem.embedders import _sentence
    from agentmem.llms import _local

    # Pretend both models were loaded (and cached) by an earlier, allowed test.
    monkeypatch.setattr(_local, "_load", lambda path, backend: object())
    monkeypatch.setattr(_sentence, "_load", lambda model, device: object())
    monkeypatch.setenv("AGENTMEM_LOCAL_GGUF", __file__)
    set_model_loads_allowed(False)
    with pytest.raises(ModelLoadBlockedError):
        LocalLLM().chat([ChatMessage(role="user", content="hi")])
    with pytest.raises(ModelLoadBlockedError):
        _ = SentenceTransformerEmbedder().model
