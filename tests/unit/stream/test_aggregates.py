"""Window aggregates merge exactly: random partitions merged equal the aggregate of the whole."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intperf.loadtest.results import RequestWindow
from intperf.stats.histogram import LogHistogram
from intperf.stream.aggregates import CacheStats, CountStats, LatencyStats

durations = st.floats(0, 1e7, allow_nan=False)
events = st.lists(st.tuples(durations, st.booleans()), max_size=60)


def split(items: list[Any], cuts: list[int]) -> list[list[Any]]:
    edges = [0, *sorted(c % (len(items) + 1) for c in cuts), len(items)]
    return [items[a:b] for a, b in itertools.pairwise(edges)]


@pytest.mark.parametrize("cls", [LatencyStats, CacheStats])
@given(items=events, cuts=st.lists(st.integers(0, 1000), max_size=5))
@settings(max_examples=150, deadline=None)
def test_merged_partitions_equal_the_whole(cls: Any, items: list[Any], cuts: list[int]) -> None:
    whole = cls()
    whole.record_many([v for v, _ in items], [f for _, f in items])
    merged = cls()
    for part in split(items, cuts):
        p = cls()
        if len(part) % 2:  # both recording paths
            for v, f in part:
                p.record(v, f)
        else:
            p.record_many(np.array([v for v, _ in part]), np.array([f for _, f in part], bool))
        merged.merge(p)
    assert merged == whole
    assert merged.count == len(items)
    h = LogHistogram()  # the histogram is the one built from the raw values
    h.record_many([v for v, _ in items])
    hist = merged.histogram if isinstance(merged, LatencyStats) else merged.latency
    assert hist == h
    assert math.isclose(hist.sum, math.fsum(v for v, _ in items), rel_tol=1e-9, abs_tol=1e-6)
    again = cls.from_dict(json.loads(json.dumps(merged.to_dict())))
    assert again == merged


@given(
    values=st.lists(st.floats(-1e9, 1e9, allow_nan=False) | st.just(math.nan), max_size=60),
    cuts=st.lists(st.integers(0, 1000), max_size=5),
)
@settings(max_examples=150, deadline=None)
def test_count_stats_merge_exactly(values: list[float], cuts: list[int]) -> None:
    whole = CountStats()
    whole.record_many(values)
    merged = CountStats()
    for part in split(values, cuts):
        p = CountStats()
        for v in part:
            p.record(v)
        merged.merge(p)
    present = [v for v in values if not math.isnan(v)]
    assert merged == whole
    assert (merged.count, merged.valued) == (len(values), len(present))
    assert math.isclose(merged.total, math.fsum(present), rel_tol=1e-9, abs_tol=1e-3)
    if present:
        assert (merged.min, merged.max) == (min(present), max(present))
    assert CountStats.from_dict(json.loads(json.dumps(merged.to_dict()))) == merged


def test_latency_stats_numbers() -> None:
    s = LatencyStats()
    s.record_many(np.arange(1, 101, dtype=float), np.arange(100) < 5)
    assert (s.count, s.errors, s.error_rate) == (100, 5, 0.05)
    assert s.sum_ms == 5050.0
    assert s.mean == 50.5
    assert abs(s.p50 - 50) <= 0.5
    assert abs(s.p99 - 99) <= 1
    summary = s.summary()
    assert summary["p95_ms"] == s.p95
    assert (summary["min_ms"], summary["max_ms"]) == (1.0, 100.0)
    assert math.isnan(LatencyStats().error_rate)
    assert math.isnan(LatencyStats().summary()["min_ms"])


def test_latency_stats_become_a_request_window() -> None:
    s = LatencyStats()
    s.record_many([10.0, 20.0, 30.0], [False, True, False])
    w = s.to_request_window()
    assert isinstance(w, RequestWindow)
    assert (w.requests, w.ok, w.failed, w.errors) == (3, 2, 1, {"other": 1})
    assert w.latency == s.histogram
    assert w.service == s.histogram
    assert w.latency is not s.histogram


def test_cache_stats_numbers() -> None:
    c = CacheStats()
    c.record_many([0.1, 0.2, 0.3, 5.0], [True, True, True, False])
    assert (c.count, c.hits, c.misses, c.hit_rate) == (4, 3, 1, 0.75)
    assert c.summary()["hit_rate"] == 0.75
    assert math.isnan(CacheStats().hit_rate)


def test_bad_values_record_nothing() -> None:
    s = LatencyStats()
    with pytest.raises(ValueError, match="finite and non-negative"):
        s.record_many([1.0, -1.0], [True, True])
    assert (s.count, s.errors) == (0, 0)
    with pytest.raises(ValueError, match="flags"):
        s.record_many([1.0], [True, False])
    with pytest.raises(ValueError, match="durations"):
        LatencyStats.check_values(np.array([math.nan]))
    with pytest.raises(ValueError, match="finite or NaN"):
        CountStats.check_values(np.array([math.inf]))
    with pytest.raises(ValueError, match="finite"):
        CountStats().record(math.inf)


def test_inconsistent_dicts_are_refused() -> None:
    s = LatencyStats()
    s.record(1.0)
    d = s.to_dict()
    d["errors"] = 2
    with pytest.raises(ValueError, match="errors"):
        LatencyStats.from_dict(d)
    with pytest.raises(ValueError, match="valued"):
        CountStats.from_dict({"count": 1, "valued": 2, "total": 0.0, "min": 0, "max": 0})
