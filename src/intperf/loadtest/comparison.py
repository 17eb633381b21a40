"""Compare two runs' time series: turn each into per-second samples, then apply stats.compare.

What ``GET /runs/{id}/compare`` returns is :meth:`RunComparison.to_dict`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from intperf.loadtest.results import RequestWindow, TimeSeries
from intperf.stats.compare import (
    DEFAULT_DIRECTIONS,
    Comparison,
    Direction,
    Samples,
    SignificanceTest,
    compare_samples,
    mann_whitney,
)
from intperf.stats.histogram import LogHistogram

#: Quantiles of the response time (``RequestWindow.latency``) compared, by metric name.
QUANTILES: Mapping[str, float] = MappingProxyType({"p50": 0.5, "p95": 0.95, "p99": 0.99})

#: Scope of the whole-run comparison in :attr:`RunComparison.regressions`.
GLOBAL = "global"


def _merge_latency(windows: list[RequestWindow]) -> LogHistogram:
    if len(windows) == 1:
        return windows[0].latency
    merged = windows[0].latency.copy()
    for w in windows[1:]:
        merged.merge(w.latency)
    return merged


def samples_from_series(series: TimeSeries, names: Iterable[str] | None = None) -> Samples:
    """Per-second p50/p95/p99, throughput and error rate of ``names`` (all when None).

    Every second of the series' span counts: a second without requests of ``names`` has
    throughput 0 and NaN latency and error rate. Whole-run values come from the merged
    histogram and counts; whole-run throughput is requests per second of the span.
    """
    wanted = None if names is None else set(names)
    first, last = series.span()
    n = last - first + 1
    quantiles = np.full((len(QUANTILES), n), math.nan)
    throughput = np.zeros(n)
    error_rate = np.full(n, math.nan)
    overall: LogHistogram | None = None
    requests = failed = 0
    for i, second in enumerate(range(first, last + 1)):
        window = series.seconds.get(second)
        if window is None:
            continue
        windows = [w for k, w in window.requests.items() if wanted is None or k in wanted]
        if not windows:
            continue
        sec_requests = sum(w.requests for w in windows)
        sec_failed = sum(w.failed for w in windows)
        requests += sec_requests
        failed += sec_failed
        throughput[i] = sec_requests
        if sec_requests:
            error_rate[i] = sec_failed / sec_requests
        hist = _merge_latency(windows)
        if hist.count:
            quantiles[:, i] = hist.quantiles(QUANTILES.values())
        if overall is None:
            overall = hist.copy()
        else:
            overall.merge(hist)
    per_second: dict[str, Any] = dict(zip(QUANTILES, quantiles, strict=True))
    per_second["throughput"] = throughput
    per_second["error_rate"] = error_rate
    whole = (
        [math.nan] * len(QUANTILES) if overall is None else overall.quantiles(QUANTILES.values())
    )
    totals: dict[str, float] = dict(zip(QUANTILES, whole, strict=True))
    totals["throughput"] = requests / n if n > 0 else math.nan
    totals["error_rate"] = failed / requests if requests else math.nan
    return Samples(per_second, totals)


@dataclass(frozen=True, slots=True)
class RunComparison:
    """A candidate run against a baseline run: all requests together and per request name."""

    global_: Comparison
    """All requests of each run together (named ``global`` in :meth:`to_dict`)."""
    requests: Mapping[str, Comparison]
    """Request names present in both runs, in the baseline's order."""
    only_in_baseline: tuple[str, ...]
    only_in_candidate: tuple[str, ...]

    @property
    def regressions(self) -> list[tuple[str, str]]:
        """``(scope, metric)`` pairs that regressed; scope is ``"global"`` or a request name."""
        out = [(GLOBAL, m) for m in self.global_.regressions]
        for name, comparison in self.requests.items():
            out.extend((name, m) for m in comparison.regressions)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (the body of ``GET /runs/{id}/compare``)."""
        return {
            "verdict": self.global_.verdict.value,
            "global": self.global_.to_dict(),
            "requests": {name: c.to_dict() for name, c in self.requests.items()},
            "only_in_baseline": list(self.only_in_baseline),
            "only_in_candidate": list(self.only_in_candidate),
            "regressions": [{"scope": s, "metric": m} for s, m in self.regressions],
        }


def compare_runs(
    baseline: TimeSeries,
    candidate: TimeSeries,
    *,
    test: SignificanceTest = mann_whitney,
    alpha: float = 0.05,
    min_change: float = 0.05,
    min_seconds: int = 3,
    directions: Mapping[str, Direction] = DEFAULT_DIRECTIONS,
) -> RunComparison:
    """Compare ``candidate`` against ``baseline`` globally and per common request name."""

    def compare(base: Samples, cand: Samples) -> Comparison:
        return compare_samples(
            base,
            cand,
            test=test,
            alpha=alpha,
            min_change=min_change,
            min_seconds=min_seconds,
            directions=directions,
        )

    base_names = baseline.request_names
    cand_names = candidate.request_names
    base_set, cand_set = set(base_names), set(cand_names)
    common = [n for n in base_names if n in cand_set]
    return RunComparison(
        global_=compare(samples_from_series(baseline), samples_from_series(candidate)),
        requests={
            n: compare(samples_from_series(baseline, [n]), samples_from_series(candidate, [n]))
            for n in common
        },
        only_in_baseline=tuple(n for n in base_names if n not in cand_set),
        only_in_candidate=tuple(n for n in cand_names if n not in base_set),
    )
