"""Any LangChain ``Embeddings`` as an agentmem embedder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from agentmem._errors import ModelError

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

__all__ = ["LangChainEmbedder"]


class LangChainEmbedder:
    """Wraps a LangChain ``Embeddings``; vectors are L2-normalised for cosine search.

    Args:
        embeddings: the LangChain embeddings object.
        name: a name for the model (stored with the index to detect a changed model).
        dim: the vector dimension; measured with one call if not given.
    """

    def __init__(
        self, embeddings: Embeddings, *, name: str | None = None, dim: int | None = None
    ) -> None:
        self._embeddings = embeddings
        self._name = name or type(embeddings).__name__
        self._dim = dim

    @property
    def name(self) -> str:
        """The model's name."""
        return self._name

    @property
    def dim(self) -> int:
        """The vector dimension."""
        if self._dim is None:
            self._dim = len(self._embeddings.embed_query("dimension probe"))
        return self._dim

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed ``texts`` through LangChain and normalise them."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        try:
            raw = self._embeddings.embed_documents(list(texts))
        except Exception as exc:  # the wrapped library's errors are not ours to know
            msg = f"the LangChain embeddings {self._name} failed: {exc}"
            raise ModelError(msg) from exc
        vectors = np.asarray(raw, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return np.asarray(vectors / norms, dtype=np.float32)
