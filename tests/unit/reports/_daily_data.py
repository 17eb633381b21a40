"""Runs stored with the real repositories for the daily-report and trend tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from intperf.loadtest.results import ErrorClass, TimeSeries
from intperf.reports import build_summary
from intperf.store import Database, RunRecord, RunRepository

from ._data import make_info

PRODUCTS = "GET /api/products"
ORDERS = "POST /api/orders"
SECONDS = 20


def sqlite_db(tmp_path: Path) -> Database:
    """A migrated SQLite database under ``tmp_path``."""
    db = Database(f"sqlite:///{tmp_path / 'intperf.db'}")
    db.migrate()
    return db


def make_series(scale: float, *, seed: int, error_every: int = 0) -> TimeSeries:
    """SECONDS seconds of two request names; latency lognormal around ``scale`` ms."""
    rng = np.random.default_rng(seed)
    series = TimeSeries()
    for s in range(SECONDS):
        sw = series.at(s)
        sw.active_users = 5
        for name, n, factor in ((PRODUCTS, 60, 1.0), (ORDERS, 20, 3.0)):
            w = sw.window(name)
            lat = rng.lognormal(np.log(scale * factor), 0.3, n)
            w.latency.record_many(lat)
            w.service.record_many(lat * 0.9)
            failed = 1 if error_every and s % error_every == 0 else 0
            if failed:
                w.add_error(ErrorClass.HTTP_5XX, "status 500")
            w.ok += n - failed
    return series


def store_run(db: Database, *, scenario: str, created_at: datetime, scale: float = 40.0,
              seed: int = 1, status: str = "passed", schedule_id: str | None = None,
              name: str | None = None, run_id: str = "", with_seconds: bool = True,
              requested_by: str | None = "tester", error_every: int = 0) -> str:
    """A finished run with its summary (and per-second series) as the service stores one."""
    runs = RunRepository(db)
    series = make_series(scale, seed=seed, error_every=error_every)
    ended = created_at + timedelta(seconds=SECONDS + 1)
    rid = runs.create(RunRecord(
        id=run_id, scenario=scenario, test_type="NATIVE", status="queued",
        created_at=created_at, requested_by=requested_by, schedule_id=schedule_id,
        options={"name": name} if name else {}))
    summary = None
    if status in ("passed", "failed"):
        info = make_info(run_id=rid, scenario=scenario, started_at=created_at, ended_at=ended,
                         duration_s=float(SECONDS), status=status)
        summary = build_summary(series, [], info)
        runs.save_result(rid, summary, [])
        if with_seconds:
            runs.append_seconds(rid, created_at, list(series.seconds.values()))
    runs.set_status(rid, status, verdict=status if summary is not None else None,
                    started_at=created_at, ended_at=ended, duration_s=float(SECONDS))
    return rid
