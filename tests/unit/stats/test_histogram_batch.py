"""HistogramBatch and LogHistogram.merge_many: bulk merges equal one-by-one merges exactly."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intperf.stats import histogram_batch
from intperf.stats.histogram import MIN_INDEXABLE, LogHistogram, record_groups
from intperf.stats.histogram_batch import HistogramBatch

whole_ms = st.integers(0, 5_000).map(float)
fractional = st.floats(min_value=0.0, max_value=1e7, allow_nan=False)
extreme = st.sampled_from([0.0, -0.0, 5e-324, MIN_INDEXABLE, 1e-300, 1e300,
                           sys.float_info.max])
values = st.lists(st.one_of(whole_ms, whole_ms, fractional, extreme), max_size=30)
# The fixture only sets module constants: nothing to reset between examples.
FIXTURE_OK = [HealthCheck.function_scoped_fixture]
QS = (0.0, 0.001, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0)


def state(h: LogHistogram) -> str:
    """Everything observable, the float sum and signed zeros included (json keeps -0.0)."""
    d = h.to_dict()
    return json.dumps([d, repr(h.min), repr(h.max), h.quantiles(QS)])


@st.composite
def histograms(draw: st.DrawFn) -> LogHistogram:
    """A histogram as the code makes them: buffered, recorded, compact or filled in bulk."""
    h = LogHistogram()
    vs = draw(values)
    how = draw(st.sampled_from(["record", "many", "compact", "groups"]))
    if how == "record":
        for v in vs:
            h.record(v)
    elif how == "groups" and vs:
        record_groups([(h,)], np.array(vs, dtype=np.float64), [0, len(vs)])
    else:
        h.record_many(vs)
        if how == "compact":
            h.compact()
    return h


@pytest.fixture(params=["bulk", "medium", "small"])
def batch_sizes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run a test with the NumPy path forced even for few histograms, then with small and
    tiny chunks (several groups per dense pass and per read, partial last ones)."""
    monkeypatch.setattr(histogram_batch, "_SMALL", 0)
    if request.param == "medium":
        monkeypatch.setattr(histogram_batch, "_DENSE_CELLS", 1 << 12)
        monkeypatch.setattr(histogram_batch, "_ENTRIES", 300)
        monkeypatch.setattr(histogram_batch, "_SIDE_BY_SIDE", 3)
    if request.param == "small":
        monkeypatch.setattr(histogram_batch, "_DENSE_CELLS", 64)
        monkeypatch.setattr(histogram_batch, "_ENTRIES", 5)
        monkeypatch.setattr(histogram_batch, "_EXACT_FLOAT", 0)  # np.add.at on int64
        monkeypatch.setattr(histogram_batch, "_SIDE_BY_SIDE", 2)  # sums by cumsum too


@settings(max_examples=200, deadline=None, suppress_health_check=FIXTURE_OK)
@given(target=histograms(), others=st.lists(histograms(), max_size=25))
def test_merge_many_equals_sequential_merges(
    batch_sizes: None, target: LogHistogram, others: list[LogHistogram]
) -> None:
    expected = LogHistogram.from_dict(target.to_dict())
    for h in others:
        expected.merge(h)
    before = [state(h) for h in others]
    target.merge_many(others)
    assert state(target) == state(expected)
    assert target == expected
    assert [state(h) for h in others] == before  # the others are left alone


@settings(max_examples=150, deadline=None, suppress_health_check=FIXTURE_OK)
@given(data=st.data(), hists=st.lists(histograms(), max_size=25),
       n_groups=st.integers(1, 6))
def test_merge_groups_equals_merging_each_group(
    batch_sizes: None, data: st.DataObject, hists: list[LogHistogram], n_groups: int
) -> None:
    group_of = data.draw(st.lists(st.integers(-1, n_groups - 1), min_size=len(hists),
                                  max_size=len(hists)))
    merged = HistogramBatch.of(hists).merge_groups(np.array(group_of, dtype=np.int64),
                                                    n_groups)
    assert len(merged) == n_groups
    expected = [LogHistogram() for _ in range(n_groups)]
    for h, g in zip(hists, group_of, strict=True):
        if g >= 0:
            expected[g].merge(h)
    assert [state(h) for h in merged.histograms()] == [state(h) for h in expected]
    for got, want in zip(merged.quantiles(QS), [h.quantiles(QS) for h in expected],
                         strict=True):
        assert json.dumps(got) == json.dumps(want)  # NaN, -0.0 and the last bit alike


