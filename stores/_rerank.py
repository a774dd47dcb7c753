"""Optional reranking of search candidates with a cross-encoder.

No cross-encoder ships in a PyPI package, so reranking is off unless a model path (or
any object with a ``score`` method) is given.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from agentmem._errors import MissingDependencyError, ModelError
from agentmem._guard import check_model_load

__all__ = ["CrossEncoderReranker", "Reranker"]

logger = logging.getLogger(__name__)


@runtime_checkable
class Reranker(Protocol):
    """Scores how well each text answers the query (higher is better)."""

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """One score per text."""
        ...


@functools.lru_cache(maxsize=2)
def _load(model: str) -> Any:
    check_model_load(f"the cross-encoder {model!r}")
    try:
        from sentence_transformers import CrossEncoder
    except ImportError as exc:  # pragma: no cover - a declared dependency
        msg = 'reranking needs sentence-transformers: pip install "sentence-transformers"'
        raise MissingDependencyError(msg) from exc
    logger.info("loading cross-encoder %s", model)
    try:
        return CrossEncoder(model, device="cpu")
    except OSError as exc:
        msg = f"cannot load the cross-encoder {model!r}: {exc}"
        raise ModelError(msg) from exc


class CrossEncoderReranker:
    """A sentence-transformers ``CrossEncoder`` loaded from ``model`` (a folder or name).

    The model loads on first use.
    """

    def __init__(self, model: str) -> None:
        self.model = model

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """Score ``(query, text)`` pairs with the cross-encoder."""
        if not texts:
            return []
        scores = _load(self.model).predict([(query, text) for text in texts])
        return [float(s) for s in scores]
