"""TrendRepository, ReportDeliveryLog and the daily report's reads on SQLite and PostgreSQL
(the summary's JSON members are read with each backend's JSON operators: JSONB on PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
import pytest
from psycopg import sql
from sqlalchemy import make_url

from intperf.loadtest.results import TimeSeries
from intperf.reports import RunInfo, build_summary
from intperf.reports.daily_source import load_daily_report
from intperf.store import (
    BaselineRepository,
    Database,
    RunRecord,
    RunRepository,
    ScheduleRepository,
)
from intperf.store.trend_repository import ReportDeliveryLog, TrendRepository

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 24, tzinfo=UTC)
NAMES = ("GET /a", "POST /b")


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        with Database(f"sqlite:///{tmp_path / 'intperf.db'}") as database:
            database.migrate()
            yield database
        return
    server: str = request.getfixturevalue("postgres_url")
    u = make_url(server)
    name = f"trend_{uuid.uuid4().hex[:12]}"
    params = {"host": u.host, "port": u.port, "user": u.username, "dbname": u.database,
              "autocommit": True}
    with psycopg.connect(**params) as conn:  # type: ignore[arg-type]
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with Database(u.set(database=name).render_as_string(hide_password=False)) as database:
            database.migrate()
            yield database
    finally:
        with psycopg.connect(**params) as conn:  # type: ignore[arg-type]
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _store(db: Database, scenario: str, at: datetime, scale: float, *,
           schedule_id: str | None = None, status: str = "passed") -> str:
    rng = np.random.default_rng(int(scale * 1000) + at.day)
    series = TimeSeries()
    for s in range(8):
        for i, name in enumerate(NAMES):
            w = series.at(s).window(name)
            w.latency.record_many(rng.lognormal(np.log(scale * (i + 1)), 0.2, 40))
            w.ok += 40
    runs = RunRepository(db)
    rid = runs.create(RunRecord(id="", scenario=scenario, status="queued", created_at=at,
                                schedule_id=schedule_id, options={"name": f"{scenario}/x"}))
    if status == "passed":
        info = RunInfo(run_id=rid, scenario=scenario, scenario_source="t", base_url="",
                       model="closed", started_at=at, ended_at=at + timedelta(seconds=8),
                       duration_s=8.0, processes=1, status="passed")
        runs.save_result(rid, build_summary(series, [], info), [])
        runs.append_seconds(rid, at, list(series.seconds.values()))
    runs.set_status(rid, status, verdict="passed" if status == "passed" else None,
                    started_at=at)
    return rid


def test_points_scenarios_and_the_days_runs(db: Database) -> None:
    base = _store(db, "shop", START - timedelta(days=5), 20.0)
    BaselineRepository(db).set("shop", base, "t")
    history = [_store(db, "shop", START - timedelta(days=4 - i), 20.0) for i in range(4)]
    schedule = ScheduleRepository(db).create("nightly", "0 2 * * *", [{"name": "x"}])
    slow = _store(db, "shop", START + timedelta(hours=2), 80.0, schedule_id=schedule)
    _store(db, "shop", START + timedelta(hours=3), 80.0, status="aborted")

    repo = TrendRepository(db)
    until = START + timedelta(days=1)
    points = repo.points("shop", None, START - timedelta(days=30), until)
    assert [p.run_id for p in points] == [base, *history, slow]
    assert points[-1].rps == pytest.approx(80.0)
    assert points[-1].p95_ms is not None and points[-1].p95_ms > 80.0
    b = repo.points("shop", "POST /b", START - timedelta(days=30), until)
    assert b[-1].rps == pytest.approx(40.0)
    assert b[-1].p95_ms is not None and b[-1].p95_ms > points[-1].p95_ms
    assert [s.to_dict() for s in repo.scenarios(START - timedelta(days=90), until)] == [
        {"scenario": "shop", "endpoints": list(NAMES), "runs": 6}]

    day = repo.runs_between(START, until)
    assert [(r.id, r.schedule_name, r.name, r.status) for r in day] == [
        (slow, "nightly", "shop/x", "passed"), (day[1].id, None, "shop/x", "aborted")]
    assert day[0].global_stats is not None and day[0].global_stats["requests"] == 640
    assert day[1].global_stats is None

    report = load_daily_report(db, START.date())
    assert report.outcomes == {"passed": 1, "aborted": 1}
    assert [r.run_id for r in report.regressed_runs] == [slow]
    assert len(report.trends) == 1 and len(report.trends[0].points) == 6


def test_delivery_log(db: Database) -> None:
    log = ReportDeliveryLog(db)
    assert log.last_sent() is None
    log.record(date(2026, 11, 24), {"channels": []})
    assert log.last_sent() == date(2026, 11, 24)
