"""Business and slow-query topologies, the configuration from settings and the set."""

from __future__ import annotations

import json
import math

import pytest

from intperf.config import load_settings
from intperf.stream.batch import EventBatch
from intperf.stream.events import (
    ApiResponseEvent,
    BusinessEvent,
    DatabaseQueryEvent,
    EventKind,
    PerformanceEvent,
)
from intperf.stream.topologies import (
    BusinessTopology,
    Output,
    SlowQueryTopology,
    TopologyConfig,
    build_topologies,
    restore_all,
    slow_query_message,
    snapshot_all,
)
from intperf.stream.topology_business import OTHER_NAMES

T0 = 1_764_064_800_000
MIN = 60_000


def biz(t: int, name: str, value: float | None = None, service: str = "orders") -> BusinessEvent:
    return BusinessEvent(kind=EventKind.BUSINESS, service=service, event_time=t, name=name,
                         value=value)


def query(t: int, ms: float, text: str | None, *, rows: int = 0, fp: str | None = None,
          service: str = "orders") -> DatabaseQueryEvent:
    return DatabaseQueryEvent(kind=EventKind.DATABASE_QUERY, service=service, event_time=t,
                              query=text, fingerprint=fp, execution_time_ms=ms, rows=rows)


def feed(top: object, events: list[PerformanceEvent]) -> Output:
    out = Output()
    top.process(EventBatch.from_events(events), out)  # type: ignore[attr-defined]
    return out


# -- business ---------------------------------------------------------------------------------


def test_orders_per_minute_and_payment_success_rate() -> None:
    top = BusinessTopology(TopologyConfig(grace_ms=0))
    events: list[PerformanceEvent] = [biz(T0 + i, "order_created", 10.0 * i) for i in range(5)]
    events += [biz(T0 + 100 + i, "payment_succeeded") for i in range(9)]
    events += [biz(T0 + 200, "payment_failed"), biz(T0 + 300, "cart_abandoned", service="cart")]
    events += [biz(T0 + MIN + 5, "order_created"), biz(T0 + 2 * MIN, "order_created")]
    out = feed(top, events)
    assert [(w.service, w.start_ms) for w in out.business] == [
        ("cart", T0), ("orders", T0), ("orders", T0 + MIN)]
    cart, orders, later = out.business
    assert orders.orders_created == 5 and orders.end_ms == T0 + MIN
    assert orders.payment_success_rate == pytest.approx(0.9)
    assert orders.metrics["order_created"].total == 100.0
    assert orders.metrics["order_created"].mean == 20.0
    assert cart.count("cart_abandoned") == 1 and cart.orders_created == 0
    assert math.isnan(cart.payment_success_rate)
    assert later.orders_created == 1
    d = orders.to_dict()
    assert d["orders_created"] == 5 and d["payment_success_rate"] == pytest.approx(0.9)
    assert cart.to_dict()["payment_success_rate"] is None
    json.dumps(d)


def test_business_late_idle_and_name_cap() -> None:
    top = BusinessTopology(TopologyConfig(grace_ms=0, idle_timeout_ms=1_000,
                                          max_business_names=2))
    out = feed(top, [biz(T0, "a"), biz(T0, "b"), biz(T0, "c"), biz(T0, "d"),
                     biz(T0 + MIN, "a"), biz(T0 + 1, "a", 2.5)])
    (w,) = out.business
    assert {n: m.count for n, m in w.metrics.items()} == {"a": 1, "b": 1, OTHER_NAMES: 2}
    (late,) = out.late
    assert (late.topology, late.key, late.event["name"], late.event["value"]) == (
        "business", "orders", "a", 2.5)
    out = Output()
    top.on_wall_clock(T0 + 10 * MIN, out)
    top.on_wall_clock(T0 + 10 * MIN + 1_000, out)
    assert [(w.start_ms, w.count("a")) for w in out.business] == [(T0 + MIN, 1)]


# -- slow queries -------------------------------------------------------------------------------


