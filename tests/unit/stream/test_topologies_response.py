"""The response-time topology: windows, error classes, alerts, late events and idle flush."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from intperf.stats.histogram import LogHistogram
from intperf.stream.aggregates import LatencyStats
from intperf.stream.batch import EventBatch
from intperf.stream.events import ApiResponseEvent, EventKind, PerformanceEvent
from intperf.stream.topologies import Output, ResponseTimeTopology, TopologyConfig, summarize
from intperf.stream.topology_endpoints import OTHER_REQUESTS, EndpointStats

T0 = 1_764_064_800_000  # a whole minute (10:00 UTC)
MIN = 60_000


def api(t: int, rt: float, *, service: str = "orders", endpoint: str | None = "/api/orders",
        method: str | None = "GET", status: int | None = 200, error: bool = False
        ) -> ApiResponseEvent:
    return ApiResponseEvent(kind=EventKind.API_RESPONSE, service=service, event_time=t,
                            endpoint=endpoint, method=method, status=status,
                            response_time_ms=rt, error=error)


def feed(top: Any, events: list[PerformanceEvent], out: Output | None = None) -> Output:
    out = out or Output()
    top.process(EventBatch.from_events(events), out)
    return out


def alerts(out: Output) -> list[tuple[str, str, str, bool]]:
    return [(a.kind, a.key, a.severity, a.resolved) for a in out.alerts]


def test_window_per_service_with_request_windows_and_error_classes() -> None:
    top = ResponseTimeTopology(TopologyConfig())
    events: list[PerformanceEvent] = []
    for i in range(100):  # GET: 1..100 ms; statuses: 3 x 500, 2 x 404, one flagged 200
        status = 500 if i < 3 else 404 if i < 5 else 200
        events.append(api(T0 + i * 500, float(i + 1), status=status, error=i == 10))
    events += [api(T0 + 1_000 + i, 1000.0, method="POST") for i in range(10)]
    events += [api(T0 + 2_000, 7.0, service="cart", endpoint=None, method=None, status=None)]
    out = feed(top, events)
    assert out.windows == []  # nothing closed yet: stream time 49.5 s
    out = feed(top, [api(T0 + MIN + 10_000, 5.0, service="cart")])  # st = end + grace
    assert [(w.service, w.start_ms) for w in out.windows] == [("cart", T0), ("orders", T0)]
    cart, orders = out.windows
    assert list(cart.window.requests) == ["(unknown)"]
    assert orders.window.second == 36_000  # seconds since midnight UTC
    requests = orders.window.requests
    get, post = requests["GET /api/orders"], requests["POST /api/orders"]
    assert (get.ok, get.errors) == (96, {"http_5xx": 3, "other": 1})  # 404s are served
    assert (post.ok, post.errors) == (10, {})
    expected = LogHistogram()
    expected.record_many(np.arange(1.0, 101.0))
    assert get.latency == expected and get.service == expected
    assert get.latency is not get.service
    assert get.latency.sum == 5050.0
    s = summarize(orders, MIN)
    assert (s.count, s.errors, s.start_ms, s.end_ms) == (110, 4, T0, T0 + MIN)
    assert s.mean_ms == pytest.approx((5050 + 10_000) / 110)
    assert s.error_rate == pytest.approx(4 / 110)
    assert s.throughput_rps == pytest.approx(110 / 60)
    assert s.p99_ms == pytest.approx(1000.0, rel=0.01)
    assert out.alerts == [] and out.late == []


def test_request_window_equals_latency_stats_conversion() -> None:
    top = ResponseTimeTopology(TopologyConfig())
    rng = np.random.default_rng(3)
    values = np.round(rng.lognormal(3, 1.5, 500), 3)
    values[:5] = 0.0  # the zero bucket
    feed(top, [api(T0 + i, float(v), status=500 if i % 7 == 0 else 200)
               for i, v in enumerate(values)])
    out = Output()
    top.close_all(out)
    (w,) = out.windows
    ref = LatencyStats()
    ref.record_many(values, np.arange(500) % 7 == 0)
    expected = ref.to_request_window()
    got = w.window.requests["GET /api/orders"]
    assert got.latency == expected.latency and got.service == expected.service
    assert got.ok == expected.ok and got.failed == expected.failed
    assert got.errors == {"http_5xx": expected.failed}


def test_out_of_order_within_grace_counts_and_late_event_is_kept_whole() -> None:
    top = ResponseTimeTopology(TopologyConfig(grace_ms=10_000))
    out = feed(top, [api(T0 + 1_000, 10.0), api(T0 + 65_000, 20.0),
                     api(T0 + 59_000, 30.0),  # 6 s behind: within grace, joins [T0, T0+1min)
                     api(T0 + 70_000, 40.0),  # closes [T0, T0+1min)
                     api(T0 + 2_000, 50.0, status=503)])  # its window closed: late
    assert [(w.start_ms, w.window.requests["GET /api/orders"].requests) for w in out.windows] \
        == [(T0, 2)]
    (late,) = out.late
    assert (late.topology, late.key, late.event_time_ms, late.stream_time_ms) == (
        "response-time", "orders", T0 + 2_000, T0 + 70_000)
    assert late.event["status"] == 503 and late.event["response_time_ms"] == 50.0
    assert late.event["endpoint"] == "/api/orders" and late.event["kind"] == "API_RESPONSE"
    assert out.late_not_kept == 0


def test_late_events_beyond_the_kept_limit_are_counted() -> None:
    top = ResponseTimeTopology(TopologyConfig(grace_ms=0, max_late_kept=2))
    feed(top, [api(T0 + 2 * MIN, 1.0)])
    out = feed(top, [api(T0 + i, 1.0) for i in range(5)])
    assert len(out.late) == 2 and out.late_not_kept == 3


def test_p99_alert_fires_once_escalates_and_resolves() -> None:
    cfg = TopologyConfig(grace_ms=0, p99_threshold_ms=2000.0, alert_min_requests=10)
    top = ResponseTimeTopology(cfg)

    def minute(k: int, slow_ms: float, slow: int = 2) -> list[PerformanceEvent]:
        return [api(T0 + k * MIN + i, slow_ms if i < slow else 10.0) for i in range(100)]

    out = feed(top, minute(0, 3000.0) + minute(1, 3000.0) + minute(2, 5000.0) + minute(3, 10.0)
               + minute(4, 3000.0) + [api(T0 + 5 * MIN, 1.0)])
    assert [w.start_ms for w in out.windows] == [T0 + k * MIN for k in range(5)]
    assert alerts(out) == [
        ("response-time-p99", "orders", "warning", False),   # minute 0: p99 3000 ms
        ("response-time-p99", "orders", "critical", False),  # minute 2: 5000 >= 2 x 2000
        ("response-time-p99", "orders", "info", True),       # minute 3: recovered
        ("response-time-p99", "orders", "warning", False),   # minute 4: again
    ]
    first = out.alerts[0]
    assert first.at_ms == T0 + MIN
    assert first.details["threshold"] == 2000.0
    assert first.details["observed"] == pytest.approx(3000.0, rel=0.01)
    assert first.details["requests"] == 100
    assert first.title.startswith("orders: p99 response time 3,0")


def test_error_rate_alert_and_the_minimum_sample() -> None:
    cfg = TopologyConfig(grace_ms=0, error_rate_threshold=0.05, alert_min_requests=20)
    top = ResponseTimeTopology(cfg)
    small = [api(T0 + i, 5.0, status=500) for i in range(10)]  # 100% errors, only 10 requests
    bad = [api(T0 + MIN + i, 5.0, status=500 if i < 6 else 200) for i in range(100)]
    fine = [api(T0 + 2 * MIN + i, 5.0, status=500 if i < 5 else 404) for i in range(100)]
    out = feed(top, small + bad + fine + [api(T0 + 3 * MIN, 5.0)])
    assert alerts(out) == [("error-rate", "orders", "warning", False),
                           ("error-rate", "orders", "info", True)]
    assert out.alerts[0].details["observed"] == pytest.approx(0.06)
    assert out.alerts[0].details["errors"] == 6
    assert out.alerts[1].details["observed"] == pytest.approx(0.05)  # not over 5%: resolved


def test_throughput_alert_is_opt_in_and_sees_silent_services() -> None:
    events = ([api(T0 + i * 100, 5.0) for i in range(100)]
              + [api(T0 + i * 100, 5.0, service="cart") for i in range(100)]
              + [api(T0 + MIN + i * 1000, 5.0) for i in range(40)]  # 40/min < 60/min
              + [api(T0 + 2 * MIN + i * 100, 5.0) for i in range(100)]
              + [api(T0 + 3 * MIN, 5.0)])
    assert alerts(feed(ResponseTimeTopology(TopologyConfig(grace_ms=0)), events)) == []
    top = ResponseTimeTopology(TopologyConfig(grace_ms=0, throughput_min_rps=1.0))
    out = feed(top, events)
    assert alerts(out) == [
        ("throughput-min", "orders", "warning", False),  # 0.67 req/s in minute 1
        ("throughput-min", "cart", "critical", False),   # cart went silent: 0 req/s
        ("throughput-min", "orders", "info", True),      # minute 2: 1.67 req/s
    ]
    assert out.alerts[1].details["observed"] == 0.0 and out.alerts[1].at_ms == T0 + 2 * MIN


def test_idle_flush_closes_windows_of_a_quiet_topology() -> None:
    cfg = TopologyConfig(grace_ms=10_000, idle_timeout_ms=30_000, alert_min_requests=1,
                         p99_threshold_ms=100.0)
    top = ResponseTimeTopology(cfg)
    feed(top, [api(T0 + 1_000, 500.0), api(T0 + 61_000, 5.0)])
    out = Output()
    top.on_wall_clock(T0 + 200_000, out)  # first tick: the quiet period starts now
    top.on_wall_clock(T0 + 229_999, out)
    assert out.windows == []
    feed(top, [api(T0 + 62_000, 5.0)])  # activity: the quiet period starts over
    top.on_wall_clock(T0 + 230_000, out)
    top.on_wall_clock(T0 + 259_999, out)
    assert out.windows == []
    top.on_wall_clock(T0 + 260_000, out)  # quiet 30 s: both windows end + grace <= now - idle
    assert [w.start_ms for w in out.windows] == [T0, T0 + MIN]
    assert alerts(out) == [("response-time-p99", "orders", "critical", False),  # 500 ms
                           ("response-time-p99", "orders", "info", True)]
    late = feed(top, [api(T0 + 100_000, 5.0)])  # behind the advanced stream time: late
    assert len(late.late) == 1 and late.late[0].stream_time_ms == T0 + 230_000


def test_idle_flush_leaves_windows_whose_end_is_recent() -> None:
    top = ResponseTimeTopology(TopologyConfig(grace_ms=10_000, idle_timeout_ms=30_000))
    feed(top, [api(T0 + 1_000, 5.0)])
    out = Output()
    top.on_wall_clock(T0 + 40_000, out)
    top.on_wall_clock(T0 + 99_999, out)  # quiet long enough, but end + grace + idle > now
    assert out.windows == []
    top.on_wall_clock(T0 + 100_000, out)
    assert [w.start_ms for w in out.windows] == [T0]


def test_close_all_emits_open_windows_and_refuses_more() -> None:
    top = ResponseTimeTopology(TopologyConfig())
    feed(top, [api(T0, 1.0), api(T0 + MIN, 2.0, service="cart")])
    out = Output()
    top.close_all(out)
    assert [(w.service, w.start_ms) for w in out.windows] == [("orders", T0), ("cart", T0 + MIN)]
    with pytest.raises(RuntimeError):
        feed(top, [api(T0, 1.0)])


def test_other_kinds_and_empty_batches_are_ignored_and_bad_values_refused() -> None:
    top = ResponseTimeTopology(TopologyConfig())
    out = Output()
    top.process(EventBatch.empty(), out)
    assert out.empty()
    cols = EventBatch.from_events([api(T0, 1.0)]).columns()
    cols["value"] = np.array([-1.0])
    with pytest.raises(ValueError, match="non-negative"):
        top.process(EventBatch.from_columns(["orders", "/api/orders", "GET"], **cols), out)


def test_request_names_beyond_the_cap_are_merged() -> None:
    top = ResponseTimeTopology(TopologyConfig(max_endpoints=3))
    feed(top, [api(T0 + i, 1.0, endpoint=f"/api/item/{i}") for i in range(6)])
    out = Output()
    top.close_all(out)
    requests = out.windows[0].window.requests
    assert list(requests) == [*(f"GET /api/item/{i}" for i in range(3)), OTHER_REQUESTS]
    assert requests[OTHER_REQUESTS].requests == 3


def test_endpoint_stats_merge_copy_and_dict_round_trip() -> None:
    top = ResponseTimeTopology(TopologyConfig())
    feed(top, [api(T0 + i, float(i % 37) * 3.5, status=500 if i % 11 == 0 else 200,
                   endpoint=f"/e{i % 4}", error=i % 13 == 0) for i in range(300)])
    state = top.snapshot()["windows"]["state"][0]["aggregate"]
    a = EndpointStats.from_dict(state)
    assert a.to_dict() == state
    b = a.copy()
    b.merge(a)
    assert b.count == 2 * a.count
    for name in a.names:
        one, two = a.stats(name), b.stats(name)
        assert two.count == 2 * one.count and two.errors == 2 * one.errors
    assert math.isclose(b.total_stats().sum_ms, 2 * a.total_stats().sum_ms)
    with pytest.raises(ValueError):
        EndpointStats.from_dict({**state, "requests": [{**state["requests"][0], "http_5xx": -1}]})


def test_batches_with_large_string_tables_name_requests_alike() -> None:
    events: list[PerformanceEvent] = [
        ApiResponseEvent(kind=EventKind.API_RESPONSE, service="orders", event_time=T0 + i,
                         endpoint=f"/e{i % 3}", method="GET", response_time_ms=1.0,
                         attributes={"trace": f"t{i}"})  # one string per event
        for i in range(600)
    ]
    big = EventBatch.from_events(events)
    assert len(big.strings) > 256  # the np.unique path, not the dense lookup
    top = ResponseTimeTopology(TopologyConfig())
    top.on_wall_clock(T0, Output())  # no events yet: nothing to flush
    feed(top, events[:3])  # a small batch: the dense lookup
    top.process(big, Output())
    out = Output()
    top.close_all(out)
    requests = out.windows[0].window.requests
    assert {n: w.requests for n, w in requests.items()} == {
        "GET /e0": 201, "GET /e1": 201, "GET /e2": 201}