@settings(max_examples=100, deadline=None)
@given(hists=st.lists(histograms(), max_size=12))
def test_quantiles_of_unmerged_items_equal_each_histogram(hists: list[LogHistogram]) -> None:
    batch = HistogramBatch.of(hists)
    assert json.dumps(batch.quantiles(QS)) == json.dumps([h.quantiles(QS) for h in hists])
    assert [state(batch.histogram(i)) for i in range(len(hists))] == [state(h) for h in hists]


def test_many_compact_windows_merge_like_a_loop() -> None:
    rng = np.random.default_rng(7)
    hists = [LogHistogram() for _ in range(500)]
    sizes = rng.integers(0, 200, len(hists))
    vals = np.floor(rng.lognormal(4.5, 0.8, int(sizes.sum())))
    record_groups([(h,) for h in hists], vals, np.concatenate(([0], np.cumsum(sizes))))
    expected = LogHistogram()
    for h in hists:
        expected.merge(h)
    got = LogHistogram()
    got.merge_many(hists)
    assert state(got) == state(expected)


@pytest.mark.parametrize("dense", [1500, 2200, 3100])
@pytest.mark.parametrize("entries", [400, 700, 1000])
def test_many_groups_in_uneven_passes(
    monkeypatch: pytest.MonkeyPatch, dense: int, entries: int
) -> None:
    """Dense passes of several groups, read several groups at a time, the last one short."""
    monkeypatch.setattr(histogram_batch, "_DENSE_CELLS", dense)
    monkeypatch.setattr(histogram_batch, "_ENTRIES", entries)
    rng = np.random.default_rng(dense + entries)
    hists = [LogHistogram() for _ in range(600)]
    for h in hists:
        h.record_many(np.floor(rng.uniform(1.0, 400.0, int(rng.integers(0, 30)))))
    groups = rng.integers(-1, 97, len(hists))
    merged = HistogramBatch.of(hists).merge_groups(groups, 97)
    expected = [LogHistogram() for _ in range(97)]
    for h, g in zip(hists, groups.tolist(), strict=True):
        if g >= 0:
            expected[g].merge(h)
    assert [state(h) for h in merged.histograms()] == [state(h) for h in expected]


def test_sums_are_added_in_merge_order() -> None:
    """Float sums depend on the order: long and short groups add them one at a time."""
    rng = np.random.default_rng(11)
    hists = [LogHistogram() for _ in range(3000)]
    for h in hists:
        h.record_many(rng.lognormal(3.0, 4.0, int(rng.integers(0, 4))))
    groups = np.where(np.arange(3000) < 2000, 0, 1 + np.arange(3000) % 7)  # 2000, then ~140
    merged = HistogramBatch.of(hists).merge_groups(groups, 8)
    expected = [LogHistogram() for _ in range(8)]
    for h, g in zip(hists, groups.tolist(), strict=True):
        expected[g].merge(h)
    assert [state(h) for h in merged.histograms()] == [state(h) for h in expected]


def test_alpha_mismatch_merges_nothing() -> None:
    h = LogHistogram()
    h.record_many([1.0, 2.0])
    others = [LogHistogram() for _ in range(10)] + [LogHistogram(alpha=0.02)]
    for o in others:
        o.record(3.0)
    with pytest.raises(ValueError, match=r"cannot merge histograms with alpha 0\.01 and 0\.02"):
        h.merge_many(others)
    assert h.count == 2
    with pytest.raises(ValueError, match="alpha"):
        HistogramBatch.of(others)


def test_merging_a_histogram_into_itself_doubles_it_each_time() -> None:
    h = LogHistogram()
    h.record_many([1.0, 5.0])
    h.merge_many([h] * 9)
    assert h.count == 2 * 2**9


def test_bad_groups_and_quantiles_are_refused() -> None:
    batch = HistogramBatch.of([LogHistogram(), LogHistogram()])
    with pytest.raises(ValueError, match="group_of"):
        batch.merge_groups(np.array([0, 2]), 2)
    with pytest.raises(ValueError, match="group_of"):
        batch.merge_groups(np.array([0]), 2)
    with pytest.raises(ValueError, match="quantile"):
        batch.quantiles([1.5])
    assert HistogramBatch.of([]).quantiles([0.5]) == []
    empty = batch.merge_groups(np.array([-1, -1]), 3)
    assert [h.count for h in empty.histograms()] == [0, 0, 0]
    assert all(math.isnan(x) for row in empty.quantiles([0.5]) for x in row)
