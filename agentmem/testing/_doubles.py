"""Test doubles that ship with agentmem: scripted chat models and a deterministic embedder.

Import them from :mod:`agentmem.testing`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from agentmem._errors import InvalidInputError, ModelError
from agentmem._guard import set_model_loads_allowed
from agentmem._protocols import ChatMessage, ChatResult
from agentmem._tokens import estimate_tokens

__all__ = ["FunctionLLM", "HashEmbedder", "ScriptedLLM", "set_model_loads_allowed"]

_WORD = re.compile(r"\w+", re.UNICODE)


class ScriptedLLM:
    """A chat model whose replies the test writes, in order.

    Args:
        replies: the replies to give, one per call.
        default: what to answer once the script is used up; ``None`` raises ModelError.

    Every call's messages are kept in ``calls`` for assertions.
    """

    def __init__(self, replies: Iterable[str], *, default: str | None = None) -> None:
        self._replies = list(replies)
        self._default = default
        self.calls: list[list[ChatMessage]] = []

    def chat(self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None) -> ChatResult:
        """Return the next scripted reply."""
        self.calls.append(list(messages))
        if self._replies:
            text = self._replies.pop(0)
        elif self._default is not None:
            text = self._default
        else:
            msg = f"ScriptedLLM ran out of replies after {len(self.calls) - 1} calls"
            raise ModelError(msg)
        return _result(messages, text, "scripted")

    @property
    def remaining(self) -> int:
        """How many scripted replies are left."""
        return len(self._replies)


class FunctionLLM:
    """A chat model that answers by calling ``fn(messages) -> str``."""

    def __init__(self, fn: Callable[[Sequence[ChatMessage]], str]) -> None:
        self._fn = fn
        self.calls: list[list[ChatMessage]] = []

    def chat(self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None) -> ChatResult:
        """Return whatever the function answers."""
        self.calls.append(list(messages))
        return _result(messages, self._fn(messages), "function")


def _result(messages: Sequence[ChatMessage], text: str, model: str) -> ChatResult:
    prompt = sum(estimate_tokens(m.content) for m in messages)
    return ChatResult(
        text=text, prompt_tokens=prompt, completion_tokens=estimate_tokens(text), model=model
    )


class HashEmbedder:
    """A deterministic embedder: words hashed (with a seed) into signed buckets, normalised.

    Texts sharing words get similar vectors, so search behaves plausibly, with no model.
    """

    def __init__(self, dim: int = 64, *, seed: int = 0) -> None:
        if dim < 2:
            msg = f"dim must be at least 2, got {dim}"
            raise InvalidInputError(msg)
        self._dim = dim
        self._seed = seed

    @property
    def dim(self) -> int:
        """The vector dimension."""
        return self._dim

    @property
    def name(self) -> str:
        """Identifies the embedder and its settings."""
        return f"hash-{self._dim}-{self._seed}"

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed each text as a normalised bag of hashed words."""
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower()) or [text]
            for word in words:
                digest = hashlib.blake2b(
                    word.encode("utf-8", "surrogatepass"),
                    digest_size=8,
                    salt=self._seed.to_bytes(8, "little"),
                ).digest()
                value = int.from_bytes(digest, "little")
                out[row, value % self._dim] += 1.0 if (value >> 40) & 1 else -1.0
            norm = float(np.linalg.norm(out[row]))
            if norm == 0.0:
                out[row, 0] = 1.0
            else:
                out[row] /= norm
        return out
