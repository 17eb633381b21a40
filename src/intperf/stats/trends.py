"""Trends of finished runs over days: a robust per-day slope and a recent-change flag per metric.

Pure statistics on plain points (no store, no run model); the slope estimator and the
significance test are injected. The math is in docs/MATH.md, "Trends".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from intperf.stats.compare import (
    DEFAULT_DIRECTIONS,
    Comparison,
    Samples,
    SignificanceTest,
    Verdict,
    compare_samples,
    mann_whitney,
)

FloatArray = npt.NDArray[np.float64]

#: Trend metric -> the name ``stats.compare`` knows it by (and its direction).
METRICS: Mapping[str, str] = MappingProxyType(
    {"p95_ms": "p95", "p99_ms": "p99", "rps": "throughput", "error_rate": "error_rate"}
)
#: The API's spelling of each metric (camelCase, like the rest of the JSON API).
API_NAMES: Mapping[str, str] = MappingProxyType(
    {"p95_ms": "p95Ms", "p99_ms": "p99Ms", "rps": "rps", "error_rate": "errorRate"}
)
#: How people read each metric's name (reports, messages).
LABELS: Mapping[str, str] = MappingProxyType(
    {"p95_ms": "p95", "p99_ms": "p99", "rps": "throughput", "error_rate": "error rate"}
)
#: Seconds in a day: slopes are per day.
DAY_S = 86_400.0
#: Above this many points the pairwise slopes are taken on an evenly thinned subset
#: (keeps Theil–Sen at O(MAX_PAIRWISE²) memory; 1,000 points are 500,000 pairs).
MAX_PAIRWISE = 1_000

SlopeEstimator = Callable[[FloatArray, FloatArray], float]
"""``(x, y) -> slope``: finite values only, at least two distinct ``x``; NaN when undefined."""


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One finished run's figures (all requests, or one request name)."""

    run_id: str
    at: datetime
    p95_ms: float | None
    p99_ms: float | None
    rps: float | None
    error_rate: float | None
    verdict: str | None = None

    def value(self, metric: str) -> float | None:
        """The value of ``metric`` (a key of :data:`METRICS`), None when unknown."""
        v: float | None = getattr(self, metric)
        return v if v is not None and math.isfinite(v) else None

    def to_dict(self) -> dict[str, Any]:
        """The API's point: ``runId``, ``at``, ``p95Ms``, ``p99Ms``, ``rps``, ``errorRate``…"""
        out: dict[str, Any] = {"runId": self.run_id, "at": _iso(self.at)}
        for metric, name in API_NAMES.items():
            out[name] = self.value(metric)
        out["verdict"] = self.verdict
        return out


@dataclass(frozen=True, slots=True)
class MetricChange:
    """A metric whose recent runs differ from the earlier ones (``regressed``/``improved``)."""

    metric: str
    verdict: Verdict
    before: float
    """Median of the earlier runs."""
    after: float
    """Median of the recent runs."""
    relative: float | None
    p_value: float | None
    test: str

    @property
    def label(self) -> str:
        """The metric as people read it (``p95``, ``throughput`` …)."""
        return LABELS[self.metric]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form with the API's metric name."""
        return {"metric": API_NAMES[self.metric], "verdict": self.verdict.value,
                "before": _finite(self.before), "after": _finite(self.after),
                "relative": _finite(self.relative), "pValue": _finite(self.p_value),
                "test": self.test}


@dataclass(frozen=True, slots=True)
class TrendChange:
    """The recent window against the rest of the series, where something moved."""

    since: datetime
    """Start of the recent window."""
    recent_runs: int
    earlier_runs: int
    metrics: tuple[MetricChange, ...]

    @property
    def verdict(self) -> Verdict:
        """Regressed when any metric regressed, else improved."""
        if any(m.verdict is Verdict.REGRESSED for m in self.metrics):
            return Verdict.REGRESSED
        return Verdict.IMPROVED

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the API's ``change``)."""
        return {"verdict": self.verdict.value, "since": _iso(self.since),
                "recentRuns": self.recent_runs, "earlierRuns": self.earlier_runs,
                "metrics": [m.to_dict() for m in self.metrics]}


@dataclass(frozen=True, slots=True)
class Trend:
    """Points of a scenario (and optionally one request name) over a window of days."""

    scenario: str
    endpoint: str | None
    days: int
    since: datetime
    until: datetime
    points: tuple[TrendPoint, ...]
    slopes: Mapping[str, float | None]
    """Per-day Theil–Sen slope of each metric (None: fewer than two distinct days' data)."""
    change: TrendChange | None

    def series(self, metric: str) -> list[float | None]:
        """The values of ``metric`` in point order."""
        return [p.value(metric) for p in self.points]

    def to_dict(self) -> dict[str, Any]:
        """The body of ``GET /api/v1/trends``."""
        return {
            "scenario": self.scenario, "endpoint": self.endpoint, "days": self.days,
            "since": _iso(self.since), "until": _iso(self.until),
            "points": [p.to_dict() for p in self.points],
            "slopes": {API_NAMES[m]: _finite(v) for m, v in self.slopes.items()},
            "change": None if self.change is None else self.change.to_dict(),
        }


