"""Trends: the Theil–Sen slope (properties), the recent-change flag, build_trend's window."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from intperf.stats import SignificanceResult, Verdict
from intperf.stats.trends import TrendPoint, build_trend, recent_change, theil_sen

UNTIL = datetime(2026, 11, 25, tzinfo=UTC)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
slopes = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)


@st.composite
def distinct_xs(draw: st.DrawFn, min_size: int = 2, max_size: int = 40) -> np.ndarray:
    xs = draw(st.lists(st.integers(min_value=0, max_value=10_000), min_size=min_size,
                       max_size=max_size, unique=True))
    return np.array(sorted(xs), dtype=np.float64) / 100.0  # days, 0.01 apart at least


def _close(a: float, b: float, scale: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, scale))


@given(distinct_xs(), slopes, finite)
def test_theil_sen_is_the_true_slope_on_an_exact_line(x: np.ndarray, b: float, a: float) -> None:
    y = a + b * x
    assert _close(theil_sen(x, y), b, abs(a) + abs(b) * 100)


@given(distinct_xs(), st.lists(finite, min_size=40, max_size=40), finite)
def test_theil_sen_ignores_a_constant_added_to_y(x: np.ndarray, ys: list[float],
                                                 c: float) -> None:
    y = np.array(ys[: x.size])
    # Adding c rounds each difference y_j - y_i by at most ~2 ulp of |y| + |c|, so each
    # pairwise slope moves by at most that over the smallest x gap; the median of the slopes
    # moves by no more than the largest of those moves.
    scale = float(np.abs(y).max()) + abs(c)
    min_gap = float(np.diff(x).min())
    tol = 4 * np.finfo(np.float64).eps * scale / min_gap
    assert math.isclose(theil_sen(x, y + c), theil_sen(x, y), rel_tol=0, abs_tol=tol)


@given(distinct_xs(min_size=5), slopes, finite, st.integers(min_value=0, max_value=39),
       st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_theil_sen_shrugs_off_one_outlier(x: np.ndarray, b: float, a: float, where: int,
                                         outlier: float) -> None:
    y = a + b * x
    y[where % x.size] = outlier
    assert _close(theil_sen(x, y), b, abs(a) + abs(b) * 100)


def test_least_squares_would_not_shrug_it_off() -> None:
    x = np.arange(10, dtype=np.float64)
    y = 2.0 * x + 1.0
    y[9] = 1000.0
    assert theil_sen(x, y) == pytest.approx(2.0)
    assert np.polyfit(x, y, 1)[0] > 20  # what an ordinary regression line would say


def test_theil_sen_is_nan_without_two_distinct_x() -> None:
    assert math.isnan(theil_sen(np.array([1.0]), np.array([2.0])))
    assert math.isnan(theil_sen(np.array([1.0, 1.0]), np.array([2.0, 3.0])))
    assert math.isnan(theil_sen(np.array([]), np.array([])))


def test_theil_sen_skips_non_finite_values_and_checks_lengths() -> None:
    x = np.array([0.0, 1.0, 2.0, 3.0])
    assert theil_sen(x, np.array([0.0, math.nan, 4.0, 6.0])) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="differ"):
        theil_sen(x, np.array([1.0]))


def _points(values: list[float], *, days: int = 30, step: float = 1.0,
            rps: float = 100.0) -> list[TrendPoint]:
    start = UNTIL - timedelta(days=days)
    return [TrendPoint(f"r{i}", start + timedelta(days=i * step + 0.5), v, v * 1.5, rps, 0.0,
                       "passed") for i, v in enumerate(values)]


def test_build_trend_keeps_the_window_sorts_and_gives_per_day_slopes() -> None:
    inside = _points([100.0 + 2.0 * i for i in range(30)])
    outside = [TrendPoint("old", UNTIL - timedelta(days=31), 1.0, 1.0, 1.0, 0.0),
               TrendPoint("future", UNTIL, 1.0, 1.0, 1.0, 0.0)]
    trend = build_trend("shop", None, [*reversed(inside), *outside], until=UNTIL, days=30)
    assert [p.run_id for p in trend.points] == [p.run_id for p in inside]
    assert trend.slopes["p95_ms"] == pytest.approx(2.0)
    assert trend.slopes["p99_ms"] == pytest.approx(3.0)
    assert trend.slopes["rps"] == pytest.approx(0.0)
    body = trend.to_dict()
    assert body["slopes"] == {"p95Ms": pytest.approx(2.0), "p99Ms": pytest.approx(3.0),
                              "rps": 0.0, "errorRate": 0.0}
    assert body["points"][0] == {"runId": "r0", "at": "2026-10-26T12:00:00Z", "p95Ms": 100.0,
                                 "p99Ms": 150.0, "rps": 100.0, "errorRate": 0.0,
                                 "verdict": "passed"}


def test_a_trend_with_fewer_than_two_days_has_no_slope_and_no_change() -> None:
    trend = build_trend("shop", "GET /", _points([5.0]), until=UNTIL, days=30)
    assert trend.slopes == {"p95_ms": None, "p99_ms": None, "rps": None, "error_rate": None}
    assert trend.change is None
    assert build_trend("shop", None, [], until=UNTIL, days=90).to_dict()["points"] == []


def test_recent_step_up_is_flagged_as_a_regression_of_latency() -> None:
    values = [100.0 + (i % 3) for i in range(23)] + [180.0 + (i % 3) for i in range(7)]
    trend = build_trend("shop", None, _points(values), until=UNTIL, days=30)
    assert trend.change is not None
    assert trend.change.verdict is Verdict.REGRESSED
    moved = {m.metric: m for m in trend.change.metrics}
    assert set(moved) == {"p95_ms", "p99_ms"}
    assert moved["p95_ms"].before == pytest.approx(101.0)
    assert moved["p95_ms"].after == pytest.approx(181.0)
    assert trend.change.to_dict()["metrics"][0]["metric"] == "p95Ms"


def test_throughput_going_up_is_an_improvement() -> None:
    pts = _points([100.0] * 30)
    pts = [TrendPoint(p.run_id, p.at, p.p95_ms, p.p99_ms, 100.0 + (i % 4) if i < 23 else
                      300.0 + (i % 4), 0.0) for i, p in enumerate(pts)]
    change = build_trend("shop", None, pts, until=UNTIL, days=30).change
    assert change is not None
    assert change.verdict is Verdict.IMPROVED
    assert [m.metric for m in change.metrics] == ["rps"]


def test_noise_and_small_shifts_raise_no_flag() -> None:
    rng = np.random.default_rng(3)
    values = list(100.0 + rng.normal(0, 3, 30))
    assert build_trend("shop", None, _points(values), until=UNTIL, days=30).change is None
    # Significant but under min_change (5 %): still no flag.
    values = [100.0] * 23 + [102.0] * 7
    assert build_trend("shop", None, _points(values), until=UNTIL, days=30).change is None


def test_too_few_runs_on_a_side_raise_no_flag() -> None:
    values = [100.0] * 28 + [500.0] * 2  # two recent runs only
    assert build_trend("shop", None, _points(values), until=UNTIL, days=30).change is None


def test_the_significance_test_is_injected() -> None:
    calls: list[tuple[int, int]] = []

    def never(a: np.ndarray, b: np.ndarray, /) -> SignificanceResult:
        calls.append((a.size, b.size))
        return SignificanceResult(0.0, 1.0, "never")

    values = [100.0 + (i % 3) for i in range(23)] + [180.0 + (i % 3) for i in range(7)]
    pts = _points(values)
    assert recent_change(pts, UNTIL - timedelta(days=7), test=never) is None
    assert (23, 7) in calls


def test_the_slope_estimator_is_injected() -> None:
    trend = build_trend("shop", None, _points([1.0, 2.0, 3.0]), until=UNTIL, days=30,
                        slope=lambda x, y: 42.0)
    assert trend.slopes["p95_ms"] == 42.0


@settings(max_examples=30)
@given(st.integers(min_value=2, max_value=29))
def test_recent_days_must_fit_in_the_window(days: int) -> None:
    assume(days > 1)
    with pytest.raises(ValueError, match="recent_days"):
        build_trend("s", None, [], until=UNTIL, days=days, recent_days=days)
    with pytest.raises(ValueError, match="aware"):
        build_trend("s", None, [], until=UNTIL.replace(tzinfo=None), days=30)
