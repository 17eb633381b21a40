"""LogHistogram: relative-error bound against exact quantiles, exact merges, round trips."""

from __future__ import annotations

import itertools
import json
import math
import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from intperf.stats.histogram import MIN_INDEXABLE, LogHistogram

ALPHA = 0.01
QS = (0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0)

# -- strategies ---------------------------------------------------------------------------------
# Values are 0 or normal floats: subnormals (< 2.2e-308) share the zero bucket by design.
positive = st.floats(min_value=MIN_INDEXABLE, max_value=sys.float_info.max)
value = st.one_of(st.just(0.0), positive)
tiny = st.floats(min_value=MIN_INDEXABLE, max_value=1e-290)
huge = st.floats(min_value=1e290, max_value=sys.float_info.max)
latency_like = st.floats(min_value=1e-3, max_value=1e6)


@st.composite
def lognormal(draw: st.DrawFn) -> list[float]:
    seed = draw(st.integers(0, 2**32 - 1))
    mu = draw(st.floats(-20, 20))
    sigma = draw(st.floats(0.0, 4.0))
    n = draw(st.integers(1, 3000))
    return list(np.random.default_rng(seed).lognormal(mu, sigma, n))


@st.composite
def constant(draw: st.DrawFn) -> list[float]:
    return [draw(value)] * draw(st.integers(1, 500))


samples = st.one_of(
    st.lists(value, min_size=1, max_size=300),
    st.lists(latency_like, min_size=1, max_size=300),
    st.lists(st.one_of(tiny, huge, st.just(0.0)), min_size=1, max_size=100),
    lognormal(),
    constant(),
)
quantile = st.one_of(st.sampled_from(QS), st.floats(0.0, 1.0))


def histogram(values: list[float]) -> LogHistogram:
    h = LogHistogram(ALPHA)
    h.record_many(values)
    return h


def assert_within_alpha(got: float, exact: float) -> None:
    assert abs(got - exact) <= ALPHA * exact, (got, exact, abs(got - exact) / exact)


# -- accuracy -------------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(samples, st.lists(quantile, min_size=1, max_size=20))
def test_quantiles_within_alpha_of_exact_nearest_rank(values: list[float], qs: list[float]) -> None:
    h = histogram(values)
    arr = np.array(values)
    for q, got in zip(qs, h.quantiles(qs), strict=True):
        exact = float(np.quantile(arr, q, method="inverted_cdf"))
        assert_within_alpha(got, exact)
        assert got == h.quantile(q)
        assert min(values) <= got <= max(values)


@settings(deadline=None)
@given(samples)
def test_count_min_max_are_exact_and_sum_is_the_float_sum(values: list[float]) -> None:
    h = histogram(values)
    assert h.count == len(values)
    assert h.min == min(values)
    assert h.max == max(values)
    assert h.quantile(0.0) == min(values)
    assert h.quantile(1.0) == max(values)
    assert h.zero + sum(h.bins.values()) == len(values)
    try:
        exact_sum = math.fsum(values)
    except OverflowError:
        exact_sum = math.inf
    if math.isfinite(exact_sum) and math.isfinite(h.sum):
        assert math.isclose(h.sum, exact_sum, rel_tol=1e-9, abs_tol=1e-300)
        assert math.isclose(h.mean, exact_sum / len(values), rel_tol=1e-9, abs_tol=1e-300)


def test_quantile_of_a_million_lognormal_values() -> None:
    values = np.random.default_rng(42).lognormal(3.0, 1.0, 1_000_000)
    h = LogHistogram(ALPHA)
    h.record_many(values)
    for q, got in zip(QS, h.quantiles(QS), strict=True):
        assert_within_alpha(got, float(np.quantile(values, q, method="inverted_cdf")))


@pytest.mark.parametrize("exact", [1e-300, 1e-9, 1.0, 2.0, 1e9, 1e300])
def test_values_on_bucket_edges_stay_within_alpha(exact: float) -> None:
    h = LogHistogram(ALPHA)
    idx = math.ceil(math.log(exact) / h._log_gamma)
    for v in (math.exp(idx * h._log_gamma), math.exp((idx - 1) * h._log_gamma)):
        for x in (math.nextafter(v, 0.0), v, math.nextafter(v, math.inf)):
            one = LogHistogram(ALPHA)
            one.record_many([x, x * 4.0])  # the quantile is not clamped to min/max
            assert_within_alpha(one.quantile(0.25), x)


