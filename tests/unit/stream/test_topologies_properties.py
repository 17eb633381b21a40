"""Snapshot -> JSON -> restore -> continue gives exactly what an uninterrupted run gives."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intperf.stream.batch import EventBatch
from intperf.stream.events import (
    ApiResponseEvent,
    BusinessEvent,
    CacheAccessEvent,
    DatabaseQueryEvent,
    EventKind,
    PerformanceEvent,
)
from intperf.stream.topologies import (
    Output,
    Topology,
    TopologyConfig,
    build_topologies,
    restore_all,
    snapshot_all,
)

T0 = 1_764_064_800_000
CFG = TopologyConfig(
    window_ms=10_000, cache_window_ms=20_000, storm_pane_ms=5_000, grace_ms=2_000,
    alert_min_requests=3, p99_threshold_ms=100.0, error_rate_threshold=0.2,
    throughput_min_rps=0.5, storm_min_misses=2, storm_warmup_panes=1, max_endpoints=3,
    max_business_names=2, max_late_kept=3, slow_query_threshold_ms=50.0,
)
SERVICES = ["orders", "cart", "ünï"]


@st.composite
def events(draw: st.DrawFn) -> PerformanceEvent:
    kind = draw(st.sampled_from(["api", "api", "api", "cache", "biz", "db"]))
    service = draw(st.sampled_from(SERVICES))
    t = T0 + draw(st.integers(0, 60_000))
    ms = draw(st.sampled_from([0.0, 0.5, 3.0, 20.0, 150.0, 999.9]))
    if kind == "api":
        return ApiResponseEvent(
            kind=EventKind.API_RESPONSE, service=service, event_time=t, response_time_ms=ms,
            endpoint=draw(st.sampled_from([None, "/a", "/b", "/c/{id}", "/d"])),
            method=draw(st.sampled_from([None, "GET", "POST"])),
            status=draw(st.sampled_from([None, 200, 404, 500, 503])), error=draw(st.booleans()))
    if kind == "cache":
        return CacheAccessEvent(kind=EventKind.CACHE_ACCESS, service=service, event_time=t,
                                region=draw(st.sampled_from(["p", "q"])), hit=draw(st.booleans()),
                                latency_ms=ms)
    if kind == "biz":
        return BusinessEvent(kind=EventKind.BUSINESS, service=service, event_time=t,
                             name=draw(st.sampled_from(["order_created", "payment_failed", "x"])),
                             value=draw(st.sampled_from([None, 1.5, 10.0])))
    return DatabaseQueryEvent(kind=EventKind.DATABASE_QUERY, service=service, event_time=t,
                              query=draw(st.sampled_from(["SELECT * FROM t WHERE a = 1",
                                                          "DELETE FROM t"])),
                              execution_time_ms=ms, rows=draw(st.sampled_from([0, 5000])))


def observed(out: Output) -> dict[str, Any]:
    """Everything an Output holds, in comparable form."""
    return {
        "windows": [(w.service, w.start_ms, w.window.to_dict()) for w in out.windows],
        "cache": [(c.region, c.start_ms, c.end_ms, c.stats.to_dict(), c.storm) for c in out.cache],
        "business": [b.to_dict() for b in out.business],
        "late": [(e.topology, e.key, e.event_time_ms, e.stream_time_ms, e.event)
                 for e in out.late],
        "slow": list(out.slow),
        "alerts": [a.to_dict() for a in out.alerts],
        "late_not_kept": out.late_not_kept,
    }


def run(tops: list[Topology], batches: list[EventBatch], out: Output) -> None:
    for b in batches:
        for t in tops:
            t.process(b, out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stream=st.lists(events(), min_size=1, max_size=120),
    cuts=st.lists(st.integers(1, 40), min_size=1, max_size=8),
    at=st.integers(0, 8),
)
def test_restored_run_equals_uninterrupted_run(stream: list[PerformanceEvent], cuts: list[int],
                                               at: int) -> None:
    batches, i = [], 0
    for size in [*cuts, len(stream)]:
        if i < len(stream):
            batches.append(EventBatch.from_events(stream[i : i + size]))
            i += size
    at = min(at, len(batches))

    whole = Output()
    straight = build_topologies(CFG)
    run(straight, batches, whole)
    for t in straight:
        t.close_all(whole)

    parts = Output()
    first = build_topologies(CFG)
    run(first, batches[:at], parts)
    state = json.loads(json.dumps(snapshot_all(first)))  # JSON-able, and survives the trip
    second = build_topologies(CFG)
    restore_all(second, state)
    run(second, batches[at:], parts)
    for t in second:
        t.close_all(parts)

    assert observed(parts) == observed(whole)
