"""compare_samples: verdict rule, injected tests, degenerate inputs, symmetry properties."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from intperf.stats import (
    Comparison,
    Direction,
    Samples,
    SignificanceResult,
    SignificanceTest,
    Verdict,
    bootstrap_median_diff,
    compare_samples,
    mann_whitney,
)

FloatArray = npt.NDArray[np.float64]
FAST_BOOTSTRAP: SignificanceTest = functools.partial(bootstrap_median_diff, n_resamples=500)
TESTS = pytest.mark.parametrize(
    "test", [mann_whitney, FAST_BOOTSTRAP], ids=["mann_whitney", "bootstrap"]
)


def samples(
    per_second: Mapping[str, Sequence[float] | FloatArray],
    overall: Mapping[str, float] | None = None,
) -> Samples:
    """Samples whose whole-run value is the median of the per-second values unless given."""
    if overall is None:
        overall = {
            k: float(np.nanmedian(v)) if np.isfinite(v).any() else math.nan
            for k, v in per_second.items()
        }
    return Samples({k: np.asarray(v, dtype=float) for k, v in per_second.items()}, overall)


def lognormal_run(seconds: int = 60, scale: float = 1.0, seed: int = 1) -> Samples:
    """A run's per-second latency quantiles, throughput and error rate."""
    rng = np.random.default_rng(seed)
    p50 = rng.lognormal(math.log(100.0), 0.2, seconds) * scale
    return samples(
        {
            "p50": p50,
            "p95": p50 * 2.0,
            "p99": p50 * 3.0,
            "throughput": rng.normal(500.0, 10.0, seconds),
            "error_rate": np.zeros(seconds),
        }
    )


# -- strategies ---------------------------------------------------------------------------------
values = st.lists(
    st.one_of(st.floats(min_value=0.0, max_value=1e4), st.just(math.nan)), min_size=0, max_size=25
)


@st.composite
def sample_sets(draw: st.DrawFn) -> Samples:
    return samples({"p95": draw(values), "throughput": draw(values), "error_rate": draw(values)})


@st.composite
def run_pairs(draw: st.DrawFn) -> tuple[Samples, Samples]:
    """Two runs, the second often a scaled copy of noisy data so that verdicts vary."""
    n = st.integers(min_value=0, max_value=40)
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    rng = np.random.default_rng(seed)
    runs: list[dict[str, list[float]]] = [{}, {}]
    for metric in ("p95", "throughput", "error_rate"):
        if draw(st.booleans()):
            runs[0][metric], runs[1][metric] = draw(values), draw(values)
            continue
        sigma = draw(st.sampled_from([0.0, 0.05, 0.5]))
        factor = draw(st.sampled_from([0.0, 0.5, 0.97, 1.0, 1.04, 1.06, 1.5, 3.0]))
        base = rng.lognormal(3.0, sigma, draw(n))
        cand = rng.lognormal(3.0, sigma, draw(n)) * factor
        runs[0][metric], runs[1][metric] = base.tolist(), cand.tolist()
    return samples(runs[0]), samples(runs[1])


# -- properties ---------------------------------------------------------------------------------
@given(st.one_of(sample_sets(), run_pairs().map(lambda pair: pair[0])))
@settings(max_examples=150, deadline=None)
def test_a_sample_compared_with_itself_never_changes(s: Samples) -> None:
    for test in (mann_whitney, FAST_BOOTSTRAP):
        c = compare_samples(s, s, test=test)
        for m in c.metrics:
            assert m.verdict in (Verdict.UNCHANGED, Verdict.INSUFFICIENT_DATA)
            assert m.delta == 0.0 or math.isnan(m.delta)
        assert c.regressions == []
        assert c.improvements == []


@given(run_pairs())
@settings(max_examples=300, deadline=None)
def test_swapping_runs_swaps_improved_and_regressed(pair: tuple[Samples, Samples]) -> None:
    a, b = pair
    ab = compare_samples(a, b)
    ba = compare_samples(b, a)
    flipped = {Verdict.IMPROVED: Verdict.REGRESSED, Verdict.REGRESSED: Verdict.IMPROVED}
    for m in ab.metrics:
        back = ba[m.metric]
        assert back.p_value == m.p_value
        if m.verdict in flipped:
            # min_change is relative to the baseline, so it is not symmetric near the edge.
            assume(m.candidate == 0.0 or abs(m.delta) >= 0.05 * abs(m.candidate))
            assert back.verdict is flipped[m.verdict]
        elif back.verdict in flipped:
            assume(m.baseline == 0.0 or abs(m.delta) >= 0.05 * abs(m.baseline))
            raise AssertionError(f"{m} vs {back}")


