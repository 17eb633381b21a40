"""Windowed aggregation: closing rule, grace, late output, assigners, checkpoints, input checks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from intperf.stream.aggregates import CacheStats, LatencyStats
from intperf.stream.windows import (
    Hopping,
    Session,
    Sliding,
    Tumbling,
    WindowedAggregation,
    WindowResult,
)

NAMES = ["orders", "users"]


def add(
    agg: WindowedAggregation[Any], *events: tuple[int, int, float] | tuple[int, int, float, bool]
) -> list[WindowResult[Any]]:
    return agg.add_batch(
        np.array([e[0] for e in events], dtype=np.int32),
        np.array([e[1] for e in events], dtype=np.int64),
        np.array([e[2] for e in events], dtype=np.float64),
        np.array([bool(e[3]) if len(e) > 3 else False for e in events]),
        key_names=NAMES,
    )


def spans(results: list[WindowResult[Any]]) -> list[tuple[str, int, int, int]]:
    return [(r.key, r.start_ms, r.end_ms, r.aggregate.count) for r in results]


def test_tumbling_windows_close_at_end_plus_grace_in_end_order() -> None:
    agg = WindowedAggregation(Tumbling(60_000), LatencyStats, grace_ms=5_000)
    assert add(agg, (0, 1_000, 10.0), (1, 2_000, 20.0, True), (0, 59_999, 30.0)) == []
    assert agg.stream_time_ms == 59_999
    assert add(agg, (1, 64_999, 5.0)) == []  # watermark 59_999: window [0, 60000) still open
    out = add(agg, (0, 65_000, 1.0))  # watermark reaches 60_000
    assert spans(out) == [("orders", 0, 60_000, 2), ("users", 0, 60_000, 1)]
    assert out[1].aggregate.errors == 1
    assert agg.watermark_ms == 60_000
    out = agg.close_all()
    assert spans(out) == [("orders", 60_000, 120_000, 1), ("users", 60_000, 120_000, 1)]


def test_late_events_are_counted_kept_with_a_reason_and_bounded() -> None:
    agg = WindowedAggregation(Tumbling(1_000), LatencyStats, grace_ms=100, max_late_kept=2)
    add(agg, (0, 5_000, 1.0))
    add(agg, (0, 3_999, 7.0), (1, 4_899, 8.0), (1, 4_900, 9.0), (0, 10, 1.0))
    # window [4000, 5000) closes at stream time 5100: 4899 and 4900 are still on time
    assert agg.late.count == 2
    assert agg.late.overflow == 0
    first = agg.late.kept[0]
    assert (first.key, first.event_time_ms, first.stream_time_ms, first.value) == (
        "orders",
        3_999,
        5_000,
        7.0,
    )
    assert "window ending at 4000 already closed" in first.reason
    assert "grace 100 ms" in first.reason
    add(agg, (1, 0, 1.0))
    assert (agg.late.count, agg.late.overflow) == (3, 1)
    assert len(agg.late.take()) == 2
    assert agg.late.kept == []
    assert agg.late.room() == 2
    assert spans(agg.close_all()) == [("users", 4_000, 5_000, 2), ("orders", 5_000, 6_000, 1)]


def test_hopping_events_join_the_open_windows_and_partial_lateness_is_counted() -> None:
    agg = WindowedAggregation(Hopping(300, 100), LatencyStats)
    assert Hopping(300, 100).windows_for(250) == [(200, 500), (100, 400), (0, 300)]
    add(agg, (0, 250, 1.0))
    out = add(agg, (0, 420, 2.0))  # closes [0, 300) and [100, 400)
    assert spans(out) == [("orders", 0, 300, 1), ("orders", 100, 400, 1)]
    add(agg, (0, 310, 3.0))  # windows [100,400) closed, [200,500) and [300,600) open
    assert agg.partially_late == 1
    assert agg.late.count == 0
    assert spans(agg.close_all()) == [
        ("orders", 200, 500, 3),
        ("orders", 300, 600, 2),
        ("orders", 400, 700, 1),
    ]


def test_sliding_windows_one_per_distinct_time_holding_the_size_before_it() -> None:
    agg = WindowedAggregation(Sliding(100), LatencyStats)
    out = add(agg, (0, 0, 1.0), (0, 100, 2.0))
    assert spans(out) == [("orders", -100, 1, 1)]  # [t-100, t] for t=0 closed at st 100
    # the event at 0 must still be held for the window at 100 (it is on its lower edge)
    out = agg.advance_to(200)
    assert spans(out) == [("orders", 0, 101, 2)]
    assert agg.open_windows == 1  # time 100 is kept: a window at 200 would reach down to it
    add(agg, (0, 199, 1.0))  # behind the watermark: late
    assert agg.late.count == 1
    assert "event time 199 is behind the watermark 200" in agg.late.kept[0].reason


def test_sessions_merge_when_an_event_bridges_them() -> None:
    agg = WindowedAggregation(Session(10), LatencyStats, grace_ms=100)
    add(agg, (0, 0, 1.0), (0, 20, 1.0), (1, 5, 1.0))
    assert agg.open_windows == 3
    add(agg, (0, 10, 1.0))  # within 10 of both: one session [0, 20]
    assert agg.open_windows == 2
    out = add(agg, (0, 130, 1.0))  # watermark 30: [5, 5] closes; 30 could still join [0, 20]
    assert spans(out) == [("users", 5, 6, 1)]
    out = add(agg, (0, 131, 1.0))  # watermark 31 > 20 + 10
    assert spans(out) == [("orders", 0, 21, 3)]
    assert spans(agg.close_all()) == [("orders", 130, 132, 2)]


def test_advance_to_closes_windows_without_events_and_never_moves_back() -> None:
    agg = WindowedAggregation(Tumbling(10), CacheStats, grace_ms=5)
    add(agg, (0, 3, 0.5, True), (0, 4, 0.7, False))
    assert agg.advance_to(14) == []
    out = agg.advance_to(15)
    assert spans(out) == [("orders", 0, 10, 2)]
    assert out[0].aggregate.hit_rate == 0.5
    assert agg.advance_to(1) == []
    assert agg.stream_time_ms == 15


def test_external_stream_time_only_moves_with_advance_to() -> None:
    agg = WindowedAggregation(Tumbling(10), LatencyStats, auto_advance=False)
    assert add(agg, (0, 100, 1.0), (0, 3, 1.0)) == []  # nothing is late before any time
    assert agg.stream_time_ms is None
    assert spans(agg.advance_to(10)) == [("orders", 0, 10, 1)]
    add(agg, (0, 5, 1.0))
    assert agg.late.count == 1
    assert spans(agg.advance_to(110)) == [("orders", 100, 110, 1)]


def test_close_all_is_final() -> None:
    agg = WindowedAggregation(Tumbling(10), LatencyStats)
    add(agg, (0, 1, 1.0))
    assert len(agg.close_all()) == 1
    with pytest.raises(RuntimeError, match="close_all"):
        add(agg, (0, 2, 1.0))


def test_snapshot_is_json_and_restores_only_into_a_matching_fresh_aggregation() -> None:
    import json

    agg = WindowedAggregation(Tumbling(10), LatencyStats, grace_ms=3)
    add(agg, (0, 1, 1.0), (1, 12, 2.0, True), (0, 0, 5.0))
    snap = json.loads(json.dumps(agg.snapshot()))
    same = WindowedAggregation(Tumbling(10), LatencyStats, grace_ms=3)
    same.restore(snap)
    assert same.snapshot() == snap
    assert spans(same.close_all()) == spans(agg.close_all())
    with pytest.raises(ValueError, match="another assigner"):
        WindowedAggregation(Tumbling(20), LatencyStats, grace_ms=3).restore(snap)
    with pytest.raises(ValueError, match="another assigner"):
        WindowedAggregation(Tumbling(10), LatencyStats).restore(snap)
    with pytest.raises(ValueError, match="version"):
        same.restore({**snap, "version": 99})
    busy = WindowedAggregation(Tumbling(10), LatencyStats, grace_ms=3)
    add(busy, (0, 1, 1.0))
    with pytest.raises(ValueError, match="fresh"):
        busy.restore(snap)


def test_bad_input_is_refused_before_anything_changes() -> None:
    agg = WindowedAggregation(Tumbling(10), LatencyStats)
    add(agg, (0, 1, 1.0))
    before = agg.snapshot()
    with pytest.raises(ValueError, match="finite and non-negative"):
        add(agg, (0, 2, 1.0), (1, 3, -1.0))
    with pytest.raises(ValueError, match="same length"):
        agg.add_batch(np.array([0]), np.array([1, 2]), np.array([1.0]), key_names=NAMES)
    with pytest.raises(ValueError, match="key ids"):
        agg.add_batch(np.array([5]), np.array([1]), np.array([1.0]), key_names=NAMES)
    with pytest.raises(ValueError, match="2\\*\\*60"):
        add(agg, (0, 1 << 61, 1.0))
    with pytest.raises(TypeError, match="integer arrays"):
        agg.add_batch(np.array([0]), np.array([1.5]), np.array([1.0]), key_names=NAMES)
    assert agg.snapshot() == before
    assert (
        agg.add_batch(np.array([], np.int32), np.array([], np.int64), np.array([]), key_names=NAMES)
        == []
    )


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: Tumbling(0), "size_ms"),
        (lambda: Hopping(100, 30), "must divide"),
        (lambda: Hopping(100, 0), "advance_ms"),
        (lambda: Sliding(-1), "size_ms"),
        (lambda: Session(1 << 41), "gap_ms"),
    ],
)
def test_assigners_validate_their_spans(make: Any, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        make()
    with pytest.raises(TypeError):
        Tumbling(1.5)  # type: ignore[arg-type]


def test_factory_sets_the_histogram_accuracy() -> None:
    agg = WindowedAggregation(Tumbling(10), LatencyStats, factory=lambda: LatencyStats(0.05))
    add(agg, (0, 1, 1.0))
    (r,) = agg.close_all()
    assert r.aggregate.histogram.alpha == 0.05


def test_times_spread_over_the_whole_range_group_correctly() -> None:
    # (span / advance) * keys overflows an int64 group code here: the lexsort path groups
    agg = WindowedAggregation(Tumbling(1), LatencyStats, auto_advance=False)
    lo, hi = -(1 << 60), 1 << 60
    events = [(k % 2, t, 1.0) for k in range(6) for t in (lo, 0, hi)]
    agg.add_batch(
        np.array([e[0] for e in events], dtype=np.int32),
        np.array([e[1] for e in events], dtype=np.int64),
        np.array([e[2] for e in events]),
        key_names=["a", "b"],
    )
    assert agg.late.count == 0
    assert spans(agg.close_all()) == [
        ("a", lo, lo + 1, 3),
        ("b", lo, lo + 1, 3),
        ("a", 0, 1, 3),
        ("b", 0, 1, 3),
        ("a", hi, hi + 1, 3),
        ("b", hi, hi + 1, 3),
    ]
