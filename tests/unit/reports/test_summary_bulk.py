"""The bulk path (SeriesIndex) gives the very summary, criteria and aggregates of the old one.

The old path merged every window one by one (``TimeSeries.aggregate``, the summary as kept in
``_summary_reference``); the bulk one merges them with NumPy. Results must be identical: the
same JSON to the last bit of every float sum, the same kept messages, the same verdicts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intperf.loadtest.criteria import Criterion, evaluate, evaluate_all
from intperf.loadtest.results import (
    ErrorClass,
    RequestWindow,
    SecondWindow,
    SeriesIndex,
    TimeSeries,
)
from intperf.reports import RunInfo, build_summary, criteria_dicts
from intperf.reports import summary as summary_module
from intperf.stats.histogram import MIN_INDEXABLE, LogHistogram, record_groups

from ._summary_reference import reference_summary

NAMES = ["GET /a", "POST /b", "c, \"d\"", "é"]
CLASSES = [c.value for c in ErrorClass] + ["unknown_class"]
MESSAGES = [f"message {i}" for i in range(30)]  # more than MAX_MESSAGES (20) distinct
values = st.lists(st.one_of(st.integers(0, 3000).map(float), st.floats(0.0, 1e5),
                            st.sampled_from([0.0, 5e-324, MIN_INDEXABLE, 1e300])), max_size=12)


@st.composite
def histogram_pairs(draw: st.DrawFn) -> tuple[LogHistogram, LogHistogram]:
    """Latency and service histograms as the engine, the importers and storage make them."""
    lat, svc = LogHistogram(), LogHistogram()
    how = draw(st.sampled_from(["shared", "compact", "dict", "pending"]))
    lv = draw(values)
    if how == "shared" and lv:  # record_groups: one pair of arrays for both (imports)
        record_groups([(lat, svc)], np.array(lv), [0, len(lv)])
        return lat, svc
    sv = draw(values)
    for h, vs in ((lat, lv), (svc, sv)):
        if how == "pending":
            for v in vs:
                h.record(v)
        else:
            h.record_many(vs)
            if how == "compact":
                h.compact()
    return lat, svc


@st.composite
def windows(draw: st.DrawFn) -> RequestWindow:
    lat, svc = draw(histogram_pairs())
    big = draw(st.sampled_from([0, 0, 0, 2**60]))  # totals past 2**53: exact integer path
    w = RequestWindow(lat, svc, ok=draw(st.integers(0, 50)),
                      bytes_in=draw(st.integers(0, 10**6)) + big,
                      bytes_out=draw(st.integers(0, 10**6)))
    for cls in draw(st.lists(st.sampled_from(CLASSES), max_size=3, unique=True)):
        w.errors[cls] = draw(st.integers(0, 5))  # 0 too: the key is still there
    for m in draw(st.lists(st.sampled_from(MESSAGES), max_size=6, unique=True)):
        w.messages[m] = draw(st.integers(1, 5))
    return w


@st.composite
def series_of(draw: st.DrawFn) -> TimeSeries:
    """Seconds out of order, with gaps, negative ones and seconds without requests."""
    series = TimeSeries()
    seconds = draw(st.lists(st.integers(-3, 60), max_size=30, unique=True))
    for s in seconds:
        sw = series.at(s)
        sw.active_users, sw.started_users = draw(st.integers(0, 9)), draw(st.integers(0, 3))
        sw.iterations, sw.dropped = draw(st.integers(0, 9)), draw(st.integers(0, 2))
        for name in draw(st.lists(st.sampled_from(NAMES), max_size=4, unique=True)):
            sw.requests[name] = draw(windows())
    return series


def info_for(series: TimeSeries, duration: float) -> RunInfo:
    start = datetime(2026, 1, 2, tzinfo=UTC)
    return RunInfo(run_id="r", scenario="s", scenario_source="s.yaml", base_url="",
                   model="closed", started_at=start, ended_at=start + timedelta(seconds=duration),
                   duration_s=duration, processes=1, status="passed")


def dumped(value: Any) -> str:
    return json.dumps(value, sort_keys=False)  # keeps -0.0, key order and every float bit


@st.composite
def criteria_lists(draw: st.DrawFn) -> list[Criterion]:
    out = []
    for _ in range(draw(st.integers(1, 5))):
        metric = draw(st.sampled_from(["response_time", "service_time", "error_rate",
                                       "errors", "requests", "rps"]))
        timed = metric.endswith("_time")
        out.append(Criterion(
            text="", metric=metric,  # type: ignore[arg-type]
            stat=draw(st.sampled_from(["avg", "min", "max", "median", "p90", "p99.9", "p100"]))
            if timed else None,
            scope=draw(st.sampled_from([None, None, *NAMES, "missing"])),
            op=draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="])),
            threshold=float(draw(st.integers(0, 1 if metric == "error_rate" else 3000))),
            window=draw(st.sampled_from([None, None, 1, 3, 10])),
        ))
    return out


@settings(max_examples=120, deadline=None)
@given(series=series_of(), criteria=criteria_lists(),
       duration=st.sampled_from([0.0, 7.5, 30.0, 61.0]),
       cells_at_once=st.sampled_from([4096, 1, 5]))
def test_summary_and_criteria_equal_the_window_by_window_path(
    series: TimeSeries, criteria: list[Criterion], duration: float, cells_at_once: int
) -> None:
    run_seconds = duration or None
    old = [evaluate(c, series, run_seconds=run_seconds) for c in criteria]
    expected = reference_summary(series, criteria_dicts(old), info_for(series, duration))
    index = SeriesIndex(series)  # shared by both, as save_import does
    new = evaluate_all(criteria, series, run_seconds, index=index)
    assert [(r.passed, repr(r.observed), r.message, r.window) for r in new] == [
        (r.passed, repr(r.observed), r.message, r.window) for r in old]
    with pytest.MonkeyPatch.context() as mp:  # per-request series merged in runs of buckets
        mp.setattr(summary_module, "_CELLS_AT_ONCE", cells_at_once)
        got = build_summary(series, criteria_dicts(new), info_for(series, duration),
                            index=index)
    assert dumped(got) == dumped(expected)
    assert dumped(build_summary(series, criteria_dicts(new), info_for(series, duration))) == (
        dumped(expected))  # an index of its own


@settings(max_examples=100, deadline=None)
@given(series=series_of(), data=st.data())
def test_aggregates_equal_merging_window_by_window(
    series: TimeSeries, data: st.DataObject
) -> None:
    index = SeriesIndex(series)
    names = data.draw(st.one_of(st.none(), st.lists(st.sampled_from([*NAMES, "x"]))))
    assert dumped(index.aggregate(names).to_dict()) == dumped(series.aggregate(names).to_dict())
    totals = {n: RequestWindow() for n in series.request_names}
    for sw in series.seconds.values():
        for n, w in sw.requests.items():
            totals[n].merge(w)
    assert {n: dumped(w.to_dict()) for n, w in index.totals().items()} == {
        n: dumped(w.to_dict()) for n, w in totals.items()}


@pytest.mark.parametrize("cells_at_once", [4096, 50])
def test_a_long_imported_series_matches_in_every_figure(
    monkeypatch: pytest.MonkeyPatch, cells_at_once: int
) -> None:
    """Many seconds and names with fractional times (sums whose order shows), as imported."""
    monkeypatch.setattr(summary_module, "_CELLS_AT_ONCE", cells_at_once)
    rng = np.random.default_rng(5)
    series = TimeSeries()
    for s in range(900):
        sw = series.at(s)
        groups = [(LogHistogram(), LogHistogram()) for _ in NAMES]
        sizes = rng.integers(0, 40, len(NAMES))
        record_groups(groups, rng.lognormal(4.0, 1.0, int(sizes.sum())),
                      np.concatenate(([0], np.cumsum(sizes))))
        for name, (lat, svc), n in zip(NAMES, groups, sizes.tolist(), strict=True):
            w = sw.requests[name] = RequestWindow(lat, svc, ok=n)
            if n % 7 == 0:
                w.add_error(ErrorClass.HTTP_5XX, MESSAGES[s % 25])
    texts = [Criterion("", "response_time", "avg", None, "<", 80.0),
             Criterion("", "service_time", "p99", NAMES[1], "<", 500.0, window=30),
             Criterion("", "error_rate", None, None, "<", 0.01, window=10),
             Criterion("", "rps", None, None, ">", 10.0)]
    old = [evaluate(c, series, run_seconds=900.0) for c in texts]
    expected = reference_summary(series, criteria_dicts(old), info_for(series, 900.0))
    index = SeriesIndex(series)
    new = evaluate_all(texts, series, 900.0, index=index)
    assert [(r.passed, repr(r.observed), r.message) for r in new] == [
        (r.passed, repr(r.observed), r.message) for r in old]
    got = build_summary(series, criteria_dicts(new), info_for(series, 900.0), index=index)
    assert dumped(got) == dumped(expected)


def test_another_alpha_fails_or_passes_as_before() -> None:
    """Windowed criteria merged series of another alpha; whole-run ones and the summary not."""
    series = TimeSeries()
    for s in range(5):
        sw = SecondWindow(s)
        sw.requests["a"] = RequestWindow(LogHistogram(0.02), LogHistogram(0.02), ok=1)
        sw.requests["a"].latency.record(10.0 + s)
        series.add(sw)
    windowed = Criterion("", "response_time", "p99", None, "<", 100.0, window=2)
    assert evaluate_all([windowed], series)[0] == evaluate(windowed, series)
    whole = Criterion("", "response_time", "p99", None, "<", 100.0)
    with pytest.raises(ValueError, match="alpha"):
        evaluate(whole, series)
    with pytest.raises(ValueError, match="alpha"):
        evaluate_all([whole], series)
    with pytest.raises(ValueError, match="alpha"):
        build_summary(series, [], info_for(series, 5.0))


def test_empty_series() -> None:
    series = TimeSeries()
    index = SeriesIndex(series)
    assert index.names == []
    assert dumped(index.aggregate().to_dict()) == dumped(RequestWindow().to_dict())
    assert dumped(build_summary(series, [], info_for(series, 0.0), index=index)) == dumped(
        reference_summary(series, [], info_for(series, 0.0)))
