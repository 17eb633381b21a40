"""Baseline-versus-candidate verdicts on per-second samples, with the significance test injected.

Pure statistics on plain arrays (no run model): see docs/MATH.md, "Comparing runs".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: Resampled index arrays are drawn in blocks of about this many elements (8 MiB of intp).
_BOOTSTRAP_BLOCK = 1 << 20


class Verdict(StrEnum):
    """Outcome for one metric."""

    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    REGRESSED = "regressed"
    INSUFFICIENT_DATA = "insufficient_data"


class Direction(StrEnum):
    """Which way a metric gets better."""

    LOWER_IS_BETTER = "lower"
    HIGHER_IS_BETTER = "higher"


#: Directions of the metrics that ``samples_from_series`` produces.
DEFAULT_DIRECTIONS: Mapping[str, Direction] = MappingProxyType(
    {
        "p50": Direction.LOWER_IS_BETTER,
        "p95": Direction.LOWER_IS_BETTER,
        "p99": Direction.LOWER_IS_BETTER,
        "throughput": Direction.HIGHER_IS_BETTER,
        "error_rate": Direction.LOWER_IS_BETTER,
    }
)


@dataclass(frozen=True, slots=True)
class SignificanceResult:
    """What a significance test returns: its statistic, two-sided p-value and name."""

    statistic: float
    p_value: float
    name: str


class SignificanceTest(Protocol):
    """Two-sample test: ``(baseline, candidate) -> SignificanceResult``.

    Called only with finite values, at least one per side, and never with two samples that
    are both constant at the same value (the caller decides those without a test).
    """

    def __call__(self, a: FloatArray, b: FloatArray, /) -> SignificanceResult: ...


def mann_whitney(a: FloatArray, b: FloatArray, /) -> SignificanceResult:
    """Two-sided Mann-Whitney U test (SciPy); the statistic is U of the baseline ``a``."""
    if a.size == 0 or b.size == 0:
        raise ValueError("mann_whitney needs at least one value on each side")
    both = np.concatenate((a, b))
    if float(both.min()) == float(both.max()):  # all tied: no evidence either way
        return SignificanceResult(a.size * b.size / 2.0, 1.0, "mann_whitney")
    # Imported here: scipy.stats takes ~0.5 s to import, and every engine worker imports
    # intperf.stats for its histograms without ever comparing runs.
    from scipy.stats import mannwhitneyu

    res = mannwhitneyu(a, b, alternative="two-sided")
    return SignificanceResult(float(res.statistic), float(res.pvalue), "mann_whitney")


def bootstrap_median_diff(
    a: FloatArray, b: FloatArray, /, *, n_resamples: int = 2000, seed: int = 0
) -> SignificanceResult:
    """Bootstrap of ``median(b) - median(a)``; p-value by inverting the percentile interval.

    Deterministic for a given ``seed``. Configure with ``functools.partial``.
    """
    if a.size == 0 or b.size == 0:
        raise ValueError("bootstrap_median_diff needs at least one value on each side")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_resamples, dtype=np.float64)
    block = max(1, _BOOTSTRAP_BLOCK // max(a.size, b.size))
    for start in range(0, n_resamples, block):
        k = min(block, n_resamples - start)
        med_a = np.median(a[rng.integers(0, a.size, size=(k, a.size))], axis=1)
        med_b = np.median(b[rng.integers(0, b.size, size=(k, b.size))], axis=1)
        diffs[start : start + k] = med_b - med_a
    # The (1 - p) percentile interval just reaches 0: p = 2 * min(P(d* <= 0), P(d* >= 0)),
    # with the +1 correction so a finite resample never claims p = 0 (Davison & Hinkley 1997).
    tail = min(int(np.count_nonzero(diffs <= 0.0)), int(np.count_nonzero(diffs >= 0.0)))
    p = min(1.0, 2.0 * (tail + 1) / (n_resamples + 1))
    observed = float(np.median(b)) - float(np.median(a))
    return SignificanceResult(observed, p, "bootstrap_median_diff")


def _readonly(values: Any) -> FloatArray:
    arr = np.array(values, dtype=np.float64).reshape(-1)
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, slots=True, eq=False)
class Samples:
    """One run's per-second values per metric (NaN = no data that second) and whole-run values.

    ``per_second`` and ``overall`` must have the same metric names. Arrays are copied and made
    read-only.
    """

    per_second: Mapping[str, FloatArray]
    overall: Mapping[str, float]

    def __post_init__(self) -> None:
        if set(self.per_second) != set(self.overall):
            raise ValueError(
                f"per_second metrics {sorted(self.per_second)} differ from "
                f"overall metrics {sorted(self.overall)}"
            )
        per_second = {k: _readonly(v) for k, v in self.per_second.items()}
        overall = {k: float(self.overall[k]) for k in per_second}
        object.__setattr__(self, "per_second", MappingProxyType(per_second))
        object.__setattr__(self, "overall", MappingProxyType(overall))

    @property
    def metrics(self) -> tuple[str, ...]:
        """Metric names in insertion order."""
        return tuple(self.per_second)


def _json_float(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


@dataclass(frozen=True, slots=True)
class MetricComparison:
    """Baseline against candidate for one metric: whole-run values, test and verdict."""

    metric: str
    baseline: float
    candidate: float
    delta: float
    """``candidate - baseline`` (whole-run values)."""
    relative: float | None
    """``delta / baseline``; None when the baseline is 0 (or not finite)."""
    test: str
    p_value: float | None
    """None when no test was run (insufficient data, identical constant samples)."""
    verdict: Verdict
    reason: str
    baseline_seconds: int = 0
    candidate_seconds: int = 0
    """Seconds with a value on each side (after dropping NaN)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (non-finite numbers become None)."""
        return {
            "metric": self.metric,
            "baseline": _json_float(self.baseline),
            "candidate": _json_float(self.candidate),
            "delta": _json_float(self.delta),
            "relative": _json_float(self.relative),
            "test": self.test,
            "p_value": _json_float(self.p_value),
            "verdict": self.verdict.value,
            "reason": self.reason,
            "baseline_seconds": self.baseline_seconds,
            "candidate_seconds": self.candidate_seconds,
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    """Per-metric comparisons of two runs (or of one request name in two runs)."""

    metrics: tuple[MetricComparison, ...]
    alpha: float
    min_change: float
    _by_name: Mapping[str, MetricComparison] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", MappingProxyType({m.metric: m for m in self.metrics}))

    def __getitem__(self, metric: str) -> MetricComparison:
        return self._by_name[metric]

    def _with(self, verdict: Verdict) -> list[str]:
        return [m.metric for m in self.metrics if m.verdict is verdict]

    @property
    def regressions(self) -> list[str]:
        """Names of the metrics that regressed."""
        return self._with(Verdict.REGRESSED)

    @property
    def improvements(self) -> list[str]:
        """Names of the metrics that improved."""
        return self._with(Verdict.IMPROVED)

    @property
    def verdict(self) -> Verdict:
        """Regressed if any metric regressed, else improved if any improved, else unchanged.

        Insufficient data when no metric could be decided at all.
        """
        verdicts = {m.verdict for m in self.metrics}
        for v in (Verdict.REGRESSED, Verdict.IMPROVED, Verdict.UNCHANGED):
            if v in verdicts:
                return v
        return Verdict.INSUFFICIENT_DATA

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "verdict": self.verdict.value,
            "alpha": self.alpha,
            "min_change": self.min_change,
            "metrics": {m.metric: m.to_dict() for m in self.metrics},
            "regressions": self.regressions,
            "improvements": self.improvements,
        }


def _finite(values: FloatArray) -> FloatArray:
    return values[np.isfinite(values)]


def _test_name(test: SignificanceTest) -> str:
    func = getattr(test, "func", test)  # functools.partial
    return str(getattr(func, "__name__", type(test).__name__))


def _compare_metric(
    metric: str,
    direction: Direction,
    base_values: FloatArray,
    cand_values: FloatArray,
    base: float,
    cand: float,
    *,
    test: SignificanceTest,
    alpha: float,
    min_change: float,
    min_seconds: int,
) -> MetricComparison:
    a, b = _finite(base_values), _finite(cand_values)
    delta = cand - base
    relative = delta / base if base != 0.0 and math.isfinite(base) else None

    def result(verdict: Verdict, reason: str, name: str, p: float | None) -> MetricComparison:
        return MetricComparison(
            metric, base, cand, delta, relative, name, p, verdict, reason, int(a.size), int(b.size)
        )

    name = _test_name(test)
    for side, values, whole in (("baseline", a, base), ("candidate", b, cand)):
        if values.size < min_seconds:
            return result(
                Verdict.INSUFFICIENT_DATA,
                f"{side} has {values.size} seconds with data; at least {min_seconds} needed",
                name,
                None,
            )
        if not math.isfinite(whole):
            return result(Verdict.INSUFFICIENT_DATA, f"{side} has no whole-run value", name, None)
    lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
    if lo == hi:
        return result(Verdict.UNCHANGED, f"both runs are constant at {lo:g}", name, None)

    res = test(a, b)
    p = res.p_value
    if not p < alpha:
        return result(Verdict.UNCHANGED, f"not significant (p={p:.3g} >= {alpha:g})", res.name, p)
    if delta == 0.0:
        return result(Verdict.UNCHANGED, "whole-run values are equal", res.name, p)
    if relative is not None and abs(relative) < min_change:
        return result(
            Verdict.UNCHANGED,
            f"change {relative:+.1%} is within min_change {min_change:.1%}",
            res.name,
            p,
        )
    # The test speaks about per-second values, the verdict about the whole-run value: when
    # their medians move the other way, neither direction is supported.
    shift = float(np.median(b)) - float(np.median(a))
    if shift * delta < 0.0:
        return result(
            Verdict.UNCHANGED,
            "per-second median and whole-run value move in opposite directions",
            res.name,
            p,
        )
    worse = (delta > 0.0) == (direction is Direction.LOWER_IS_BETTER)
    change = "baseline 0" if relative is None else f"{relative:+.1%}"
    return result(
        Verdict.REGRESSED if worse else Verdict.IMPROVED,
        f"significant (p={p:.3g} < {alpha:g}) and {change}",
        res.name,
        p,
    )


def compare_samples(
    baseline: Samples,
    candidate: Samples,
    *,
    test: SignificanceTest = mann_whitney,
    alpha: float = 0.05,
    min_change: float = 0.05,
    min_seconds: int = 3,
    directions: Mapping[str, Direction] = DEFAULT_DIRECTIONS,
) -> Comparison:
    """Compare every metric of ``candidate`` against ``baseline`` (see docs/MATH.md)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not min_change >= 0.0:
        raise ValueError(f"min_change must be non-negative, got {min_change}")
    if min_seconds < 1:
        raise ValueError(f"min_seconds must be at least 1, got {min_seconds}")
    if set(baseline.metrics) != set(candidate.metrics):
        raise ValueError(
            f"baseline metrics {sorted(baseline.metrics)} differ from "
            f"candidate metrics {sorted(candidate.metrics)}"
        )
    unknown = [m for m in baseline.metrics if m not in directions]
    if unknown:
        raise ValueError(f"no direction known for metrics {unknown}")
    results = tuple(
        _compare_metric(
            m,
            directions[m],
            baseline.per_second[m],
            candidate.per_second[m],
            baseline.overall[m],
            candidate.overall[m],
            test=test,
            alpha=alpha,
            min_change=min_change,
            min_seconds=min_seconds,
        )
        for m in baseline.metrics
    )
    return Comparison(results, alpha, min_change)
