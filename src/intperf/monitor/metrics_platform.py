"""The platform's own metrics: stored runs by status, the run queue, live progress of running
load tests, the service's circuit breakers and the alerts firing.

Reads are functions over the store; the families are built by pure functions of what was read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select

from intperf import __version__
from intperf.resilience.breaker import CircuitBreaker, CircuitState
from intperf.store.alert_repository import AlertRepository
from intperf.store.database import Database
from intperf.store.repositories import LIVE_TEST_TYPE
from intperf.store.tables import RUN_STATUSES, RunRow

__all__ = [
    "ALERT_SEVERITIES",
    "PlatformSnapshot",
    "RunningRun",
    "alerts_firing",
    "platform_families",
    "read_run_counts",
]

log = logging.getLogger(__name__)
ALERT_SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True, slots=True)
class RunningRun:
    """A run in flight and its latest live figures (``RunExecutor.live``)."""

    run_id: str
    scenario: str
    live: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PlatformSnapshot:
    """Everything the platform families need, read at one scrape."""

    runs_by_status: Mapping[tuple[str, str], int]
    """(status, test type) -> stored runs (live analytics runs excluded)."""
    queued: int
    slots: int
    queue_capacity: int
    running: Sequence[RunningRun]
    breakers: Sequence[CircuitBreaker]
    alerts_firing: Mapping[str, int] | None
    """Severity -> alerts firing and not acknowledged; None when they could not be read."""


def read_run_counts(db: Database, running_ids: Sequence[str]
                    ) -> tuple[dict[tuple[str, str], int], dict[str, str]]:
    """Stored runs by (status, test type), and the scenario of each running run."""
    q = (select(RunRow.status, RunRow.test_type, func.count())
         .where(RunRow.test_type != LIVE_TEST_TYPE)
         .group_by(RunRow.status, RunRow.test_type))
    with db.session() as s:
        counts = {(str(st), str(tt)): int(n) for st, tt, n in s.execute(q)}
        scenarios: dict[str, str] = {}
        if running_ids:
            rows = s.execute(select(RunRow.id, RunRow.scenario)
                             .where(RunRow.id.in_(list(running_ids))))
            scenarios = {str(i): str(sc) for i, sc in rows}
    return counts, scenarios


def alerts_firing(db: Database) -> dict[str, int] | None:
    """``AlertRepository(db).active_counts()``; None (no series) if the alert store fails."""
    try:
        counts = AlertRepository(db).active_counts()
    except Exception:  # a broken alert store must not take the whole scrape down
        log.exception("could not read the alerts firing")
        return None
    return {str(k): int(v) for k, v in counts.items()}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def platform_families(snap: PlatformSnapshot) -> Iterator[Metric]:
    """The platform's families (pure)."""
    info = GaugeMetricFamily("intperf_build_info", "The intperf version serving (always 1)",
                             labels=["version"])
    info.add_metric([__version__], 1.0)
    yield info
    yield from _runs(snap)
    yield from _running(snap.running)
    yield from _breakers(snap.breakers)
    if snap.alerts_firing is not None:
        firing = GaugeMetricFamily(
            "intperf_alerts_firing", "Alerts firing and not acknowledged, by severity",
            labels=["severity"])
        for sev in sorted({*ALERT_SEVERITIES, *snap.alerts_firing}):
            firing.add_metric([sev], float(snap.alerts_firing.get(sev, 0)))
        yield firing


def _runs(snap: PlatformSnapshot) -> Iterator[Metric]:
    runs = GaugeMetricFamily(
        "intperf_runs", "Load-test runs stored, by status (the final status is the verdict)",
        labels=["status", "test_type"])
    types = sorted({tt for _, tt in snap.runs_by_status}) or ["NATIVE"]
    for tt in types:
        for st in RUN_STATUSES:
            runs.add_metric([st, tt], float(snap.runs_by_status.get((st, tt), 0)))
    running = GaugeMetricFamily("intperf_runs_running", "Runs executing now")
    running.add_metric([], float(len(snap.running)))
    queued = GaugeMetricFamily("intperf_runs_queued", "Runs waiting for a slot")
    queued.add_metric([], float(snap.queued))
    slots = GaugeMetricFamily("intperf_run_slots", "Runs that may execute at once")
    slots.add_metric([], float(snap.slots))
    capacity = GaugeMetricFamily("intperf_run_queue_capacity", "Runs that may wait at once")
    capacity.add_metric([], float(snap.queue_capacity))
    yield from (runs, running, queued, slots, capacity)


def _running(running: Iterable[RunningRun]) -> Iterator[Metric]:
    labels = ["run_id", "scenario"]
    requests = CounterMetricFamily("intperf_run_requests",
                                   "Requests completed by the running load test",
                                   labels=labels)
    errors = CounterMetricFamily("intperf_run_errors",
                                 "Requests failed in the running load test", labels=labels)
    users = GaugeMetricFamily("intperf_run_active_users",
                              "Virtual users active in the running load test's last second",
                              labels=labels)
    rps = GaugeMetricFamily("intperf_run_throughput_requests_per_second",
                            "Requests completed in the running load test's last second",
                            labels=labels)
    latency = GaugeMetricFamily(
        "intperf_run_response_time_seconds",
        "Response-time percentiles of the running load test's last second",
        labels=[*labels, "percentile"])
    elapsed = GaugeMetricFamily("intperf_run_elapsed_seconds",
                                "Time since the running load test started", labels=labels)
    planned = GaugeMetricFamily("intperf_run_planned_duration_seconds",
                                "Planned duration of the running load test", labels=labels)
    for r in sorted(running, key=lambda r: r.run_id):
        lv, key = r.live, [r.run_id, r.scenario]
        for family, field in ((requests, "requests"), (errors, "failed"),
                              (users, "active_users"), (rps, "rps"),
                              (elapsed, "elapsed_s"), (planned, "duration_s")):
            value = _number(lv.get(field))
            if value is not None:
                family.add_metric(key, value)
        for q, field in (("50", "p50_ms"), ("99", "p99_ms")):
            value = _number(lv.get(field))
            if value is not None:
                latency.add_metric([*key, q], value / 1000.0)
    yield from (requests, errors, users, rps, latency, elapsed, planned)


def _breakers(breakers: Iterable[CircuitBreaker]) -> Iterator[Metric]:
    state = GaugeMetricFamily(
        "intperf_circuit_breaker_state",
        "The service's own circuit breakers: 1 for the current state, 0 for the others",
        labels=["name", "state"])
    calls = CounterMetricFamily(
        "intperf_circuit_breaker_calls", "Calls seen by the service's circuit breaker",
        labels=["name", "kind"])
    failure = GaugeMetricFamily(
        "intperf_circuit_breaker_failure_ratio",
        "Failure ratio over the sliding window (absent below the minimum calls)",
        labels=["name"])
    for b in sorted({b.name: b for b in breakers}.values(), key=lambda b: b.name):
        current = b.state
        for s in CircuitState:
            state.add_metric([b.name, s.value.lower()], 1.0 if s is current else 0.0)
        for kind, n in (("successful", b.successful_calls), ("failed", b.failed_calls),
                        ("ignored", b.ignored_calls), ("not_permitted", b.not_permitted_calls)):
            calls.add_metric([b.name, kind], float(n))
        if b.failure_rate >= 0:
            failure.add_metric([b.name], b.failure_rate / 100.0)
    yield from (state, calls, failure)
