"""Trends and the daily report through the real service (SQLite), and `intperf reports daily`
against it and against the storage directly."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pytest
from service_support import LiveService

from conftest import run_service
from intperf.loadtest.results import TimeSeries
from intperf.reports import RunInfo, build_summary
from intperf.store import BaselineRepository, Database, RunRecord, RunRepository

pytestmark = pytest.mark.integration

PRODUCTS = "GET /api/products"
YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)


def _series(scale: float, seed: int) -> TimeSeries:
    rng = np.random.default_rng(seed)
    series = TimeSeries()
    for s in range(10):
        for name, n in ((PRODUCTS, 50), ("POST /api/orders", 10)):
            w = series.at(s).window(name)
            lat = rng.lognormal(np.log(scale), 0.3, n)
            w.latency.record_many(lat)
            w.service.record_many(lat)
            w.ok += n
    return series


def _store(db: Database, scenario: str, at: datetime, scale: float, seed: int) -> str:
    runs = RunRepository(db)
    rid = runs.create(RunRecord(id="", scenario=scenario, status="queued", created_at=at,
                                requested_by="test"))
    series = _series(scale, seed)
    info = RunInfo(run_id=rid, scenario=scenario, scenario_source="test",
                   base_url="http://127.0.0.1:1", model="closed", started_at=at,
                   ended_at=at + timedelta(seconds=10), duration_s=10.0, processes=1,
                   status="passed")
    runs.save_result(rid, build_summary(series, [], info), [])
    runs.append_seconds(rid, at, list(series.seconds.values()))
    runs.set_status(rid, "passed", verdict="passed", started_at=at, duration_s=10.0)
    return rid


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    base = tmp_path_factory.mktemp("daily-api")
    storage = f"sqlite:///{base / 'intperf.db'}"
    with Database(storage) as db:
        db.migrate()
        noon = datetime.combine(YESTERDAY, time(12), tzinfo=UTC)
        baseline = _store(db, "shop", noon - timedelta(days=20), 40.0, 1)
        BaselineRepository(db).set("shop", baseline, "test")
        for i in range(15):
            _store(db, "shop", noon - timedelta(days=15 - i), 40.0, 10 + i)
        _store(db, "shop", noon, 150.0, 99)
    env = {"INTPERF_INTPERF__REPORTS__DAILY__ENABLED": "true",
           "INTPERF_INTPERF__REPORTS__DAILY__AT": "07:00",
           "INTPERF_INTPERF__REPORTS__DAILY__CHANNELS": "[log]"}
    with run_service(storage, base, "sqlite", extra_env=env) as live:
        yield live


def test_trend_of_a_scenario(svc: LiveService) -> None:
    with svc.client("viewer") as c:
        r = c.get("/api/v1/trends", params={"scenario": "shop", "days": 30})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["scenario"] == "shop"
        assert body["endpoint"] is None
        assert body["days"] == 30
        assert len(body["points"]) == 17
        assert set(body["points"][0]) == {"runId", "at", "p95Ms", "p99Ms", "rps", "errorRate",
                                          "verdict"}
        assert set(body["slopes"]) == {"p95Ms", "p99Ms", "rps", "errorRate"}
        assert body["change"] is None or body["change"]["verdict"] in ("regressed", "improved")
        one = c.get("/api/v1/trends", params={"scenario": "shop", "endpoint": PRODUCTS,
                                              "days": 90}).json()
        assert one["endpoint"] == PRODUCTS
        assert one["days"] == 90
        assert len(one["points"]) == 17
        assert [p["runId"] for p in one["points"]] == [p["runId"] for p in body["points"]]
        assert one["points"][-1]["rps"] == pytest.approx(50.0)  # 50 of the 60 requests/s
        assert body["points"][-1]["rps"] == pytest.approx(60.0)


@pytest.mark.parametrize(("params", "status", "field"), [
    ({"scenario": "shop", "days": 7}, 422, "days"),
    ({"scenario": "shop", "days": "month"}, 422, "days"),
    ({"days": 30}, 422, "scenario"),
    ({"scenario": "nope", "days": 30}, 404, "scenario"),
])
def test_trend_errors_name_the_field(svc: LiveService, params: dict[str, object], status: int,
                                     field: str) -> None:
    with svc.client("viewer") as c:
        r = c.get("/api/v1/trends", params=params)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field


def test_trend_scenarios(svc: LiveService) -> None:
    with svc.client("viewer") as c:
        r = c.get("/api/v1/trends/scenarios")
    assert r.status_code == 200
    assert r.json() == {"scenarios": [{"scenario": "shop", "runs": 17,
                                       "endpoints": [PRODUCTS, "POST /api/orders"]}]}


def test_routes_need_a_key(svc: LiveService) -> None:
    with svc.client(None) as c:
        for path in ("/api/v1/trends?scenario=shop", "/api/v1/trends/scenarios",
                     "/api/v1/reports/daily"):
            assert c.get(path).status_code == 401


def test_daily_report_html_and_pdf(svc: LiveService) -> None:
    with svc.client("viewer", timeout=120) as c:
        html = c.get("/api/v1/reports/daily", params={"date": YESTERDAY.isoformat()})
        assert html.status_code == 200, html.text
        assert html.headers["content-type"] == "text/html; charset=utf-8"
        assert f"Daily report · {YESTERDAY.isoformat()}" in html.text
        assert "Other runs (1)" in html.text
        assert "regressed" in html.text
        default = c.get("/api/v1/reports/daily")  # yesterday
        assert default.status_code == 200
        assert f"Daily report · {YESTERDAY.isoformat()}" in default.text
        pdf = c.get("/api/v1/reports/daily", params={"date": YESTERDAY.isoformat(),
                                                     "format": "pdf"})
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")


@pytest.mark.parametrize(("params", "field"), [
    ({"format": "docx"}, "format"),
    ({"date": "24.11.2026"}, "date"),
    ({"date": (date.today() + timedelta(days=2)).isoformat()}, "date"),
])
def test_daily_report_errors_name_the_field(svc: LiveService, params: dict[str, str],
                                            field: str) -> None:
    with svc.client("viewer") as c:
        r = c.get("/api/v1/reports/daily", params=params)
    assert r.status_code == 422
    assert r.json()["field"] == field


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTPERF_")}
    return subprocess.run([sys.executable, "-m", "intperf", "reports", "daily", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_cli_writes_the_report_from_the_service(svc: LiveService, tmp_path: Path) -> None:
    day = YESTERDAY.isoformat()
    done = _cli("--server", svc.base_url, "--api-key", svc.keys["viewer"], "--date", day,
                "--format", "pdf", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / f"intperf-daily-{day}.pdf").read_bytes().startswith(b"%PDF")
    bad = _cli("--server", svc.base_url, "--date", day, cwd=tmp_path)
    assert bad.returncode == 2
    assert "401" in bad.stderr


def test_cli_builds_the_report_from_the_storage(svc: LiveService, tmp_path: Path) -> None:
    config = tmp_path / "application.yml"
    config.write_text(f"intperf:\n  storage-url: {svc.settings.intperf.storage_url}\n")
    out = tmp_path / "day.html"
    done = _cli("--config", str(config), "--date", YESTERDAY.isoformat(), "--out", str(out),
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Other runs (1)" in out.read_text("utf-8")


def _sent_days(svc: LiveService) -> list[str]:
    with svc.client("admin") as c:
        entries = c.get("/api/v1/audit", params={"limit": 500}).json()
    return [e["target"] for e in entries if e["action"] == "report.daily.sent"]


def test_the_service_sends_the_missed_report_once_across_restarts(tmp_path: Path) -> None:
    import time as clock

    from intperf.store.trend_repository import ReportDeliveryLog

    storage = f"sqlite:///{tmp_path / 'intperf.db'}"
    with Database(storage) as db:
        db.migrate()
        _store(db, "shop", datetime.combine(YESTERDAY, time(9), tzinfo=UTC), 40.0, 1)
        # Sent two days ago; the send time (00:00 UTC) has passed today: yesterday is due.
        ReportDeliveryLog(db).record(YESTERDAY - timedelta(days=1), {"channels": ["log"]})
    env = {"INTPERF_INTPERF__REPORTS__DAILY__ENABLED": "true",
           "INTPERF_INTPERF__REPORTS__DAILY__AT": "00:00",
           "INTPERF_INTPERF__REPORTS__DAILY__CHANNELS": "[log]"}
    with run_service(storage, tmp_path, "sqlite", extra_env=env) as svc:
        deadline = clock.monotonic() + 60
        while YESTERDAY.isoformat() not in _sent_days(svc):
            assert clock.monotonic() < deadline, "the missed daily report was not sent"
            clock.sleep(0.2)
    with run_service(storage, tmp_path, "sqlite", extra_env=env) as svc:
        clock.sleep(2.0)  # time for a (wrong) second send to be recorded
        assert _sent_days(svc) == [YESTERDAY.isoformat(),
                                   (YESTERDAY - timedelta(days=1)).isoformat()]
