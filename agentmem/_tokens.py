"""Token estimates for models that do not report usage."""

from __future__ import annotations

import re

__all__ = ["estimate_tokens"]

_PIECES = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def estimate_tokens(text: str) -> int:
    """Roughly count tokens: words and punctuation marks, long words counting more."""
    return sum(1 + len(piece) // 8 for piece in _PIECES.findall(text))