@given(st.lists(st.floats(min_value=1.0, max_value=1e4), min_size=3, max_size=30))
@settings(max_examples=100, deadline=None)
def test_verdicts_follow_the_metric_direction(xs: list[float]) -> None:
    base = np.asarray(xs)
    assume(float(base.max()) > float(base.min()))
    worse_latency = compare_samples(
        samples({"p99": base}), samples({"p99": base + 10 * (base.max() - base.min()) + 1e4})
    )
    assert worse_latency["p99"].verdict in (Verdict.REGRESSED, Verdict.UNCHANGED)
    more_throughput = compare_samples(
        samples({"throughput": base}),
        samples({"throughput": base + 10 * (base.max() - base.min()) + 1e4}),
    )
    assert more_throughput["throughput"].verdict in (Verdict.IMPROVED, Verdict.UNCHANGED)


# -- verdicts on realistic data ------------------------------------------------------------------
@TESTS
def test_fifty_percent_slower_is_a_regression(test: SignificanceTest) -> None:
    c = compare_samples(lognormal_run(), lognormal_run(scale=1.5, seed=2), test=test)
    for metric in ("p50", "p95", "p99"):
        m = c[metric]
        assert m.verdict is Verdict.REGRESSED, m
        assert m.p_value is not None
        assert m.p_value < 0.05
        assert m.relative is not None
        assert 0.3 < m.relative < 0.7
    assert c["throughput"].verdict is Verdict.UNCHANGED
    assert c["error_rate"].verdict is Verdict.UNCHANGED
    assert c["error_rate"].reason == "both runs are constant at 0"
    assert c.regressions == ["p50", "p95", "p99"]
    assert c.verdict is Verdict.REGRESSED


@TESTS
def test_fifty_percent_faster_is_an_improvement(test: SignificanceTest) -> None:
    c = compare_samples(lognormal_run(scale=1.5, seed=2), lognormal_run(), test=test)
    assert c.improvements == ["p50", "p95", "p99"]
    assert c.verdict is Verdict.IMPROVED


@TESTS
def test_one_percent_is_below_min_change_even_when_significant(test: SignificanceTest) -> None:
    rng = np.random.default_rng(3)
    base = 100.0 + rng.normal(0.0, 0.01, 60)  # so tight that a 1% shift is significant
    c = compare_samples(samples({"p50": base}), samples({"p50": base * 1.01}), test=test)
    m = c["p50"]
    assert m.p_value is not None
    assert m.p_value < 0.05
    assert m.verdict is Verdict.UNCHANGED
    assert "min_change" in m.reason
    c = compare_samples(
        samples({"p50": base}), samples({"p50": base * 1.01}), test=test, min_change=0.005
    )
    assert c["p50"].verdict is Verdict.REGRESSED


def test_not_significant_is_unchanged_whatever_the_change() -> None:
    c = compare_samples(
        samples({"p50": [1.0, 100.0, 5.0, 50.0]}, {"p50": 10.0}),
        samples({"p50": [2.0, 90.0, 6.0, 40.0]}, {"p50": 20.0}),
    )
    assert c["p50"].verdict is Verdict.UNCHANGED
    assert c["p50"].reason.startswith("not significant")
    assert c["p50"].relative == 1.0


def test_error_rate_from_zero_is_a_regression_without_a_relative_change() -> None:
    c = compare_samples(
        samples({"error_rate": [0.0] * 10}), samples({"error_rate": [0.1, 0.2] * 5})
    )
    m = c["error_rate"]
    assert m.relative is None
    assert m.verdict is Verdict.REGRESSED
    assert "baseline 0" in m.reason


def test_opposite_directions_of_test_and_whole_run_value_are_unchanged() -> None:
    c = compare_samples(
        samples({"p99": [10.0] * 10}, {"p99": 500.0}),
        samples({"p99": [20.0] * 10}, {"p99": 100.0}),
    )
    assert c["p99"].verdict is Verdict.UNCHANGED
    assert "opposite" in c["p99"].reason


# -- degenerate inputs ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("base", "cand", "side"),
    [
        ([1.0, 2.0], [1.0, 2.0, 3.0], "baseline has 2 seconds"),
        ([1.0, 2.0, 3.0], [], "candidate has 0 seconds"),
        ([1.0, math.nan, 2.0, math.nan, 5.0], [1.0, math.nan, math.nan, 2.0], "candidate has 2"),
    ],
)
@TESTS
def test_too_few_seconds_is_insufficient_data(
    base: list[float], cand: list[float], side: str, test: SignificanceTest
) -> None:
    c = compare_samples(samples({"p50": base}), samples({"p50": cand}), test=test)
    m = c["p50"]
    assert m.verdict is Verdict.INSUFFICIENT_DATA
    assert side in m.reason
    assert m.p_value is None
    assert c.verdict is Verdict.INSUFFICIENT_DATA


def test_min_seconds_is_configurable() -> None:
    c = compare_samples(samples({"p50": [1.0, 2.0]}), samples({"p50": [1.0, 3.0]}), min_seconds=2)
    assert c["p50"].verdict is Verdict.UNCHANGED


