"""Hand-built time series, run info and criteria shared by the report tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from intperf.loadtest.results import ErrorClass, TimeSeries
from intperf.reports import RunInfo

PRODUCTS = "GET /api/products"
ORDERS = "POST /api/orders"
STATUS_MSG = "status 500 not in [200, 201]"
CHECK_MSG = "body does not contain 'id'"
TIMEOUT_MSG = "read timed out after 2s"


@dataclass
class Recorded:
    """A series plus the raw values that went into it, to compare against NumPy."""

    series: TimeSeries
    latency: dict[str, list[float]] = field(default_factory=dict)
    service: dict[str, list[float]] = field(default_factory=dict)
    ok: dict[str, int] = field(default_factory=dict)
    errors: dict[str, dict[str, int]] = field(default_factory=dict)
    per_second: dict[int, dict[str, list[float]]] = field(default_factory=dict)


def make_info(**overrides: Any) -> RunInfo:
    values: dict[str, Any] = {
        "run_id": "run-2025-0001",
        "scenario": "social-commerce",
        "scenario_source": "scenarios/social-commerce.yaml",
        "base_url": "http://127.0.0.1:8080",
        "model": "closed",
        "started_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        "ended_at": datetime(2025, 1, 2, 3, 4, 13, tzinfo=UTC),
        "duration_s": 7.0,
        "processes": 2,
        "status": "failed",
        "options": {"users": 10, "duration": "7s"},
    }
    values.update(overrides)
    return RunInfo(**values)


def make_recorded(seed: int = 7) -> Recorded:
    """Seconds 0-4 and 6 (5 is a gap), two request names, errors with messages."""
    rng = np.random.default_rng(seed)
    rec = Recorded(TimeSeries())
    for name in (PRODUCTS, ORDERS):
        rec.latency[name] = []
        rec.service[name] = []
        rec.ok[name] = 0
        rec.errors[name] = {}
    for s in (0, 1, 2, 3, 4, 6):
        sw = rec.series.at(s)
        sw.active_users = 5 + 2 * s
        sw.started_users = 5 if s == 0 else 2
        sw.iterations = 10 + s
        sw.dropped = 1 if s == 4 else 0
        rec.per_second[s] = {}
        for name, n, scale in ((PRODUCTS, 200, 40.0), (ORDERS, 60, 120.0)):
            lat = rng.lognormal(np.log(scale), 0.6, n)
            svc = lat * 0.8
            w = sw.window(name)
            w.latency.record_many(lat)
            w.service.record_many(svc)
            w.bytes_in += 1000 * n
            w.bytes_out += 100 * n
            rec.latency[name].extend(lat.tolist())
            rec.service[name].extend(svc.tolist())
            rec.per_second[s][name] = lat.tolist()
            failures: list[tuple[ErrorClass, str]] = []
            if name == ORDERS:
                failures = [(ErrorClass.HTTP_5XX, STATUS_MSG)] * (s + 1)
                failures += [(ErrorClass.CHECK_FAILED, CHECK_MSG)] * 2
            elif s == 3:
                failures = [(ErrorClass.READ_TIMEOUT, TIMEOUT_MSG)] * 4
            for cls, msg in failures:
                w.add_error(cls, msg)
                rec.errors[name][cls.value] = rec.errors[name].get(cls.value, 0) + 1
            w.ok += n - len(failures)
            rec.ok[name] += n - len(failures)
    return rec


CRITERIA: list[dict[str, Any]] = [
    {"criterion": "p99(response_time) < 2000ms", "passed": True, "observed": 512.5,
     "message": "p99 was 512.5 ms", "window": None, "abort": False, "scope": None},
    {"criterion": "error_rate < 5%", "passed": False, "observed": 0.061,
     "message": "error rate was 6.1% (limit 5%)", "window": [0, 6], "abort": False,
     "scope": None},
    {"criterion": "p95(response_time){POST /api/orders} < 300ms for 3s abort", "passed": False,
     "observed": 420.0, "message": "p95 above 300 ms for 3 s", "window": (2, 4), "abort": True,
     "scope": ORDERS},
]
