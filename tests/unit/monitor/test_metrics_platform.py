"""Platform metrics from a snapshot: runs by status, running runs, breakers, alerts firing."""

from __future__ import annotations

from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector, CollectorRegistry

from intperf.monitor.metrics_platform import PlatformSnapshot, RunningRun, platform_families
from intperf.resilience import CircuitBreaker, CircuitBreakerConfig
from intperf.store import RUN_STATUSES


def _scrape(snap: PlatformSnapshot) -> dict:
    class C(Collector):
        def collect(self):  # type: ignore[no-untyped-def]
            yield from platform_families(snap)

    reg = CollectorRegistry(auto_describe=False)
    reg.register(C())
    return {f.name: f for f in text_string_to_metric_families(generate_latest(reg).decode())}


def _open_breaker() -> CircuitBreaker:
    b = CircuitBreaker("webhook http://127.0.0.1:9", CircuitBreakerConfig(
        sliding_window_size=2, minimum_number_of_calls=2))
    for _ in range(2):
        b.try_acquire_permission()
        b.on_error(0.01, RuntimeError("down"))
    return b


def test_families() -> None:
    snap = PlatformSnapshot(
        runs_by_status={("passed", "NATIVE"): 4, ("failed", "NATIVE"): 1},
        queued=2, slots=2, queue_capacity=20,
        running=[RunningRun("r1", "shop", {"requests": 120, "failed": 3, "active_users": 5,
                                           "rps": 40, "p50_ms": 12.0, "p99_ms": None,
                                           "elapsed_s": 3.0, "duration_s": 10})],
        breakers=[_open_breaker(), CircuitBreaker("other")],
        alerts_firing={"critical": 2})
    f = _scrape(snap)
    runs = {s.labels["status"]: s.value for s in f["intperf_runs"].samples}
    assert set(runs) == set(RUN_STATUSES) and runs["passed"] == 4 and runs["error"] == 0
    assert f["intperf_runs_queued"].samples[0].value == 2
    assert f["intperf_runs_running"].samples[0].value == 1
    [req] = f["intperf_run_requests"].samples
    assert req.name == "intperf_run_requests_total" and req.value == 120
    assert req.labels == {"run_id": "r1", "scenario": "shop"}
    lat = f["intperf_run_response_time_seconds"].samples
    assert [(s.labels["percentile"], s.value) for s in lat] == [("50", 0.012)]
    state = {(s.labels["name"], s.labels["state"]): s.value
             for s in f["intperf_circuit_breaker_state"].samples}
    assert state[("webhook http://127.0.0.1:9", "open")] == 1
    assert state[("other", "closed")] == 1 and state[("other", "open")] == 0
    firing = {s.labels["severity"]: s.value for s in f["intperf_alerts_firing"].samples}
    assert firing == {"info": 0, "warning": 0, "critical": 2}
    assert f["intperf_build_info"].samples[0].value == 1


def test_no_alert_metric_without_the_alerting_part() -> None:
    snap = PlatformSnapshot({}, 0, 1, 0, [], [], None)
    f = _scrape(snap)
    assert "intperf_alerts_firing" not in f
    assert {s.labels["test_type"] for s in f["intperf_runs"].samples} == {"NATIVE"}
