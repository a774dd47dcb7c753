"""The Embedder contract: what every embedder passed to agentmem must do.

Subclass :class:`EmbedderContract` and define the ``embedder`` fixture::

    import pytest
    from agentmem.testing.embedders import EmbedderContract

    class TestMyEmbedder(EmbedderContract):
        @pytest.fixture
        def embedder(self):
            return MyEmbedder()

Needs pytest (``agentmem[testing]``).
"""

from __future__ import annotations

import numpy as np
import pytest

from agentmem._protocols import Embedder

__all__ = ["EmbedderContract"]

TEXTS = ["Alice moved to Lisbon", "Bob likes jazz", "", "naïve café ☕", "x" * 2000]


class EmbedderContract:
    """Behaviour every :class:`~agentmem.Embedder` must have."""

    @pytest.fixture
    def embedder(self) -> Embedder:
        """Override: return the embedder under test."""
        raise NotImplementedError("define an embedder fixture")

    def test_it_is_an_embedder(self, embedder: Embedder) -> None:
        assert isinstance(embedder, Embedder)
        assert isinstance(embedder.name, str) and embedder.name
        assert isinstance(embedder.dim, int) and embedder.dim > 0

    def test_one_normalised_row_per_text(self, embedder: Embedder) -> None:
        vectors = np.asarray(embedder.embed(TEXTS), dtype=np.float32)
        assert vectors.shape == (len(TEXTS), embedder.dim)
        assert np.isfinite(vectors).all()
        norms = np.linalg.norm(vectors[[0, 1, 3, 4]], axis=1)
        assert np.allclose(norms, 1.0, atol=1e-3)

    def test_no_texts_give_no_rows(self, embedder: Embedder) -> None:
        assert np.asarray(embedder.embed([])).reshape(-1, embedder.dim).shape[0] == 0

    def test_the_same_text_gives_the_same_vector_alone_or_in_a_batch(
        self, embedder: Embedder
    ) -> None:
        alone = np.asarray(embedder.embed([TEXTS[0]]), dtype=np.float32)[0]
        batch = np.asarray(embedder.embed(TEXTS), dtype=np.float32)[0]
        assert np.allclose(alone, batch, atol=1e-4)

    def test_different_texts_differ(self, embedder: Embedder) -> None:
        vectors = np.asarray(embedder.embed(TEXTS[:2]), dtype=np.float32)
        assert not np.allclose(vectors[0], vectors[1])
