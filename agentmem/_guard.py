"""A switch that forbids loading real models (flipped off by test suites)."""

from __future__ import annotations

import os

from agentmem._errors import ModelLoadBlockedError

__all__ = ["check_model_load", "set_model_loads_allowed"]

_allowed = os.environ.get("AGENTMEM_ALLOW_MODEL_LOADS", "1") != "0"


def set_model_loads_allowed(allowed: bool) -> bool:
    """Allow or forbid loading real models; return the previous setting."""
    global _allowed
    previous, _allowed = _allowed, allowed
    return previous


def check_model_load(what: str) -> None:
    """Raise ModelLoadBlockedError if real model loads are forbidden."""
    if not _allowed:
        msg = (
            f"loading {what} is forbidden here: this test did not ask for real models. "
            "Use agentmem.testing.ScriptedLLM / HashEmbedder, or mark the test "
            "@pytest.mark.real_models"
        )
        raise ModelLoadBlockedError(msg)