def test_value_of_is_within_alpha_of_its_bucket() -> None:
    h = LogHistogram(ALPHA)
    gamma = math.exp(h._log_gamma)
    for index in (-35_000, -100, -1, 0, 1, 100, 35_000):
        rep = h.value_of(index)
        upper = gamma**index
        lower = gamma ** (index - 1)
        assert lower < rep < upper
        assert (upper - rep) / upper <= ALPHA
        assert (rep - lower) / lower <= ALPHA
    assert h.value_of(10**6) == math.inf


# -- merges ---------------------------------------------------------------------------------------
@settings(deadline=None)
@given(samples, st.data())
def test_merge_equals_histogram_of_concatenation(values: list[float], data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(values)), max_size=4)))
    bounds = [0, *cuts, len(values)]
    merged = LogHistogram(ALPHA)
    for lo, hi in itertools.pairwise(bounds):
        merged.merge(histogram(values[lo:hi]))
    whole = histogram(values)
    assert merged == whole
    assert merged.quantiles(QS) == whole.quantiles(QS)
    assert math.isclose(merged.sum, whole.sum, rel_tol=1e-9) or not math.isfinite(whole.sum)


@settings(deadline=None)
@given(samples, samples, samples)
def test_merge_is_commutative_and_associative(
    a: list[float], b: list[float], c: list[float]
) -> None:
    ha, hb, hc = histogram(a), histogram(b), histogram(c)
    ab = ha.copy()
    ab.merge(hb)
    ba = hb.copy()
    ba.merge(ha)
    assert ab == ba
    left = ab.copy()
    left.merge(hc)
    bc = hb.copy()
    bc.merge(hc)
    right = ha.copy()
    right.merge(bc)
    assert left == right == histogram(a + b + c)
    assert histogram(a) == ha  # merging does not touch the argument


def test_merge_with_empty_and_with_itself() -> None:
    h = histogram([1.0, 2.0, 3.0])
    h.merge(LogHistogram(ALPHA))
    assert h == histogram([1.0, 2.0, 3.0])
    h.merge(h)
    assert h == histogram([1.0, 2.0, 3.0] * 2)
    empty = LogHistogram(ALPHA)
    empty.merge(h)
    assert empty == h


def test_merge_refuses_another_alpha() -> None:
    with pytest.raises(ValueError, match="alpha"):
        LogHistogram(0.01).merge(LogHistogram(0.02))


def test_copy_is_independent() -> None:
    h = histogram([1.0, 2.0])
    c = h.copy()
    c.record(5.0)
    assert h.count == 2
    assert c.count == 3


# -- record vs record_many ----------------------------------------------------------------------
@settings(deadline=None)
@given(st.lists(value, max_size=300))
def test_record_and_record_many_build_the_same_histogram(values: list[float]) -> None:
    one = LogHistogram(ALPHA)
    for v in values:
        one.record(v)
    assert one == histogram(values)
    assert one.sum == histogram(values).sum or not values


def test_record_many_accepts_arrays_and_buffered_records_flush_in_batches() -> None:
    values = np.random.default_rng(7).lognormal(2.0, 2.0, 10_000)
    one = LogHistogram(ALPHA)
    for v in values.tolist():
        one.record(v)
    batch = LogHistogram(ALPHA)
    batch.record_many(values)
    assert one == batch
    assert one.to_dict()["counts"] == batch.to_dict()["counts"]


# -- serialization --------------------------------------------------------------------------------
@settings(deadline=None)
@given(samples)
def test_to_dict_from_dict_round_trips_exactly_through_json(values: list[float]) -> None:
    h = histogram(values)
    d = h.to_dict()
    assume(math.isfinite(d["sum"]))  # JSON has no infinity
    back = LogHistogram.from_dict(json.loads(json.dumps(d)))
    assert back == h
    assert back.sum == h.sum
    assert back.to_dict() == d
    assert back.quantiles(QS) == h.quantiles(QS)


