"""Mergeable window aggregates: response times, cache accesses and business counters.

Each aggregate of disjoint event sets merges into exactly the aggregate of their union (counts
and LogHistogram buckets add; min and max are exact), so panes, partitions and workers combine
exactly (docs/MATH.md, section 7). Float sums are exact up to rounding and are left out of
equality, as in LogHistogram.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, Self

import numpy as np
import numpy.typing as npt

from intperf.loadtest.results import ErrorClass, RequestWindow
from intperf.stats.histogram import LogHistogram

__all__ = ["Aggregate", "CacheStats", "CountStats", "LatencyStats"]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
_QS = (0.5, 0.95, 0.99)


class Aggregate(Protocol):
    """What a windowed aggregation needs of its aggregate type (an empty one is ``cls()``)."""

    @property
    def count(self) -> int:
        """Events aggregated."""
        ...

    def record_many(
        self, values: Floats | Sequence[float], flags: Bools | Sequence[bool] | None = None
    ) -> None:
        """Add events given as a value column and an optional flag column."""
        ...

    def merge(self, other: Self) -> None:
        """Add ``other`` (disjoint events) into this aggregate."""
        ...

    def copy(self) -> Self:
        """An independent copy."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        ...

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Inverse of :meth:`to_dict`."""
        ...


def _check_durations(values: Floats) -> None:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size and not (float(arr.min()) >= 0.0 and bool(np.isfinite(arr).all())):
        raise ValueError("values must be finite and non-negative durations in ms")


def _flag_count(flags: Bools | Sequence[bool] | None, n: int) -> int:
    if flags is None:
        return 0
    arr = np.asarray(flags, dtype=np.bool_)
    if arr.size != n:
        raise ValueError(f"{arr.size} flags for {n} values")
    return int(np.count_nonzero(arr))


class LatencyStats:
    """Response times of API calls in ms: count, errors, sum and a LogHistogram.

    ``flags`` of :meth:`record_many` mark failed calls (status >= 500 or flagged as errors).
    """

    __slots__ = ("errors", "histogram")

    def __init__(self, alpha: float = 0.01) -> None:
        self.histogram = LogHistogram(alpha)
        self.errors = 0

    @staticmethod
    def check_values(values: Floats) -> None:
        """Raise ValueError unless every value is a finite, non-negative duration."""
        _check_durations(values)

    def record(self, value_ms: float, error: bool = False) -> None:
        """Add one call."""
        self.histogram.record(value_ms)
        self.errors += bool(error)

    def record_many(
        self, values: Floats | Sequence[float], flags: Bools | Sequence[bool] | None = None
    ) -> None:
        """Add calls (the NumPy path); raises ValueError, adding nothing, for a bad value."""
        arr = np.asarray(values, dtype=np.float64)
        errors = _flag_count(flags, int(arr.size))
        self.histogram.record_many(arr)
        self.errors += errors

    def merge(self, other: LatencyStats) -> None:
        """Add ``other`` into this aggregate (exact)."""
        self.histogram.merge(other.histogram)
        self.errors += other.errors

    def copy(self) -> LatencyStats:
        """An independent copy."""
        c = LatencyStats(self.histogram.alpha)
        c.merge(self)
        return c

    @property
    def count(self) -> int:
        """Calls recorded."""
        return self.histogram.count

    @property
    def sum_ms(self) -> float:
        """Sum of the response times."""
        return self.histogram.sum

    @property
    def mean(self) -> float:
        """Mean response time (NaN when empty)."""
        return self.histogram.mean

    @property
    def error_rate(self) -> float:
        """Failed calls / calls (NaN when empty)."""
        n = self.count
        return self.errors / n if n else math.nan

    def quantile(self, q: float) -> float:
        """Response time at quantile ``q`` (within the histogram's relative error)."""
        return self.histogram.quantile(q)

    @property
    def p50(self) -> float:
        """Median response time."""
        return self.quantile(0.5)

    @property
    def p95(self) -> float:
        """95th percentile."""
        return self.quantile(0.95)

    @property
    def p99(self) -> float:
        """99th percentile."""
        return self.quantile(0.99)

    def summary(self) -> dict[str, float | int]:
        """The usual numbers in one dict (quantiles computed in one pass)."""
        h = self.histogram
        p50, p95, p99 = h.quantiles(_QS)
        n = h.count
        return {
            "count": n,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "mean_ms": h.mean,
            "min_ms": h.min if n else math.nan,
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p99,
            "max_ms": h.max if n else math.nan,
        }

    def to_request_window(self) -> RequestWindow:
        """The same calls as a load-test RequestWindow (stored like load-test results).

        Events carry one response time, so ``latency`` and ``service`` are equal copies;
        errors are classed ``other`` (an event says that a call failed, not how).
        """
        w = RequestWindow(latency=self.histogram.copy(), service=self.histogram.copy())
        w.ok = self.count - self.errors
        if self.errors:
            w.add_error(ErrorClass.OTHER, None, self.errors)
        return w

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"histogram": self.histogram.to_dict(), "errors": self.errors}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencyStats:
        """Inverse of :meth:`to_dict` (ValueError if inconsistent)."""
        h = LogHistogram.from_dict(data["histogram"])
        s = cls(h.alpha)
        s.histogram = h
        s.errors = int(data["errors"])
        if not 0 <= s.errors <= h.count:
            raise ValueError("errors must be between 0 and the count")
        return s

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LatencyStats):
            return NotImplemented
        return self.errors == other.errors and self.histogram == other.histogram

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LatencyStats(count={self.count}, errors={self.errors})"