def test_slow_queries_are_analyzed_with_advice_and_plan_hint() -> None:
    asked: list[tuple[str, str]] = []

    def hint(service: str, normalized: str) -> str | None:
        asked.append((service, normalized))
        return "no index on orders(customer_id): consider CREATE INDEX CONCURRENTLY ..."

    top = SlowQueryTopology(TopologyConfig(slow_query_threshold_ms=500.0,
                                           large_result_rows=1000), plan_hint=hint)
    out = feed(top, [
        query(T0, 800.0, "SELECT * FROM orders WHERE customer_id = 42", rows=5000),
        query(T0 + 1, 500.0, "SELECT 1"),  # not slower than the threshold
        query(T0 + 2, 900.5, "select *  from orders where customer_id=7", rows=3),
        query(T0 + 3, 1200.0, None, fp="pgss:123", rows=20_000),
        query(T0 + 4, 700.0, "INSERT INTO audit VALUES (1, 'x')", rows=5000),
        ApiResponseEvent(kind=EventKind.API_RESPONSE, service="orders", event_time=T0,
                         response_time_ms=900.0),
    ])
    a, b, c, d = out.slow
    assert a.normalized == "SELECT * FROM orders WHERE customer_id = $1"
    assert (a.service, a.execution_time_ms, a.event_time_ms, a.rows) == ("orders", 800.0, T0, 5000)
    assert len(a.fingerprint) == 16
    assert [x.split(":")[0] for x in a.advice] == [
        "paginate", "SELECT *", "no index on orders(customer_id)"]
    assert b.fingerprint == a.fingerprint  # same statement, other literals and spelling
    assert b.normalized == "select * from orders where customer_id = $1"
    assert [x.split(":")[0] for x in b.advice] == ["SELECT *", "no index on orders(customer_id)"]
    assert (c.fingerprint, c.normalized) == ("pgss:123", "")
    assert [x.split(":")[0] for x in c.advice] == ["paginate"]
    assert d.advice == ()  # an INSERT gets no pagination advice and no plan hint
    assert asked == [("orders", a.normalized), ("orders", b.normalized)]
    message = json.loads(slow_query_message(a))
    assert message["fingerprint"] == a.fingerprint and message["advice"] == list(a.advice)
    assert top.snapshot() == {"version": 1}


# -- configuration and the set ------------------------------------------------------------------


def test_config_from_settings(tmp_path: object) -> None:
    settings = load_settings(environ={
        "INTPERF_INTPERF__STREAM__WINDOW": "30s",
        "INTPERF_INTPERF__STREAM__GRACE": "5s",
        "INTPERF_PERFORMANCE__MONITORING__ALERT_THRESHOLDS__RESPONSE_TIME_99TH": "1500ms",
        "INTPERF_PERFORMANCE__MONITORING__ALERT_THRESHOLDS__ERROR_RATE": "2%",
    })
    cfg = TopologyConfig.from_settings(settings)
    assert (cfg.window_ms, cfg.grace_ms, cfg.cache_window_ms, cfg.idle_timeout_ms) == (
        30_000, 5_000, 300_000, 30_000)
    assert (cfg.p99_threshold_ms, cfg.error_rate_threshold) == (1500.0, 0.02)
    assert cfg.throughput_min_rps is None
    assert (cfg.slow_query_threshold_ms, cfg.large_result_rows) == (500.0, 1000)
    assert TopologyConfig.from_settings(settings, throughput_alerts=True).throughput_min_rps == 100
    with pytest.raises(ValueError):
        TopologyConfig(window_ms=0)


def test_build_snapshot_and_restore_a_set() -> None:
    cfg = TopologyConfig(grace_ms=0)
    tops = build_topologies(cfg)
    assert [t.name for t in tops] == ["response-time", "slow-queries", "cache", "business"]
    batch = EventBatch.from_events([
        ApiResponseEvent(kind=EventKind.API_RESPONSE, service="s", event_time=T0,
                         response_time_ms=5.0),
        biz(T0, "order_created"),
    ])
    out = Output()
    for t in tops:
        t.process(batch, out)
    state = json.loads(json.dumps(snapshot_all(tops)))
    fresh = build_topologies(cfg)
    restore_all(fresh, state)
    a, b = Output(), Output()
    for t in tops:
        t.close_all(a)
    for t in fresh:
        t.close_all(b)
    assert [w.window.to_dict() for w in a.windows] == [w.window.to_dict() for w in b.windows]
    assert [w.to_dict() for w in a.business] == [w.to_dict() for w in b.business]
    with pytest.raises(ValueError, match="version"):
        build_topologies(cfg)[0].restore({"version": 99})
