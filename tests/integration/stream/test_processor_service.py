"""The service's embedded processor: events posted to the API are windowed, stored as live
runs and their alerts reach the service's alert manager (stored, notified on the log)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from intperf.config import load_settings
from intperf.service.app import create_app
from intperf.store import AlertRepository, ApiKeyRepository, Database, StreamRepository
from intperf.store.stream_repository import live_run_id

pytestmark = pytest.mark.integration

DEADLINE_S = 20.0


def _api(service: str, t_ms: int, ms: float) -> dict[str, Any]:
    return {"kind": "API_RESPONSE", "service": service, "endpoint": "/api/orders/{id}",
            "method": "GET", "status": 200, "response_time_ms": ms, "event_time": t_ms}


async def test_posted_events_become_stored_windows_and_alerts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    env = {"INTPERF_INTPERF__STORAGE_URL": f"sqlite:///{tmp_path / 'svc.db'}",
           "INTPERF_INTPERF__RESULTS_DIR": str(tmp_path / "results"),
           "INTPERF_INTPERF__STREAM__WINDOW": "1s",
           "INTPERF_INTPERF__STREAM__GRACE": "0s",
           "INTPERF_INTPERF__STREAM__IDLE_TIMEOUT": "1h",
           "INTPERF_INTPERF__STREAM__COMMIT_INTERVAL": "0.1s",
           "INTPERF_INTPERF__ALERTING__GROUP_WAIT": "0s",
           "INTPERF_PERFORMANCE__MONITORING__ALERT_THRESHOLDS__RESPONSE_TIME_99TH": "100ms"}
    settings = load_settings(environ=env)
    db = Database(settings.intperf.storage_url)
    db.migrate()
    _, key = ApiKeyRepository(db).create("ops", "operator")
    now = int(time.time() * 1000) // 1000 * 1000 - 5_000
    events = [_api("orders", now + i * 10, 500.0) for i in range(50)]
    events.append(_api("orders", now + 3_000, 1.0))  # closes the first window
    caplog.set_level(logging.WARNING, logger="intperf.monitor.notifiers")
    try:
        app = create_app(settings, database=db)
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=transport, base_url="http://service") as client:
            r = await client.post("/api/v1/events", json=events, headers={"X-API-Key": key})
            assert r.status_code == 202, r.text
            repo = StreamRepository(db)
            run_id = live_run_id("orders", _day(now))
            deadline = time.monotonic() + DEADLINE_S
            while not _stored(db, run_id) or "orders: p99 response time" not in caplog.text:
                assert time.monotonic() < deadline, caplog.text
                await asyncio.sleep(0.05)  # the polling interval of the database read
            r = await client.get("/api/v1/analytics/status", headers={"X-API-Key": key})
            assert r.status_code == 200, r.text
            stats = r.json()["processor"]
            assert stats["events"] == 51 and stats["windows_stored"] == 1, stats
            text = (await client.get("/metrics", headers={"X-API-Key": key})).text
            assert 'intperf_live_requests{service="orders"} 50.0' in text
            p99 = [line for line in text.splitlines() if line.startswith(
                'intperf_live_window_response_time_seconds{percentile="99",service="orders"}')]
            assert len(p99) == 1 and abs(float(p99[0].split()[-1]) - 0.5) < 0.01, text
        checkpoints = repo.checkpoints(settings.intperf.stream.group)
        # The API publishes one binary frame per service and request.
        assert sum(c.next_offset for c in checkpoints.values()) == 1
        [alert] = AlertRepository(db).list(("firing",))[0]
        assert (alert.rule, dict(alert.labels)) == ("response-time-99th", {"service": "orders"})
    finally:
        db.close()
    assert "orders: p99 response time" in caplog.text


def _day(ms: int) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC)


def _stored(db: Database, run_id: str) -> bool:
    from sqlalchemy import func, select

    from intperf.store.tables import RunSecondRow

    with db.session() as s:
        n = s.scalar(select(func.count()).select_from(RunSecondRow)
                     .where(RunSecondRow.run_id == run_id))
    return bool(n)


async def test_cache_and_business_windows_are_stored_and_served(tmp_path: Path) -> None:
    env = {"INTPERF_INTPERF__STORAGE_URL": f"sqlite:///{tmp_path / 'svc.db'}",
           "INTPERF_INTPERF__RESULTS_DIR": str(tmp_path / "results"),
           "INTPERF_INTPERF__STREAM__WINDOW": "1s",
           "INTPERF_INTPERF__STREAM__CACHE_WINDOW": "1s",
           "INTPERF_INTPERF__STREAM__STORM_PANE": "1s",
           "INTPERF_INTPERF__STREAM__GRACE": "0s",
           "INTPERF_INTPERF__STREAM__IDLE_TIMEOUT": "1h",
           "INTPERF_INTPERF__STREAM__COMMIT_INTERVAL": "0.1s"}
    settings = load_settings(environ=env)
    db = Database(settings.intperf.storage_url)
    db.migrate()
    _, key = ApiKeyRepository(db).create("ops", "operator")
    t0 = int(time.time() * 1000) // 1000 * 1000 - 5_000
    cache = [{"kind": "CACHE_ACCESS", "service": "catalog", "region": "products",
              "hit": i % 4 != 0, "latency_ms": 0.5, "event_time": t0 + i} for i in range(40)]
    business = (
        [{"kind": "BUSINESS", "service": "checkout", "name": "order_created",
          "event_time": t0 + i} for i in range(6)]
        + [{"kind": "BUSINESS", "service": "checkout", "name": "payment_succeeded",
            "event_time": t0 + 10 + i} for i in range(3)]
        + [{"kind": "BUSINESS", "service": "checkout", "name": "payment_failed",
            "event_time": t0 + 20}])
    # Later events of the same keys close the first windows (grace 0).
    closers = [dict(cache[0], event_time=t0 + 2_000), dict(business[0], event_time=t0 + 2_000)]
    headers = {"X-API-Key": key}
    try:
        app = create_app(settings, database=db)
        transport = httpx.ASGITransport(app=app)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=transport, base_url="http://service") as client:
            r = await client.post("/api/v1/events", json=cache + business, headers=headers)
            assert r.status_code == 202, r.text
            r = await client.post("/api/v1/events", json=closers, headers=headers)
            assert r.status_code == 202, r.text
            deadline = time.monotonic() + DEADLINE_S
            while True:
                got_cache = (await client.get("/api/v1/analytics/cache",
                                              headers=headers)).json()["items"]
                got_business = (await client.get("/api/v1/analytics/business",
                                                 headers=headers)).json()["items"]
                if got_cache and got_business:
                    break
                assert time.monotonic() < deadline, (got_cache, got_business)
                await asyncio.sleep(0.05)  # the polling interval of the API read
            metrics = await client.get("/metrics", headers={"Authorization": f"Bearer {key}"})
            assert metrics.status_code == 200, metrics.text
            assert metrics.headers["content-type"].startswith("text/plain")
            text = metrics.text
    finally:
        db.close()
    [products] = got_cache
    assert products["region"] == "products" and products["start_ms"] == t0
    assert products["hit_rate"] == pytest.approx(30 / 40)
    [checkout] = got_business
    assert checkout["service"] == "checkout" and checkout["orders_created"] == 6
    assert checkout["payment_success_rate"] == pytest.approx(3 / 4)
    assert 'intperf_cache_hit_ratio{region="products"} 0.75' in text
    assert 'intperf_business_orders_created{service="checkout"} 6.0' in text
    assert 'intperf_business_payment_success_ratio{service="checkout"} 0.75' in text
    assert "intperf_stream_events_total" in text


async def test_a_second_instance_on_the_same_journal_serves_without_live_analytics(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    settings = load_settings(environ={
        "INTPERF_INTPERF__STORAGE_URL": f"sqlite:///{tmp_path / 'svc.db'}",
        "INTPERF_INTPERF__RESULTS_DIR": str(tmp_path / "results")})
    db = Database(settings.intperf.storage_url)
    db.migrate()
    _, key = ApiKeyRepository(db).create("ops", "operator")
    headers = {"X-API-Key": key}
    event = [_api("orders", int(time.time() * 1000), 5.0)]
    first, second = create_app(settings, database=db), create_app(settings, database=db)
    try:
        async with first.router.lifespan_context(first), \
                second.router.lifespan_context(second), \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=first),
                                  base_url="http://first") as one, \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=second),
                                  base_url="http://second") as two:
            assert (tmp_path / "svc.db.journal").is_dir()  # the journal sits by its database
            assert (await one.post("/api/v1/events", json=event, headers=headers)).status_code \
                == 202
            r = await two.post("/api/v1/events", json=event, headers=headers)
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"]
            assert (await two.get("/api/v1/performance/runs", headers=headers)).status_code \
                == 200
    finally:
        db.close()
    assert "live analytics are off on this instance" in caplog.text
    assert "in use by another process" in caplog.text
