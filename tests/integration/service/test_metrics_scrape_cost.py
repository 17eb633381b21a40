"""What a scrape of the live histograms costs with many services (docs/monitoring.md).

Run as a script for bigger numbers:
``.venv/bin/python tests/integration/service/test_metrics_scrape_cost.py SERVICES WINDOWS``.
The test runs a small case and checks that a warm scrape reads only the new windows.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from intperf.loadtest.results import SecondWindow
from intperf.monitor.metrics_live import LiveLatency, latency_bounds, live_families
from intperf.store import Database, StreamRepository
from intperf.store.stream_repository import LiveWindow, StreamProgress

pytestmark = pytest.mark.integration
ENDPOINTS = 5


def _window(rng: np.random.Generator) -> SecondWindow:
    w = SecondWindow(0)
    for e in range(ENDPOINTS):
        rw = w.window(f"GET /api/e{e}")
        values = rng.lognormal(4.0, 0.8, 200)
        rw.latency.record_many(values)
        rw.service.record_many(values)
        rw.ok = 200
    return w


def _store(db: Database, services: int, windows: int, first: int, day: datetime) -> None:
    rng = np.random.default_rng(1)
    template = _window(rng).to_dict()
    repo = StreamRepository(db)
    day_ms = int(day.timestamp() * 1000)
    for i in range(first, first + windows):
        progress = StreamProgress(windows=[
            LiveWindow(f"svc-{s:04d}", day_ms + i * 60_000, SecondWindow.from_dict(template))
            for s in range(services)])
        repo.store_progress("cost", progress)


def _scrape(acc: LiveLatency, db: Database, now: datetime) -> tuple[float, int]:
    started = time.perf_counter()
    totals = acc.refresh(db, now)

    class C(Collector):
        def collect(self):  # type: ignore[no-untyped-def]
            yield from live_families(totals, acc.bounds_s, 60.0)

    reg = CollectorRegistry(auto_describe=False)
    reg.register(C())
    size = len(generate_latest(reg))
    return time.perf_counter() - started, size


def measure(path: Path, services: int, windows: int) -> dict[str, float]:
    """First scrape over ``windows`` stored windows per service (skipped: history), a warm
    scrape (nothing new), a backlog of ``windows`` new windows each, one new window each."""
    now = datetime.now(UTC)
    day = datetime(now.year, now.month, now.day, tzinfo=UTC)
    windows = min(windows, max(1, int((now - day).total_seconds() // 120) - 1))
    with Database(f"sqlite:///{path}") as db:
        db.migrate()
        _store(db, services, windows, 0, day)
        acc = LiveLatency(latency_bounds((2.0, 0.5)))
        first, size = _scrape(acc, db, now)
        assert all(t.windows == 0 and t.latest_requests for t in acc.refresh(db, now))
        warm, _ = _scrape(acc, db, now)
        _store(db, services, windows, windows, day)
        backlog, _ = _scrape(acc, db, now)
        _store(db, services, 1, 2 * windows, day)
        one_new, _ = _scrape(acc, db, now)
        totals = acc.refresh(db, now)
    assert all(t.windows == windows + 1 and t.count == (windows + 1) * ENDPOINTS * 200
               for t in totals)
    return {"services": services, "windows": windows, "first_s": first, "warm_s": warm,
            "backlog_s": backlog, "backlog_ms_per_window": backlog / (services * windows) * 1e3,
            "one_new_window_s": one_new, "bytes": size}


def test_scrape_cost_grows_with_new_windows_not_with_the_day(tmp_path: Path) -> None:
    r = measure(tmp_path / "cost.db", services=50, windows=20)
    assert r["warm_s"] < 1.0 and r["one_new_window_s"] < 2.0, r


if __name__ == "__main__":
    import tempfile

    n_services, n_windows = (int(a) for a in sys.argv[1:3])
    with tempfile.TemporaryDirectory() as tmp:
        print(measure(Path(tmp) / "cost.db", n_services, n_windows))