def theil_sen(x: FloatArray, y: FloatArray) -> float:
    """Theil–Sen slope: the median of the slopes of all pairs with different ``x``.

    Robust: up to about 29 % of the points may be arbitrary outliers (breakdown point
    1 - 1/sqrt(2)) without carrying the slope away. NaN with fewer than two distinct ``x``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in length: {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size > MAX_PAIRWISE:
        pick = np.linspace(0, x.size - 1, MAX_PAIRWISE).round().astype(np.intp)
        x, y = x[pick], y[pick]
    if x.size < 2:
        return math.nan
    i, j = np.triu_indices(x.size, k=1)
    dx = x[j] - x[i]
    distinct = dx != 0.0
    if not distinct.any():
        return math.nan
    slopes = (y[j] - y[i])[distinct] / dx[distinct]
    return float(np.median(slopes))


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def _median(values: FloatArray) -> float:
    return float(np.median(values)) if values.size else math.nan


def _values(points: Sequence[TrendPoint], metric: str) -> FloatArray:
    return np.array([math.nan if (v := p.value(metric)) is None else v for p in points],
                     dtype=np.float64)


def recent_change(
    points: Sequence[TrendPoint],
    since: datetime,
    *,
    test: SignificanceTest = mann_whitney,
    alpha: float = 0.05,
    min_change: float = 0.05,
    min_runs: int = 3,
) -> TrendChange | None:
    """Runs from ``since`` on against the earlier ones, per metric, with
    :func:`intperf.stats.compare.compare_samples` (one value per run instead of per second,
    medians as the whole-window values). None when no metric regressed or improved."""
    earlier = [p for p in points if p.at < since]
    recent = [p for p in points if p.at >= since]
    if len(earlier) < min_runs or len(recent) < min_runs:
        return None

    def samples(part: Sequence[TrendPoint]) -> Samples:
        per_run = {METRICS[m]: _values(part, m) for m in METRICS}
        whole = {name: _median(v[np.isfinite(v)]) for name, v in per_run.items()}
        return Samples(per_run, whole)

    comparison: Comparison = compare_samples(
        samples(earlier), samples(recent), test=test, alpha=alpha, min_change=min_change,
        min_seconds=min_runs, directions=DEFAULT_DIRECTIONS)
    by_compare_name = {v: k for k, v in METRICS.items()}
    moved = tuple(
        MetricChange(by_compare_name[m.metric], m.verdict, m.baseline, m.candidate, m.relative,
                     m.p_value, m.test)
        for m in comparison.metrics if m.verdict in (Verdict.REGRESSED, Verdict.IMPROVED))
    if not moved:
        return None
    return TrendChange(since, len(recent), len(earlier), moved)


def build_trend(
    scenario: str,
    endpoint: str | None,
    points: Iterable[TrendPoint],
    *,
    until: datetime,
    days: int,
    recent_days: int = 7,
    slope: SlopeEstimator = theil_sen,
    test: SignificanceTest = mann_whitney,
    alpha: float = 0.05,
    min_change: float = 0.05,
    min_runs: int = 3,
) -> Trend:
    """The trend of ``points`` in ``[until - days, until)``: per-day slopes and recent change.

    ``recent_days`` is the length of the window compared with the rest (see docs/MATH.md).
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if not 0 < recent_days < days:
        raise ValueError(f"recent_days must be between 1 and days - 1, got {recent_days}")
    if until.tzinfo is None:
        raise ValueError("until must be an aware datetime")
    since = until - timedelta(days=days)
    kept = tuple(sorted((p for p in points if since <= p.at < until),
                        key=lambda p: (p.at, p.run_id)))
    x = np.array([(p.at - since).total_seconds() / DAY_S for p in kept], dtype=np.float64)
    slopes: dict[str, float | None] = {}
    for metric in METRICS:
        y = _values(kept, metric)
        ok = np.isfinite(y)
        distinct = np.unique(x[ok]).size >= 2
        slopes[metric] = _finite(slope(x[ok], y[ok])) if distinct else None
    change = recent_change(kept, until - timedelta(days=recent_days), test=test, alpha=alpha,
                           min_change=min_change, min_runs=min_runs)
    return Trend(scenario, endpoint, days, since, until, kept, MappingProxyType(slopes), change)


__all__ = [
    "API_NAMES",
    "LABELS",
    "METRICS",
    "MetricChange",
    "SlopeEstimator",
    "Trend",
    "TrendChange",
    "TrendPoint",
    "build_trend",
    "recent_change",
    "theil_sen",
]
