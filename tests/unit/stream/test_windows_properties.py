"""Window results equal a brute-force computation over random disordered streams.

The brute force follows the definitions of docs/MATH.md, section 7, event by event: stream
time is the largest event time so far, the watermark is stream time minus grace, and

* tumbling/hopping: an event joins each window holding it whose end is above the watermark;
  it is late when there is none;
* sliding/session: an event is on time when its time is not below the watermark; a sliding
  window [t - size, t] exists per distinct on-time time t and holds every on-time event in
  it; sessions are the runs of on-time times at most gap apart.

Each window's expected aggregate is built from its raw values; the emitted sequence (over all
batches and the final close_all) must equal the expected windows sorted by (end, start, key).
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intperf.stream.aggregates import CountStats, LatencyStats
from intperf.stream.windows import (
    Assigner,
    Hopping,
    Session,
    Sliding,
    Tumbling,
    WindowedAggregation,
    WindowResult,
)

KEYS = ["api", "db", "ünïcode", "z"]
Event = tuple[str, int, float, bool]  # key, time, value, flag


def brute_force(
    events: list[Event], assigner: Assigner, grace: int
) -> tuple[list[tuple[str, int, int, list[Event]]], list[tuple[str, int, int]]]:
    """Expected (key, start, end, events) windows in emission order, and late (key, t, st)."""
    st_: int | None = None
    windows: dict[tuple[str, int, int], list[Event]] = defaultdict(list)
    on_time: dict[str, list[Event]] = defaultdict(list)
    late: list[tuple[str, int, int]] = []
    for ev in events:
        key, t, _, _ = ev
        st_ = t if st_ is None else max(st_, t)
        wm = st_ - grace
        if isinstance(assigner, Tumbling | Hopping):
            size = assigner.size_ms
            adv = assigner.advance_ms if isinstance(assigner, Hopping) else size
            # every window [s, s + size) with s a multiple of adv holding t, by brute search
            starts = [s for s in range((t - size) // adv * adv, t + 1, adv) if s <= t < s + size]
            joined = [s for s in starts if s + size > wm]
            for s in joined:
                windows[(key, s, s + size)].append(ev)
            if not joined:
                late.append((key, t, st_))
        elif t >= wm:
            on_time[key].append(ev)
        else:
            late.append((key, t, st_))
    if isinstance(assigner, Sliding):
        for key, evs in on_time.items():
            for t in {e[1] for e in evs}:
                members = [e for e in evs if t - assigner.size_ms <= e[1] <= t]
                windows[(key, t - assigner.size_ms, t + 1)] = members
    elif isinstance(assigner, Session):
        for key, evs in on_time.items():
            ordered = sorted(evs, key=lambda e: e[1])
            run = [ordered[0]]
            for e in ordered[1:]:
                if e[1] - run[-1][1] > assigner.gap_ms:
                    windows[(key, run[0][1], run[-1][1] + 1)] = run
                    run = []
                run.append(e)
            windows[(key, run[0][1], run[-1][1] + 1)] = run
    expected = sorted(
        ((k, s, e, evs) for (k, s, e), evs in windows.items()), key=lambda w: (w[2], w[1], w[0])
    )
    return expected, late


def expected_latency(evs: list[Event]) -> LatencyStats:
    s = LatencyStats()
    for _, _, v, f in evs:
        s.record(v, f)
    return s


# Round sizes, times and grace make boundary coincidences (event exactly at a window end or at
# the watermark) frequent.
round_ms = st.sampled_from([10, 50, 100, 200])
assigners = st.one_of(
    st.builds(Tumbling, st.integers(1, 400) | round_ms),
    (st.integers(1, 100) | st.just(10) | st.just(50)).flatmap(
        lambda adv: st.integers(1, 5).map(lambda k: Hopping(adv * k, adv))
    ),
    st.builds(Sliding, st.integers(0, 300) | round_ms),
    st.builds(Session, st.integers(0, 150) | round_ms),
)
graces = st.integers(0, 400) | st.sampled_from([0, 50, 100])


@st.composite
def streams(draw: Any) -> tuple[list[Event], list[int]]:
    n = draw(st.integers(0, 120))
    base = draw(st.integers(-2000, 10**12) | st.just(0))
    grain = draw(st.sampled_from([1, 1, 10, 50]))
    # a drifting clock with random disorder: mostly increasing, with stragglers
    drift = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    jitter = draw(st.lists(st.integers(-300, 60), min_size=n, max_size=n))
    clock = np.cumsum(drift, dtype=np.int64) if n else np.array([], dtype=np.int64)
    events = [
        (
            draw(st.sampled_from(KEYS)),
            (base + int(clock[i]) + jitter[i]) // grain * grain,
            draw(st.sampled_from([0.0, 0.5, 1.0, 3.0, 1000.0]) | st.floats(0, 1e6)),
            draw(st.booleans()),
        )
        for i in range(n)
    ]
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=6)))
    return events, cuts


def run(
    events: list[Event], cuts: list[int], assigner: Assigner, grace: int, data: Any
) -> tuple[WindowedAggregation[LatencyStats], list[WindowResult[LatencyStats]]]:
    agg = WindowedAggregation(assigner, LatencyStats, grace_ms=grace, max_late_kept=50)
    emitted: list[WindowResult[LatencyStats]] = []
    edges = [0, *cuts, len(events)]
    for a, b in itertools.pairwise(edges):
        part = events[a:b]
        # each batch has its own key table, in a random order
        names = data.draw(st.permutations(KEYS))
        ids = {k: i for i, k in enumerate(names)}
        results = agg.add_batch(
            np.array([ids[e[0]] for e in part], dtype=np.int32),
            np.array([e[1] for e in part], dtype=np.int64),
            np.array([e[2] for e in part], dtype=np.float64),
            np.array([e[3] for e in part], dtype=bool),
            key_names=names,
        )
        wm = agg.watermark_ms
        for r in results:  # only closed windows are emitted
            assert wm is not None
            close_at = r.end_ms + (assigner.gap_ms if isinstance(assigner, Session) else 0)
            assert close_at <= wm
        emitted += results
    emitted += agg.close_all()
    return agg, emitted


@given(stream=streams(), assigner=assigners, grace=graces, data=st.data())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_windows_equal_brute_force(
    stream: tuple[list[Event], list[int]], assigner: Assigner, grace: int, data: Any
) -> None:
    events, cuts = stream
    agg, emitted = run(events, cuts, assigner, grace, data)
    expected, late = brute_force(events, assigner, grace)
    assert [(r.key, r.start_ms, r.end_ms) for r in emitted] == [w[:3] for w in expected]
    for r, (_, _, _, evs) in zip(emitted, expected, strict=True):
        want = expected_latency(evs)
        assert r.aggregate == want  # counts, errors, histogram buckets, min, max
        assert math.isclose(r.aggregate.sum_ms, want.sum_ms, rel_tol=1e-9, abs_tol=1e-9)
    assert agg.late.count == len(late)
    kept = agg.late.take()
    assert [(e.key, e.event_time_ms, e.stream_time_ms) for e in kept] == late[:50]
    assert agg.late.overflow == max(0, len(late) - 50)
    # every event is accounted for: on time in some window, or late
    placed = {id(e) for w in expected for e in w[3]}
    assert len(placed) + len(late) >= len(events) - 0  # identical tuples may share ids
    assert agg.open_windows == 0


@given(stream=streams(), assigner=assigners, grace=graces, data=st.data())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_snapshot_restore_midway_changes_nothing(
    stream: tuple[list[Event], list[int]], assigner: Assigner, grace: int, data: Any
) -> None:
    events, cuts = stream
    _, reference = run(events, cuts, assigner, grace, data)
    middle = cuts[len(cuts) // 2] if cuts else len(events) // 2
    first = WindowedAggregation(assigner, LatencyStats, grace_ms=grace, max_late_kept=50)
    emitted = list(feed(first, events[:middle]))
    snap = first.snapshot()
    second = WindowedAggregation(assigner, LatencyStats, grace_ms=grace, max_late_kept=50)
    second.restore(snap)
    assert second.snapshot() == snap
    emitted += feed(second, events[middle:])
    emitted += second.close_all()
    assert [(r.key, r.start_ms, r.end_ms, r.aggregate) for r in emitted] == [
        (r.key, r.start_ms, r.end_ms, r.aggregate) for r in reference
    ]


def feed(agg: WindowedAggregation[Any], events: list[Event]) -> list[WindowResult[Any]]:
    if not events:
        return []
    return agg.add_batch(
        np.array([KEYS.index(e[0]) for e in events], dtype=np.int32),
        np.array([e[1] for e in events], dtype=np.int64),
        np.array([e[2] for e in events], dtype=np.float64),
        np.array([e[3] for e in events], dtype=bool),
        key_names=KEYS,
    )


@given(stream=streams(), data=st.data())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_count_stats_in_tumbling_windows(stream: tuple[list[Event], list[int]], data: Any) -> None:
    events, _ = stream
    agg = WindowedAggregation(Tumbling(100), CountStats, grace_ms=50)
    out = feed(agg, events) + agg.close_all()
    expected, _ = brute_force(events, Tumbling(100), 50)
    assert [(r.key, r.start_ms, r.aggregate.count) for r in out] == [
        (k, s, len(evs)) for k, s, _, evs in expected
    ]
