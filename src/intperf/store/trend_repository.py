"""Reads for trends and the daily report, and the record of daily reports already sent.

Only the columns and JSON members needed are read (a summary's ``global`` or ``requests``
member, never its time series), every query is bounded by a date range and a row limit, and
values are bound parameters.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select

from intperf.stats.trends import TrendPoint
from intperf.store.database import Database
from intperf.store.records import utcnow
from intperf.store.repositories import LIVE_TEST_TYPE
from intperf.store.tables import AuditLogRow, RunRow, ScheduleRow

__all__ = [
    "DAILY_REPORT_ACTION",
    "FINISHED_STATUSES",
    "MAX_RUNS",
    "DayRunRecord",
    "ReportDeliveryLog",
    "ScenarioRuns",
    "TrendRepository",
    "point_from_stats",
]

#: Runs with a summary worth a trend point: they ran to the end and were judged.
FINISHED_STATUSES = ("passed", "failed")
#: At most this many runs are read for one trend or one day.
MAX_RUNS = 2_000
#: Runs per scenario whose request names make up its endpoint list.
ENDPOINT_RUNS = 20
#: The audit-log action that records a daily report sent by the service.
DAILY_REPORT_ACTION = "report.daily.sent"

Clock = Callable[[], datetime]


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def point_from_stats(run_id: str, at: datetime, verdict: str | None,
                     stats: Mapping[str, Any] | None) -> TrendPoint | None:
    """A trend point from a summary's ``global`` object or one ``requests`` entry."""
    if not isinstance(stats, Mapping):
        return None
    latency = stats.get("latency")
    latency = latency if isinstance(latency, Mapping) else {}
    return TrendPoint(run_id=run_id, at=at, p95_ms=_num(latency.get("p95")),
                      p99_ms=_num(latency.get("p99")), rps=_num(stats.get("rps")),
                      error_rate=_num(stats.get("error_rate")), verdict=verdict)


def _request_stats(requests: Any, endpoint: str) -> Mapping[str, Any] | None:
    if not isinstance(requests, list):
        return None
    for entry in requests:
        if isinstance(entry, Mapping) and entry.get("name") == endpoint:
            return entry
    return None


@dataclass(frozen=True, slots=True)
class ScenarioRuns:
    """A scenario with finished runs in a window: its request names and how many runs."""

    scenario: str
    endpoints: tuple[str, ...]
    runs: int

    def to_dict(self) -> dict[str, Any]:
        """An entry of ``GET /api/v1/trends/scenarios``."""
        return {"scenario": self.scenario, "endpoints": list(self.endpoints), "runs": self.runs}


@dataclass(frozen=True, slots=True)
class DayRunRecord:
    """What the daily report reads of one run (its summary's ``global`` member only)."""

    id: str
    scenario: str
    name: str | None
    test_type: str
    status: str
    verdict: str | None
    created_at: datetime
    started_at: datetime | None
    duration_s: float | None
    requested_by: str | None
    schedule_id: str | None
    schedule_name: str | None
    global_stats: Mapping[str, Any] | None


