"""The daily report's model and the trend repository, on runs stored in SQLite with the real
repositories: which runs, verdict counts, regressions against baselines, trends, bounds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from intperf.reports.daily import build_daily_report, day_bounds, outcome_of
from intperf.reports.daily_source import load_daily_report
from intperf.store import (
    AuditRepository,
    BaselineRepository,
    Database,
    RunRecord,
    RunRepository,
    ScheduleRepository,
)
from intperf.store.trend_repository import ReportDeliveryLog, TrendRepository

from ._daily_data import ORDERS, PRODUCTS, sqlite_db, store_run

DAY = date(2026, 11, 24)
START = datetime(2026, 11, 24, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = sqlite_db(tmp_path)
    yield database
    database.close()


@pytest.fixture
def stored(db: Database) -> dict[str, str]:
    """A baseline, a history of 10 daily runs, and the day's runs of several kinds."""
    ids: dict[str, str] = {}
    ids["baseline"] = store_run(db, scenario="shop", created_at=START - timedelta(days=20),
                                scale=40.0, seed=100)
    BaselineRepository(db).set("shop", ids["baseline"], "tester")
    for i in range(10):
        store_run(db, scenario="shop", created_at=START - timedelta(days=10 - i, hours=-1),
                  scale=40.0, seed=i)
    schedule = ScheduleRepository(db).create("nightly", "0 2 * * *", [{"name": "smoke"}])
    ids["scheduled_slow"] = store_run(db, scenario="shop", created_at=START + timedelta(hours=2),
                                      scale=120.0, seed=50, schedule_id=schedule,
                                      name="nightly/smoke", requested_by="scheduler")
    ids["scheduled_same"] = store_run(db, scenario="shop",
                                      created_at=START + timedelta(hours=2, minutes=5),
                                      scale=40.0, seed=51, schedule_id=schedule,
                                      requested_by="scheduler")
    ids["manual_failed"] = store_run(db, scenario="search", created_at=START + timedelta(hours=9),
                                     scale=10.0, seed=52, status="failed")
    ids["aborted"] = store_run(db, scenario="shop", created_at=START + timedelta(hours=10),
                               status="aborted")
    ids["no_seconds"] = store_run(db, scenario="shop", created_at=START + timedelta(hours=11),
                                  scale=300.0, seed=53, with_seconds=False)
    # Outside the day, on both sides, and a live-analytics run inside it.
    store_run(db, scenario="shop", created_at=START + timedelta(days=1), seed=60)
    store_run(db, scenario="shop", created_at=START - timedelta(microseconds=1), seed=61)
    RunRepository(db).create(RunRecord(id="", scenario="live:svc", test_type="LIVE",
                                       status="running", created_at=START + timedelta(hours=3)))
    return ids


def test_the_report_holds_the_days_runs_split_by_schedule(db: Database,
                                                          stored: dict[str, str]) -> None:
    report = load_daily_report(db, DAY, now=START + timedelta(days=1, hours=7))
    assert [r.run_id for r in report.scheduled] == [stored["scheduled_slow"],
                                                    stored["scheduled_same"]]
    assert [r.run_id for r in report.other] == [stored["manual_failed"], stored["aborted"],
                                                stored["no_seconds"]]
    slow = report.scheduled[0]
    assert slow.schedule_name == "nightly"
    assert slow.name == "nightly/smoke"
    assert slow.requests == 1600
    assert slow.p95_ms is not None and slow.p95_ms > 120.0
    assert slow.rps == pytest.approx(80.0)
    assert slow.error_rate == 0.0


def test_verdicts_are_counted_per_outcome(db: Database, stored: dict[str, str]) -> None:
    report = load_daily_report(db, DAY)
    assert report.outcomes == {"passed": 3, "failed": 1, "aborted": 1}
    assert report.subject == ("intperf daily report 2026-11-24: 5 runs, 3 passed, 1 failed, "
                              "1 aborted, 1 regressed")