class CacheStats:
    """Cache accesses: hits, misses and a latency histogram in ms. ``flags`` mark hits."""

    __slots__ = ("hits", "latency")

    def __init__(self, alpha: float = 0.01) -> None:
        self.latency = LogHistogram(alpha)
        self.hits = 0

    @staticmethod
    def check_values(values: Floats) -> None:
        """Raise ValueError unless every value is a finite, non-negative duration."""
        _check_durations(values)

    def record(self, latency_ms: float, hit: bool) -> None:
        """Add one access."""
        self.latency.record(latency_ms)
        self.hits += bool(hit)

    def record_many(
        self, values: Floats | Sequence[float], flags: Bools | Sequence[bool] | None = None
    ) -> None:
        """Add accesses: latencies and hit flags (no flags: all misses)."""
        arr = np.asarray(values, dtype=np.float64)
        hits = _flag_count(flags, int(arr.size))
        self.latency.record_many(arr)
        self.hits += hits

    def merge(self, other: CacheStats) -> None:
        """Add ``other`` into this aggregate (exact)."""
        self.latency.merge(other.latency)
        self.hits += other.hits

    def copy(self) -> CacheStats:
        """An independent copy."""
        c = CacheStats(self.latency.alpha)
        c.merge(self)
        return c

    @property
    def count(self) -> int:
        """Accesses recorded."""
        return self.latency.count

    @property
    def misses(self) -> int:
        """Accesses that missed."""
        return self.count - self.hits

    @property
    def hit_rate(self) -> float:
        """Hits / accesses (NaN when empty)."""
        n = self.count
        return self.hits / n if n else math.nan

    def summary(self) -> dict[str, float | int]:
        """The usual numbers in one dict."""
        p50, p95, p99 = self.latency.quantiles(_QS)
        return {
            "count": self.count,
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hit_rate,
            "latency_mean_ms": self.latency.mean,
            "latency_p50_ms": p50,
            "latency_p95_ms": p95,
            "latency_p99_ms": p99,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"latency": self.latency.to_dict(), "hits": self.hits}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CacheStats:
        """Inverse of :meth:`to_dict` (ValueError if inconsistent)."""
        h = LogHistogram.from_dict(data["latency"])
        s = cls(h.alpha)
        s.latency = h
        s.hits = int(data["hits"])
        if not 0 <= s.hits <= h.count:
            raise ValueError("hits must be between 0 and the count")
        return s

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CacheStats):
            return NotImplemented
        return self.hits == other.hits and self.latency == other.latency

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CacheStats(count={self.count}, hits={self.hits})"


class CountStats:
    """Counted events with optional values (NaN: no value): count, valued, total, min, max."""

    __slots__ = ("count", "max", "min", "total", "valued")

    def __init__(self) -> None:
        self.count = 0
        self.valued = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    @staticmethod
    def check_values(values: Floats) -> None:
        """Raise ValueError unless every value is finite or NaN (no value)."""
        if bool(np.isinf(values).any()):
            raise ValueError("values must be finite or NaN")

    def record(self, value: float | None = None) -> None:
        """Count one event, with its value if it has one."""
        self.count += 1
        if value is not None and not math.isnan(value):
            if math.isinf(value):
                raise ValueError(f"values must be finite, got {value!r}")
            self.valued += 1
            self.total += value
            self.min = min(self.min, value)
            self.max = max(self.max, value)

    def record_many(
        self, values: Floats | Sequence[float], flags: Bools | Sequence[bool] | None = None
    ) -> None:
        """Count events; NaN values are counted without a value. ``flags`` are ignored."""
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
        present = arr[~np.isnan(arr)]
        if present.size and not bool(np.isfinite(present).all()):
            raise ValueError("values must be finite or NaN")
        self.count += int(arr.size)
        if present.size:
            self.valued += int(present.size)
            self.total += float(present.sum())
            self.min = min(self.min, float(present.min()))
            self.max = max(self.max, float(present.max()))

    def merge(self, other: CountStats) -> None:
        """Add ``other`` into this aggregate (exact but for the float total's rounding)."""
        self.count += other.count
        self.valued += other.valued
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def copy(self) -> CountStats:
        """An independent copy."""
        c = CountStats()
        c.merge(self)
        return c

    @property
    def mean(self) -> float:
        """Mean of the values present (NaN when none)."""
        return self.total / self.valued if self.valued else math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "count": self.count,
            "valued": self.valued,
            "total": self.total,
            "min": self.min if self.valued else None,
            "max": self.max if self.valued else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CountStats:
        """Inverse of :meth:`to_dict` (ValueError if inconsistent)."""
        s = cls()
        s.count = int(data["count"])
        s.valued = int(data["valued"])
        s.total = float(data["total"])
        if not 0 <= s.valued <= s.count:
            raise ValueError("valued must be between 0 and the count")
        if s.valued:
            s.min, s.max = float(data["min"]), float(data["max"])
        return s

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CountStats):
            return NotImplemented
        return (self.count, self.valued, self.min, self.max) == (
            other.count,
            other.valued,
            other.min,
            other.max,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CountStats(count={self.count}, valued={self.valued}, total={self.total})"
