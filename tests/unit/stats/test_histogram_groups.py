"""record_groups: many histograms filled in one NumPy pass, exactly as record_many + compact."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intperf.stats.histogram import MIN_INDEXABLE, LogHistogram, record_groups

whole_ms = st.integers(0, 200_000).map(float)  # the table path (below 2**17) and beyond
fractional = st.floats(min_value=0.0, max_value=1e7, allow_nan=False)
extreme = st.sampled_from([0.0, -0.0, 5e-324, MIN_INDEXABLE, 1e-300, 1e300,
                           sys.float_info.max])
values_of_a_group = st.lists(st.one_of(whole_ms, fractional, extreme), max_size=40)


def state(h: LogHistogram) -> str:
    """Everything observable, sum and signed zeros included (json keeps -0.0)."""
    frozen = h._frozen  # array types may be narrower than compact()'s: values count
    arrays = None if frozen is None else (list(frozen[0]), list(frozen[1]))
    return json.dumps([h.to_dict(), arrays, h._bins, h._pending])


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[list[float]], list[list[float] | None], bool]:
    n = draw(st.integers(1, 12))
    groups = [draw(values_of_a_group) for _ in range(n)]
    if draw(st.booleans()):  # all whole: the exact-sum and table paths
        groups = [[float(int(abs(v) % 70_000)) for v in g] for g in groups]
    # Some histograms already hold values (compact or not): the one-by-one path.
    before = [draw(st.one_of(st.none(), st.lists(whole_ms, max_size=5))) for _ in range(n)]
    return groups, before, draw(st.booleans())


def build(before: list[list[float] | None], compact: bool) -> list[tuple[LogHistogram, ...]]:
    out = []
    for prior in before:
        pair = (LogHistogram(), LogHistogram())
        for h in pair:
            if prior is not None:
                h.record_many(prior)
                if compact:
                    h.compact()
        out.append(pair)
    return out


@settings(max_examples=300, deadline=None)
@given(cases())
def test_equals_record_many_then_compact(
    case: tuple[list[list[float]], list[list[float] | None], bool],
) -> None:
    groups, before, compact = case
    expected = build(before, compact)
    for pair, values in zip(expected, groups, strict=True):
        for h in pair:
            h.record_many(values)
            h.compact()
    got = build(before, compact)
    bounds = np.cumsum([0, *map(len, groups)])
    record_groups(got, np.array([v for g in groups for v in g], dtype=np.float64), bounds)
    for want_pair, got_pair in zip(expected, got, strict=True):
        for want, have in zip(want_pair, got_pair, strict=True):
            assert state(have) == state(want)


def test_fresh_histograms_of_a_group_share_their_arrays_until_written() -> None:
    a, b = LogHistogram(), LogHistogram()
    record_groups([(a, b)], [1.0, 2.0, 2.0, 300.5], [0, 4])
    assert a._frozen is not None and b._frozen is a._frozen
    a.record(7.0)  # a write thaws a into its own dict; b keeps the arrays
    assert a.count == 5 and b.count == 4
    c = LogHistogram()
    c.record_many([1.0, 2.0, 2.0, 300.5])
    assert b == c and b.sum == c.sum


def test_arrays_are_the_narrowest_that_hold_the_buckets() -> None:
    small, wide = LogHistogram(), LogHistogram()  # (chosen for all the groups of a call)
    record_groups([(small,)], [1.0, 5.0, 5.0], [0, 3])
    record_groups([(wide,)], [1e300] * 70_000, [0, 70_000])
    assert small._frozen is not None and wide._frozen is not None
    assert (small._frozen[0].typecode, small._frozen[1].typecode) == ("h", "B")
    assert (wide._frozen[0].typecode, wide._frozen[1].typecode) == ("i", "I")
    want = LogHistogram()
    want.record_many([1e300] * 70_000)
    assert wide.to_dict() == want.to_dict() and wide.quantile(0.5) == want.quantile(0.5)


def test_a_histogram_given_twice_counts_twice() -> None:
    h = LogHistogram()
    record_groups([(h,), (h,)], [1.0, 2.0, 3.0], [0, 1, 3])
    assert h.count == 3 and h.min == 1.0 and h.max == 3.0


def test_bad_values_record_nothing() -> None:
    a, b = LogHistogram(), LogHistogram()
    with pytest.raises(ValueError, match="non-negative"):
        record_groups([(a,), (b,)], [1.0, -2.0], [0, 1, 2])
    with pytest.raises(ValueError, match="non-negative"):
        record_groups([(a,), (b,)], [1.0, math.nan], [0, 1, 2])
    assert a.count == b.count == 0


@pytest.mark.parametrize("bounds", [[0, 1], [1, 2, 3], [0, 2, 1], [0, 1, 4]])
def test_bounds_must_cover_the_values(bounds: list[int]) -> None:
    with pytest.raises(ValueError, match="bounds"):
        record_groups([(LogHistogram(),), (LogHistogram(),)], [1.0, 2.0, 3.0], bounds)


def test_empty_groups_and_no_groups() -> None:
    record_groups([], [], [0])
    h = LogHistogram()
    record_groups([(h,)], [], [0, 0])
    assert h.count == 0 and h.to_dict() == LogHistogram().to_dict()


def test_many_groups_take_the_sparse_count() -> None:
    # groups x buckets over the dense limit: counted with np.unique, same result.
    rng = np.random.default_rng(3)
    values = rng.lognormal(3.0, 6.0, 20_000).clip(max=1e300)
    bounds = np.arange(0, 20_001, 4)
    got = [(LogHistogram(),) for _ in range(5_000)]
    record_groups(got, values, bounds)
    for i in range(0, 5_000, 250):
        want = LogHistogram()
        want.record_many(values[bounds[i] : bounds[i + 1]].tolist())
        want.compact()
        assert state(got[i][0]) == state(want)
