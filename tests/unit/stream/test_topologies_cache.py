"""The cache topology: 5-minute windows, miss storms on 1-minute panes, late and idle."""

from __future__ import annotations

import pytest

from intperf.stream.batch import EventBatch
from intperf.stream.events import CacheAccessEvent, EventKind, PerformanceEvent
from intperf.stream.topologies import CacheTopology, EwmaMissStorm, Output, TopologyConfig

T0 = 1_764_064_800_000  # 10:00 UTC, a multiple of 5 minutes
MIN = 60_000


def access(t: int, hit: bool, *, region: str = "products", latency: float = 0.5,
           service: str = "shop") -> CacheAccessEvent:
    return CacheAccessEvent(kind=EventKind.CACHE_ACCESS, service=service, event_time=t,
                            region=region, hit=hit, latency_ms=latency)


def pane(k: int, accesses: int, misses: int, region: str = "products") -> list[PerformanceEvent]:
    return [access(T0 + k * MIN + i * 10, i >= misses, region=region, latency=float(i % 10))
            for i in range(accesses)]


def feed(top: CacheTopology, events: list[PerformanceEvent]) -> Output:
    out = Output()
    top.process(EventBatch.from_events(events), out)
    return out


CFG = TopologyConfig(grace_ms=0, storm_min_misses=10, storm_factor=3.0, storm_ewma_alpha=0.5,
                     storm_warmup_panes=2)


def test_windows_hit_rate_latency_and_a_storm_that_resolves() -> None:
    top = CacheTopology(CFG)
    events = (pane(0, 100, 10) + pane(1, 100, 10) + pane(2, 100, 50) + pane(3, 100, 10)
              + pane(4, 100, 10) + pane(5, 10, 0) + [access(T0 + 10 * MIN, True)])
    out = feed(top, events)
    first, second = out.cache
    assert (first.region, first.start_ms, first.end_ms) == ("products", T0, T0 + 5 * MIN)
    assert (first.stats.count, first.stats.hits, first.stats.misses) == (500, 410, 90)
    assert first.hit_rate == pytest.approx(0.82)
    assert first.storm and not second.storm
    assert (second.start_ms, second.stats.count) == (T0 + 5 * MIN, 10)
    summary = first.to_dict()
    assert summary["latency_p50_ms"] == pytest.approx(4.0, rel=0.01)
    assert summary["storm"] is True and summary["misses"] == 90
    storm, resolved = out.alerts
    assert (storm.kind, storm.key, storm.resolved, storm.at_ms) == (
        "cache-miss-storm", "products", False, T0 + 3 * MIN)
    # pane 2: 50 misses > 10 and 50% > 3 x the 10% baseline
    assert storm.details["baseline"] == pytest.approx(0.1)
    assert storm.details["threshold"] == pytest.approx(0.3)
    assert storm.details["observed"] == pytest.approx(0.5)
    assert storm.severity == "warning"  # 0.5 < 2 x 0.3
    assert (resolved.resolved, resolved.severity, resolved.at_ms) == (True, "info", T0 + 4 * MIN)


def test_no_storm_while_warming_up_or_below_min_misses() -> None:
    top = CacheTopology(CFG)
    # pane 1 would be a storm but the baseline has one pane only; pane 3 has too few misses
    out = feed(top, pane(0, 100, 10) + pane(1, 100, 90) + pane(2, 100, 10) + pane(3, 20, 10)
               + [access(T0 + 10 * MIN, True)])
    assert out.alerts == []
    assert [w.storm for w in out.cache] == [False]


def test_regions_are_independent_and_late_events_kept_whole() -> None:
    top = CacheTopology(CFG)
    out = feed(top, pane(0, 10, 1, "a") + pane(0, 10, 2, "b") + [access(T0 + 5 * MIN, True)]
               + [access(T0 + 1, False, region="a", service="catalog", latency=3.5)])
    assert [(w.region, w.stats.misses) for w in out.cache] == [("a", 1), ("b", 2)]
    (late,) = out.late
    assert (late.topology, late.key, late.event_time_ms) == ("cache", "a", T0 + 1)
    assert late.event == {"kind": "CACHE_ACCESS", "service": "catalog", "event_time": T0 + 1,
                          "attributes": {}, "region": "a", "hit": False, "latency_ms": 3.5}


def test_idle_flush_and_close_all() -> None:
    top = CacheTopology(TopologyConfig(grace_ms=10_000, idle_timeout_ms=30_000))
    feed(top, pane(0, 10, 1))
    out = Output()
    top.on_wall_clock(T0 + 10 * MIN, out)
    top.on_wall_clock(T0 + 10 * MIN + 30_000, out)
    assert [(w.start_ms, w.stats.count) for w in out.cache] == [(T0, 10)]
    feed(top, [access(T0 + 20 * MIN, True)])
    out = Output()
    top.close_all(out)
    assert [w.start_ms for w in out.cache] == [T0 + 20 * MIN]


def test_ewma_rule_learns_a_lasting_change_and_floors_a_zero_baseline() -> None:
    rule = EwmaMissStorm(min_misses=10, factor=3.0, alpha=0.1, warmup=1, rate_floor=0.001)
    assert not rule.observe("r", 0, 1000).storm  # first pane: baseline 0
    v = rule.observe("r", 5, 1000)  # 0.5% > 3 x max(0, 0.1%) but only 5 misses
    assert not v.storm and v.threshold == pytest.approx(0.003)
    assert rule.observe("r", 20, 1000).storm
    # a lasting 10% miss rate: storms at first, then becomes the baseline (clipped learning)
    verdicts = [rule.observe("r", 100, 1000).storm for _ in range(80)]
    assert verdicts[0] and not verdicts[-1]
    first_quiet = verdicts.index(False)
    assert all(verdicts[:first_quiet]) and not any(verdicts[first_quiet:])
    state = rule.snapshot()
    again = EwmaMissStorm(min_misses=10, factor=3.0, alpha=0.1, warmup=1)
    again.restore(state)
    assert again.observe("r", 500, 1000) == rule.observe("r", 500, 1000)


def test_ewma_update_is_clipped_during_a_storm() -> None:
    rule = EwmaMissStorm(min_misses=0, factor=2.0, alpha=0.5, warmup=1, rate_floor=0.0)
    rule.observe("r", 10, 100)  # baseline 0.1
    v = rule.observe("r", 90, 100)  # storm: learns min(0.9, 0.2) = 0.2 -> 0.15
    assert v.storm and v.baseline == pytest.approx(0.1)
    assert rule.snapshot()["r"] == [pytest.approx(0.15), 2]