def test_empty_histogram() -> None:
    h = LogHistogram()
    assert h.count == 0
    assert math.isnan(h.mean)
    assert math.isnan(h.quantile(0.5))
    assert h.quantiles([0.1, 0.9]) == [pytest.approx(math.nan, nan_ok=True)] * 2
    assert LogHistogram.from_dict(h.to_dict()) == h
    assert h.to_dict()["min"] is None


def test_from_dict_rejects_inconsistent_counts() -> None:
    d = histogram([1.0, 2.0]).to_dict()
    d["count"] = 3
    with pytest.raises(ValueError, match="add up"):
        LogHistogram.from_dict(d)


# -- examples and errors --------------------------------------------------------------------------
def test_small_example_matches_nearest_rank() -> None:
    h = histogram([float(v) for v in range(1, 101)])  # 1..100 ms
    assert h.quantile(0.5) == pytest.approx(50.0, rel=ALPHA)
    assert h.quantile(0.99) == pytest.approx(99.0, rel=ALPHA)
    # 0.07 * 100 is 7.000000000000001 in floating point: like numpy, the rank is then 8.
    assert np.quantile(np.arange(1.0, 101.0), 0.07, method="inverted_cdf") == 8.0
    assert h.quantile(0.07) == pytest.approx(8.0, rel=ALPHA)
    assert h.mean == 50.5


def test_zeros_are_exact() -> None:
    h = histogram([0.0] * 90 + [10.0] * 10)
    assert h.quantile(0.5) == 0.0
    assert h.quantile(0.9) == 0.0
    assert h.quantile(0.95) == pytest.approx(10.0, rel=ALPHA)
    assert h.zero == 90


@pytest.mark.parametrize("bad", [-1.0, -1e-300, math.nan, math.inf, -math.inf])
def test_invalid_values_are_rejected_and_record_nothing(bad: float) -> None:
    h = histogram([1.0])
    with pytest.raises(ValueError, match="finite and non-negative"):
        h.record(bad)
    with pytest.raises(ValueError, match="finite and non-negative"):
        h.record_many([2.0, bad, 3.0])
    assert h == histogram([1.0])


@pytest.mark.parametrize("q", [-0.1, 1.1, math.nan])
def test_quantile_outside_unit_interval_is_rejected(q: float) -> None:
    with pytest.raises(ValueError, match="quantile"):
        histogram([1.0]).quantile(q)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.5])
def test_alpha_must_be_in_open_unit_interval(alpha: float) -> None:
    with pytest.raises(ValueError, match="relative accuracy"):
        LogHistogram(alpha)


def test_huge_values_whose_sum_overflows() -> None:
    h = histogram([sys.float_info.max, sys.float_info.max])
    assert h.sum == math.inf
    assert h.quantile(0.5) == sys.float_info.max


def test_histogram_is_not_hashable_and_has_a_repr() -> None:
    h = histogram([1.0, 2.0])
    with pytest.raises(TypeError):
        hash(h)
    assert repr(h) == "LogHistogram(alpha=0.01, count=2, buckets=2)"


@given(
    st.lists(st.floats(min_value=1e-3, max_value=1e6), min_size=1, max_size=300),
    st.lists(st.floats(min_value=1e-3, max_value=1e6), max_size=100),
)
def test_compact_storage_changes_nothing(values: list[float], more: list[float]) -> None:
    plain = LogHistogram()
    plain.record_many(values)
    packed = LogHistogram()
    packed.record_many(values)
    packed.compact()
    qs = [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0]
    assert packed.quantiles(qs) == plain.quantiles(qs)
    assert packed.to_dict() == plain.to_dict()
    assert packed == plain
    target = LogHistogram()
    target.merge(packed)  # reading a compact histogram leaves it compact and correct
    assert target == plain
    packed.record_many(more)  # writing turns it back into a dict
    plain.record_many(more)
    assert packed == plain
    assert packed.quantiles(qs) == plain.quantiles(qs)
