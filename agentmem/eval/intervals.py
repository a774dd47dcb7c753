"""Seeded bootstrap intervals for the rates and means the evaluators report.

Every rate in a report is a mean over items (questions, conflict items, probes). The
percentile bootstrap resamples those items with replacement ``resamples`` times and takes
the 2.5th and 97.5th percentiles of the resampled means: a 95% interval that needs no
assumption about the distribution, and repeats to the digit for the same seed.

::

    rate = Rate.of([1, 0, 1, 1], seed="vector/recall@10")
    rate.value, rate.low, rate.high, rate.n
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

from pydantic import BaseModel

__all__ = ["Rate", "bootstrap_interval", "sign_test"]

RESAMPLES = 2000
LEVEL = 0.95


def _seed(seed: int | str) -> int:
    return seed if isinstance(seed, int) else zlib.crc32(seed.encode("utf-8"))


def bootstrap_interval(
    values: Sequence[float],
    *,
    seed: int | str = 0,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
) -> tuple[float, float]:
    """The percentile-bootstrap ``level`` interval of the mean of ``values``.

    ``seed`` (an int or any string, e.g. the system and measure) fixes the resamples;
    an empty ``values`` gives ``(nan, nan)``.
    """
    import numpy as np

    if not 0 < level < 1 or resamples <= 0:
        msg = f"level must lie in (0, 1) and resamples be positive, got {level}, {resamples}"
        raise ValueError(msg)
    if not values:
        return (math.nan, math.nan)
    data = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(_seed(seed))
    means = np.empty(resamples, dtype=np.float64)
    chunk = max(1, 2_000_000 // len(data))  # bound the index matrix to ~16 MB
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        picks = rng.integers(0, len(data), size=(stop - start, len(data)))
        means[start:stop] = data[picks].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return (float(low), float(high))


class Rate(BaseModel):
    """A mean over ``n`` items with its seeded bootstrap 95% interval ``[low, high]``."""

    value: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float], *, seed: int | str = 0) -> Rate:
        """The mean of ``values`` and its interval; ``nan`` everywhere for no values."""
        if not values:
            return cls(value=math.nan, low=math.nan, high=math.nan, n=0)
        low, high = bootstrap_interval(values, seed=seed)
        value = math.fsum(values) / len(values)
        return cls(value=round(value, 4), low=round(low, 4), high=round(high, 4), n=len(values))

    def excludes(self, value: float) -> bool:
        """Whether ``value`` lies outside the interval (a difference the data supports)."""
        return not (self.low <= value <= self.high)

    def cell(self, digits: int = 3) -> str:
        """``0.595 [0.551, 0.640]`` for a Markdown table (``-`` when there were no items)."""
        if self.n == 0:
            return "-"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"

    @property
    def errors(self) -> tuple[float, float]:
        """Distances down and up from the value to the interval's ends, for error bars."""
        if self.n == 0:
            return (0.0, 0.0)
        return (max(0.0, self.value - self.low), max(0.0, self.high - self.value))


def sign_test(successes: int, trials: int) -> float:
    """Two-sided exact binomial p-value of ``successes`` in ``trials`` against p = 0.5."""
    if trials <= 0:
        return 1.0
    low = min(successes, trials - successes)
    tail = math.fsum(math.comb(trials, i) for i in range(low + 1)) / 2**trials
    return float(min(1.0, 2 * tail))
