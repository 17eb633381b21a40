"""Live latency histograms: LogHistogram buckets onto ``le`` bounds, cumulative totals."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector, CollectorRegistry

from intperf.loadtest.results import ErrorClass, RequestWindow, SecondWindow
from intperf.monitor.metrics_live import (
    BucketMapper,
    ServiceTotals,
    add_window,
    latency_bounds,
    le_label,
    live_families,
    set_latest_quantiles,
)

DAY = datetime(2026, 11, 25, tzinfo=UTC)
BOUNDS = latency_bounds((2.0, 0.3))


def _window(second: int, values_ms: list[float], failed: int = 0) -> dict:
    w = SecondWindow(second)
    rw = w.window("GET /x")
    rw.latency.record_many(values_ms)
    rw.service.record_many(values_ms)
    rw.ok = len(values_ms) - failed
    if failed:
        rw.add_error(ErrorClass.HTTP_5XX, "boom", failed)
    return w.to_dict()


def _scrape(totals: list[ServiceTotals]) -> dict:
    class C(Collector):
        def collect(self):  # type: ignore[no-untyped-def]
            yield from live_families(totals, BOUNDS, 60.0)

    reg = CollectorRegistry(auto_describe=False)
    reg.register(C())
    text = generate_latest(reg).decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_bounds_include_thresholds_sorted_unique() -> None:
    assert tuple(sorted(set(BOUNDS))) == BOUNDS
    assert 0.3 in BOUNDS and 2.0 in BOUNDS
    assert le_label(0.5) == "0.5" and le_label(2) == "2.0"
    assert le_label(1 / 3) == le_label(0.333333)


def test_histogram_counts_match_exact_counts_within_bucket_error() -> None:
    rng = np.random.default_rng(7)
    values = rng.lognormal(5.0, 1.0, 20_000)  # ms
    t = ServiceTotals.empty("shop", "run", DAY, len(BOUNDS))
    mapper = BucketMapper(BOUNDS)
    add_window(t, 0, _window(0, values[:10_000].tolist(), failed=3), mapper)
    last = _window(60, values[10_000:].tolist())
    add_window(t, 60, last, mapper)
    set_latest_quantiles(t, last)
    cum = t.cumulative()
    assert cum[-1] == t.count == 20_000 and t.errors == 3 and t.windows == 2
    assert abs(t.sum_s - values.sum() / 1000) < 1e-6 * values.sum()
    for bound, got in zip(BOUNDS, cum, strict=False):
        lo = int((values <= bound * 1000 * 0.99).sum())
        hi = int((values <= bound * 1000 * 1.01).sum())
        assert lo <= got <= hi, (bound, lo, got, hi)
    assert t.latest_start == datetime(2026, 11, 25, 0, 1, tzinfo=UTC)
    assert t.latest_requests == 10_000 and t.latest_errors == 0
    p99 = float(np.quantile(values[10_000:], 0.99, method="inverted_cdf")) / 1000
    assert abs(t.latest_quantiles_s[2] - p99) <= 0.011 * p99
    assert len(t.latest_quantiles_s) == 3


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.floats(0, 60_000), max_size=50), min_size=1, max_size=6))
def test_cumulative_buckets_are_monotonic_and_end_at_count(windows: list[list[float]]) -> None:
    t = ServiceTotals.empty("shop", "run", DAY, len(BOUNDS))
    mapper = BucketMapper(BOUNDS)
    previous = [0] * (len(BOUNDS) + 1)
    for i, values in enumerate(windows):
        add_window(t, i * 60, _window(i * 60, values), mapper)
        cum = t.cumulative()
        assert all(a <= b for a, b in itertools.pairwise(cum))  # le-monotonic
        assert all(p <= c for p, c in zip(previous, cum, strict=True))  # never decreases
        assert cum[-1] == t.count
        previous = cum


def test_families_are_valid_prometheus_histograms() -> None:
    t = ServiceTotals.empty("shop", "run", DAY, len(BOUNDS))
    window = _window(120, [1.0, 250.0, 1900.0, 0.0], failed=1)
    add_window(t, 120, window, BucketMapper(BOUNDS))
    set_latest_quantiles(t, window)
    empty = ServiceTotals.empty("idle", "run2", DAY, len(BOUNDS))
    fams = _scrape([empty, t])
    h = fams["intperf_live_response_time_seconds"]
    assert h.type == "histogram"
    shop = {s.labels["le"]: s.value for s in h.samples
            if s.name.endswith("_bucket") and s.labels["service"] == "shop"}
    assert shop["+Inf"] == 4 and shop["0.005"] == 2 and shop["0.3"] == 3 and shop["2.0"] == 4
    count = [s.value for s in h.samples
             if s.name.endswith("_count") and s.labels["service"] == "shop"]
    assert count == [4.0]
    assert fams["intperf_live_errors"].type == "counter"
    ratio = fams["intperf_live_error_ratio"].samples
    assert [(s.labels["service"], s.value) for s in ratio] == [("shop", 0.25)]
    q = {s.labels["percentile"]
         for s in fams["intperf_live_window_response_time_seconds"].samples}
    assert q == {"50", "95", "99"}
    tp = fams["intperf_live_throughput_requests_per_second"].samples
    assert tp[0].value == 4 / 60


def test_merge_of_windows_equals_merged_window() -> None:
    """Folding two windows gives the buckets of folding their merge (exact mergeability)."""
    a, b = [3.0, 40.0, 700.0], [12.0, 40.0, 3000.0, 9.0]
    mapper = BucketMapper(BOUNDS)
    t1 = ServiceTotals.empty("s", "r", DAY, len(BOUNDS))
    add_window(t1, 0, _window(0, a), mapper)
    add_window(t1, 60, _window(60, b), mapper)
    merged = SecondWindow(0)
    for d in (_window(0, a), _window(60, b)):
        merged.merge(SecondWindow.from_dict(d))
    t2 = ServiceTotals.empty("s", "r", DAY, len(BOUNDS))
    add_window(t2, 0, merged.to_dict(), mapper)
    assert t1.buckets == t2.buckets and t1.count == t2.count
    assert isinstance(RequestWindow().latency.alpha, float)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([0.01, 0.02, 0.005]), st.lists(st.integers(-400, 1500), min_size=1))
def test_vectorised_bucket_placement_is_by_representative_value(alpha: float,
                                                                 keys: list[int]) -> None:
    import bisect

    from intperf.stats.histogram import LogHistogram

    mapper = BucketMapper(BOUNDS)
    h = LogHistogram(alpha)
    expected = [0] * (len(BOUNDS) + 1)
    for k in keys:
        expected[bisect.bisect_left(mapper.bounds_ms, h.value_of(k))] += 1
    assert mapper.counts(alpha, keys, [1] * len(keys)) == expected
