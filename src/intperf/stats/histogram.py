"""Log-bucketed histogram with bounded relative error that merges exactly.

The bucket scheme is DDSketch's (Masson et al., VLDB 2019): bucket ``i`` holds values in
``(gamma**(i-1), gamma**i]`` with ``gamma = (1+a)/(1-a)``, so any quantile is returned
within relative error ``a``. Values are bucketed in batches with NumPy (see docs/MATH.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

#: Values at or below this are counted in the zero bucket (milliseconds: 1 ns).
MIN_INDEXABLE = 1e-6


class LogHistogram:
    """Counts of positive values in logarithmic buckets; exact count, sum, min and max."""

    __slots__ = ("_inv_log_gamma", "_log_gamma", "alpha", "bins", "count", "max", "min", "sum",
                 "zero")

    def __init__(self, alpha: float = 0.01) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"relative accuracy must be in (0, 1), got {alpha}")
        self.alpha = alpha
        gamma = (1.0 + alpha) / (1.0 - alpha)
        self._log_gamma = math.log(gamma)
        self._inv_log_gamma = 1.0 / self._log_gamma
        self.bins: dict[int, int] = {}
        self.zero = 0
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf

    # -- recording -------------------------------------------------------------------------
    def record(self, value: float) -> None:
        """Record one value (slow path; prefer :meth:`record_many`)."""
        self.count += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        if value <= MIN_INDEXABLE:
            self.zero += 1
            return
        idx = math.ceil(math.log(value) * self._inv_log_gamma)
        self.bins[idx] = self.bins.get(idx, 0) + 1

    def record_many(self, values: Sequence[float] | npt.NDArray[np.float64]) -> None:
        """Record a batch of values with one pass of NumPy."""
        arr = np.asarray(values, dtype=np.float64)
        n = int(arr.size)
        if n == 0:
            return
        if not np.all(np.isfinite(arr)):
            raise ValueError("histogram values must be finite")
        self.count += n
        self.sum += float(arr.sum())
        lo = float(arr.min())
        hi = float(arr.max())
        self.min = min(self.min, lo)
        self.max = max(self.max, hi)
        positive = arr[arr > MIN_INDEXABLE]
        self.zero += n - int(positive.size)
        if positive.size == 0:
            return
        idx = np.ceil(np.log(positive) * self._inv_log_gamma).astype(np.int64)
        base = int(idx.min())
        counts = np.bincount(idx - base)
        bins = self.bins
        for off in np.flatnonzero(counts).tolist():
            key = base + off
            bins[key] = bins.get(key, 0) + int(counts[off])

    def merge(self, other: LogHistogram) -> None:
        """Add ``other``'s counts to this histogram (exact; both must share alpha)."""
        if other.alpha != self.alpha:
            raise ValueError(f"cannot merge histograms with alpha {self.alpha} and {other.alpha}")
        if other.count == 0:
            return
        self.count += other.count
        self.sum += other.sum
        self.zero += other.zero
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        bins = self.bins
        for key, c in other.bins.items():
            bins[key] = bins.get(key, 0) + c

    def copy(self) -> LogHistogram:
        """Return an independent copy."""
        h = LogHistogram(self.alpha)
        h.merge(self)
        return h

    # -- reading ---------------------------------------------------------------------------
    @property
    def mean(self) -> float:
        """Arithmetic mean (exact), or NaN when empty."""
        return self.sum / self.count if self.count else math.nan

    def value_of(self, index: int) -> float:
        """Representative value of bucket ``index`` (within ``alpha`` of any value in it)."""
        return 2.0 * math.exp(index * self._log_gamma) / (1.0 + math.exp(self._log_gamma))

    def quantile(self, q: float) -> float:
        """Value at quantile ``q`` in [0, 1] (nearest-rank), within relative error alpha.

        Returns NaN for an empty histogram. q=0 and q=1 give the exact min and max.
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile must be in [0, 1], got {q}")
        if self.count == 0:
            return math.nan
        if q == 0.0:
            return self.min
        if q == 1.0:
            return self.max
        rank = max(1, math.ceil(q * self.count))  # nearest-rank definition
        if rank <= self.zero:
            return max(self.min, 0.0) if self.min <= MIN_INDEXABLE else self.min
        seen = self.zero
        for key in sorted(self.bins):
            seen += self.bins[key]
            if seen >= rank:
                return min(max(self.value_of(key), self.min), self.max)
        return self.max

    def quantiles(self, qs: Iterable[float]) -> list[float]:
        """Several quantiles in one sorted pass."""
        return [self.quantile(q) for q in qs]

    # -- serialization ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Compact JSON-able form; :meth:`from_dict` restores it exactly."""
        keys = sorted(self.bins)
        return {
            "alpha": self.alpha,
            "count": self.count,
            "sum": self.sum,
            "min": self.min if self.count else None,
            "max": self.max if self.count else None,
            "zero": self.zero,
            "keys": keys,
            "counts": [self.bins[k] for k in keys],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogHistogram:
        """Rebuild a histogram written by :meth:`to_dict`."""
        h = cls(float(data["alpha"]))
        h.count = int(data["count"])
        h.sum = float(data["sum"])
        h.zero = int(data["zero"])
        if h.count:
            h.min = float(data["min"])
            h.max = float(data["max"])
        h.bins = {int(k): int(c) for k, c in zip(data["keys"], data["counts"], strict=True)}
        return h

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogHistogram):
            return NotImplemented
        return (self.alpha, self.count, self.zero, self.bins, self.min, self.max) == (
            other.alpha, other.count, other.zero, other.bins, other.min, other.max)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LogHistogram(alpha={self.alpha}, count={self.count}, buckets={len(self.bins)})"