class TrendRepository:
    """Finished runs' figures over time, per scenario and request name."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def _finished(since: datetime, until: datetime) -> list[ColumnElement[bool]]:
        return [RunRow.status.in_(FINISHED_STATUSES), RunRow.test_type != LIVE_TEST_TYPE,
                RunRow.created_at >= since, RunRow.created_at < until]

    def points(self, scenario: str, endpoint: str | None, since: datetime, until: datetime,
               *, limit: int = MAX_RUNS) -> builtins.list[TrendPoint]:
        """Points of ``scenario``'s finished runs created in ``[since, until)``, oldest first.

        ``endpoint`` None: all requests (the summary's ``global``); else that request name's
        entry (runs without it are left out). The newest ``limit`` runs at most.
        """
        member = RunRow.summary["global"] if endpoint is None else RunRow.summary["requests"]
        q = (select(RunRow.id, RunRow.created_at, RunRow.started_at, RunRow.verdict, member)
             .where(RunRow.scenario == scenario, *self._finished(since, until))
             .order_by(RunRow.created_at.desc(), RunRow.id.desc()).limit(limit))
        out: list[TrendPoint] = []
        with self._db.session() as s:
            rows = s.execute(q).all()
        for run_id, created_at, started_at, verdict, doc in reversed(rows):
            stats = doc if endpoint is None else _request_stats(doc, endpoint)
            point = point_from_stats(run_id, started_at or created_at, verdict, stats)
            if point is not None:
                out.append(point)
        return out

    def scenario_exists(self, scenario: str) -> bool:
        """Whether any run of ``scenario`` is stored."""
        with self._db.session() as s:
            q = select(RunRow.id).where(RunRow.scenario == scenario).limit(1)
            return s.scalar(q) is not None

    def scenarios(self, since: datetime, until: datetime, *,
                  limit: int = 200) -> builtins.list[ScenarioRuns]:
        """Scenarios with finished runs in ``[since, until)``, by name: run counts and the
        request names of their latest runs (first appearance order)."""
        where = self._finished(since, until)
        counts = (select(RunRow.scenario, func.count()).where(*where)
                  .group_by(RunRow.scenario).order_by(RunRow.scenario).limit(limit))
        out: list[ScenarioRuns] = []
        with self._db.session() as s:
            for scenario, runs in s.execute(counts).all():
                latest = (select(RunRow.summary["requests"])
                          .where(RunRow.scenario == scenario, *where)
                          .order_by(RunRow.created_at.desc()).limit(ENDPOINT_RUNS))
                names: dict[str, None] = {}
                for requests in s.scalars(latest):
                    for entry in requests if isinstance(requests, list) else ():
                        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
                            names.setdefault(entry["name"], None)
                out.append(ScenarioRuns(scenario, tuple(names), int(runs)))
        return out

    def runs_between(self, start: datetime, end: datetime, *,
                     limit: int = MAX_RUNS) -> builtins.list[DayRunRecord]:
        """Runs created in ``[start, end)`` (live analytics runs aside), oldest first."""
        q = (select(RunRow.id, RunRow.scenario, RunRow.options["name"], RunRow.test_type,
                    RunRow.status, RunRow.verdict, RunRow.created_at, RunRow.started_at,
                    RunRow.duration_s, RunRow.requested_by, RunRow.schedule_id,
                    ScheduleRow.name, RunRow.summary["global"])
             .outerjoin(ScheduleRow, ScheduleRow.id == RunRow.schedule_id)
             .where(RunRow.created_at >= start, RunRow.created_at < end,
                    RunRow.test_type != LIVE_TEST_TYPE)
             .order_by(RunRow.created_at, RunRow.id).limit(limit))
        with self._db.session() as s:
            rows = s.execute(q).all()
        return [DayRunRecord(id=r[0], scenario=r[1], name=r[2] if isinstance(r[2], str) else None,
                             test_type=r[3], status=r[4], verdict=r[5], created_at=r[6],
                             started_at=r[7], duration_s=r[8], requested_by=r[9],
                             schedule_id=r[10], schedule_name=r[11],
                             global_stats=r[12] if isinstance(r[12], Mapping) else None)
                for r in rows]


class ReportDeliveryLog:
    """Which day's daily report the service sent last, kept in the audit log.

    One entry per day sent (action ``report.daily.sent``, target the ISO day), written
    before the channels are called, so a restart never sends a day twice.
    """

    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    def last_sent(self) -> date | None:
        """The latest day recorded as sent, or None."""
        q = (select(AuditLogRow.target).where(AuditLogRow.action == DAILY_REPORT_ACTION)
             .order_by(AuditLogRow.id.desc()).limit(1))
        with self._db.session() as s:
            target = s.scalar(q)
        if target is None:
            return None
        try:
            return date.fromisoformat(target)
        except ValueError:
            return None

    def record(self, day: date, detail: Mapping[str, Any]) -> None:
        """Record ``day`` as sent (by the ``scheduler``)."""
        with self._db.session() as s:
            s.add(AuditLogRow(at=self._clock(), actor="scheduler", action=DAILY_REPORT_ACTION,
                              target=day.isoformat(), detail=dict(detail)))