def test_missing_whole_run_value_is_insufficient_data() -> None:
    c = compare_samples(
        samples({"p50": [1.0, 2.0, 3.0]}, {"p50": math.nan}), samples({"p50": [1.0, 2.0, 3.0]})
    )
    assert c["p50"].verdict is Verdict.INSUFFICIENT_DATA
    assert "whole-run" in c["p50"].reason


@TESTS
def test_identical_constant_samples_are_unchanged_without_a_test(test: SignificanceTest) -> None:
    c = compare_samples(samples({"p50": [7.0] * 5}), samples({"p50": [7.0] * 9}), test=test)
    assert c["p50"].verdict is Verdict.UNCHANGED
    assert c["p50"].p_value is None


def test_different_constant_samples_are_tested() -> None:
    c = compare_samples(samples({"p50": [7.0] * 20}), samples({"p50": [9.0] * 20}))
    assert c["p50"].verdict is Verdict.REGRESSED


def test_invalid_arguments_are_rejected() -> None:
    s = samples({"p50": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="alpha"):
        compare_samples(s, s, alpha=0.0)
    with pytest.raises(ValueError, match="min_change"):
        compare_samples(s, s, min_change=-0.1)
    with pytest.raises(ValueError, match="differ"):
        compare_samples(s, samples({"p95": [1.0, 2.0, 3.0]}))
    with pytest.raises(ValueError, match="direction"):
        compare_samples(samples({"p42": [1.0]}), samples({"p42": [1.0]}))
    with pytest.raises(ValueError, match="differ"):
        Samples({"p50": np.zeros(3)}, {})


def test_custom_directions_and_custom_tests_are_injected() -> None:
    calls: list[tuple[int, int]] = []

    def always_significant(a: FloatArray, b: FloatArray, /) -> SignificanceResult:
        calls.append((a.size, b.size))
        return SignificanceResult(0.0, 0.0, "stub")

    c = compare_samples(
        samples({"apdex": [0.9, 0.8, 0.9, math.nan]}),
        samples({"apdex": [0.5, 0.6, 0.5]}),
        test=always_significant,
        directions={"apdex": Direction.HIGHER_IS_BETTER},
    )
    assert calls == [(3, 3)]
    assert c["apdex"].test == "stub"
    assert c["apdex"].verdict is Verdict.REGRESSED


# -- the tests themselves ------------------------------------------------------------------------
def test_bootstrap_is_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.lognormal(0.0, 1.0, 40), rng.lognormal(0.3, 1.0, 40)
    first = bootstrap_median_diff(a, b, n_resamples=300, seed=7)
    assert first == bootstrap_median_diff(a, b, n_resamples=300, seed=7)
    assert first.statistic == pytest.approx(float(np.median(b) - np.median(a)))
    assert first.name == "bootstrap_median_diff"
    others = {bootstrap_median_diff(a, b, n_resamples=300, seed=s).p_value for s in range(5)}
    assert len(others) > 1


def test_bootstrap_p_value_bounds() -> None:
    a = np.arange(30.0)
    far = bootstrap_median_diff(a, a + 1000.0, n_resamples=99)
    assert far.p_value == pytest.approx(2 / 100)  # never 0 with finitely many resamples
    same = bootstrap_median_diff(np.ones(5), np.ones(5), n_resamples=99)
    assert same.p_value == 1.0
    # Large samples are resampled in several blocks.
    big = np.random.default_rng(0).normal(size=5000)
    assert 0.0 < bootstrap_median_diff(big, big + 0.01, n_resamples=300).p_value <= 1.0
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_median_diff(a, a, n_resamples=0)


def test_mann_whitney_edge_cases() -> None:
    tied = mann_whitney(np.ones(4), np.ones(6))
    assert (tied.statistic, tied.p_value, tied.name) == (12.0, 1.0, "mann_whitney")
    with pytest.raises(ValueError, match="at least one"):
        mann_whitney(np.ones(0), np.ones(3))
    r = mann_whitney(np.arange(10.0), np.arange(10.0) + 100.0)
    assert r.statistic == 0.0
    assert r.p_value < 0.001


# -- output --------------------------------------------------------------------------------------
def test_to_dict_is_json_with_no_nan() -> None:
    c = compare_samples(lognormal_run(seconds=2), lognormal_run(scale=2.0))
    d = c.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d
    assert d["verdict"] == "insufficient_data"
    p50 = d["metrics"]["p50"]
    assert set(p50) >= {
        "metric",
        "baseline",
        "candidate",
        "delta",
        "relative",
        "test",
        "p_value",
        "verdict",
        "reason",
    }
    assert p50["test"] == "mann_whitney"
    assert isinstance(c, Comparison)
    nan = compare_samples(
        samples({"p50": [math.nan] * 4}, {"p50": math.nan}), samples({"p50": [1.0] * 4})
    )
    assert json.loads(json.dumps(nan.to_dict(), allow_nan=False))["metrics"]["p50"]["delta"] is None