def test_each_finished_run_is_compared_with_its_scenarios_baseline(
        db: Database, stored: dict[str, str]) -> None:
    report = load_daily_report(db, DAY)
    by_id = {r.run_id: r for r in report.runs}
    slow = by_id[stored["scheduled_slow"]]
    assert slow.baseline_id == stored["baseline"]
    assert slow.comparison == "regressed"
    scopes = {(g.scope, g.metric) for g in slow.regressions}
    assert {("global", "p95"), ("global", "p99"), (PRODUCTS, "p95"), (ORDERS, "p99")} <= scopes
    assert all(g.relative is not None and g.relative > 1.0 for g in slow.regressions
               if g.metric in ("p95", "p99"))
    same = by_id[stored["scheduled_same"]]
    assert same.baseline_id == stored["baseline"]
    assert same.regressions == ()
    assert same.comparison in ("unchanged", "improved")
    # No baseline for "search"; aborted runs and runs without seconds are not compared.
    for key in ("manual_failed", "aborted", "no_seconds"):
        assert by_id[stored[key]].comparison is None
        assert by_id[stored[key]].baseline_id is None
    assert [r.run_id for r in report.regressed_runs] == [stored["scheduled_slow"]]
    assert report.regression_count == len(slow.regressions)


def test_the_baseline_run_itself_is_not_compared(db: Database, stored: dict[str, str]) -> None:
    BaselineRepository(db).set("shop", stored["scheduled_same"], "tester")
    report = load_daily_report(db, DAY)
    same = next(r for r in report.runs if r.run_id == stored["scheduled_same"])
    assert same.comparison is None


def test_trends_cover_30_days_with_the_days_scenarios_first(db: Database,
                                                            stored: dict[str, str]) -> None:
    report = load_daily_report(db, DAY)
    assert [t.scenario for t in report.trends] == ["shop", "search"]
    shop = report.trends[0]
    _, end = day_bounds(DAY)
    assert shop.until == end
    assert shop.since == end - timedelta(days=30)
    # baseline + 10 history + the run just before the day + 3 finished runs of the day (the
    # aborted one has no point; the one the next day is outside the window).
    assert len(shop.points) == 15
    assert shop.points[-1].run_id == stored["no_seconds"]
    assert report.to_dict()["trends"][0]["scenario"] == "shop"


def test_an_empty_day_has_no_runs_but_still_trends(db: Database,
                                                   stored: dict[str, str]) -> None:
    report = load_daily_report(db, DAY - timedelta(days=15))
    assert report.runs == ()
    assert report.outcomes == {}
    assert report.subject == "intperf daily report 2026-11-09: 0 runs"
    assert [t.scenario for t in report.trends] == ["shop"]


def test_build_daily_report_is_pure() -> None:
    report = build_daily_report(DAY, [], {}, [], generated_at=START)
    assert report.to_dict()["items"] == []
    assert outcome_of("passed", "failed") == "failed"
    assert outcome_of("cancelled", None) == "cancelled"


def test_trend_repository_reads_points_per_endpoint_within_bounds(
        db: Database, stored: dict[str, str]) -> None:
    repo = TrendRepository(db)
    since, until = START - timedelta(days=30), START + timedelta(days=1)
    all_points = repo.points("shop", None, since, until)
    orders = repo.points("shop", ORDERS, since, until)
    assert [p.run_id for p in all_points] == [p.run_id for p in orders]
    assert all(o.p95_ms is not None and a.p95_ms is not None and o.p95_ms > a.p95_ms
               for o, a in zip(orders, all_points, strict=True))
    assert repo.points("shop", "GET /nowhere", since, until) == []
    newest = repo.points("shop", None, since, until, limit=3)
    assert [p.run_id for p in newest] == [p.run_id for p in all_points[-3:]]
    assert repo.points("shop", None, START, START + timedelta(hours=3))[0].run_id == \
        stored["scheduled_slow"]
    assert repo.scenario_exists("shop")
    assert not repo.scenario_exists("nope")


def test_trend_repository_lists_scenarios_with_endpoints(db: Database,
                                                         stored: dict[str, str]) -> None:
    found = TrendRepository(db).scenarios(START - timedelta(days=90), START + timedelta(days=2))
    assert [s.to_dict() for s in found] == [
        {"scenario": "search", "endpoints": [PRODUCTS, ORDERS], "runs": 1},
        {"scenario": "shop", "endpoints": [PRODUCTS, ORDERS], "runs": 16},
    ]


def test_the_delivery_log_remembers_the_latest_day(db: Database) -> None:
    log = ReportDeliveryLog(db)
    assert log.last_sent() is None
    log.record(date(2026, 11, 23), {"channels": ["ops"]})
    log.record(date(2026, 11, 24), {"channels": ["ops"]})
    assert ReportDeliveryLog(db).last_sent() == date(2026, 11, 24)
    entry = AuditRepository(db).list(limit=1)[0]
    assert (entry.actor, entry.action, entry.target) == ("scheduler", "report.daily.sent",
                                                         "2026-11-24")
