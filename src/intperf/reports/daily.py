"""The daily report's model: one UTC day's runs, their verdicts and regressions, 30-day trends.

Pure: built from stored run records, baseline comparisons and trends handed in
(``daily_source.load_daily_report`` reads them); ``daily_render`` turns it into HTML, PDF
and plain text. docs/reports.md, "Daily report".
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from intperf.loadtest.comparison import GLOBAL, RunComparison
from intperf.stats.compare import MetricComparison
from intperf.stats.trends import Trend
from intperf.store.trend_repository import DayRunRecord

__all__ = [
    "OUTCOMES",
    "DailyReport",
    "DayRun",
    "Regression",
    "build_daily_report",
    "day_bounds",
    "outcome_of",
]

#: Outcomes in the order the report counts them.
OUTCOMES = ("passed", "failed", "aborted", "error", "interrupted", "cancelled", "running",
            "queued")


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """``[00:00, 24:00)`` of ``day`` in UTC."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def outcome_of(status: str, verdict: str | None) -> str:
    """A finished run's verdict, else its status (aborted, error, running …)."""
    if status in ("passed", "failed"):
        return verdict if verdict in ("passed", "failed") else status
    return status


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _json(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Regression:
    """One metric of one scope (``global`` or a request name) worse than in the baseline."""

    scope: str
    metric: str
    baseline: float | None
    candidate: float | None
    relative: float | None
    p_value: float | None

    @classmethod
    def of(cls, scope: str, m: MetricComparison) -> Regression:
        """From a metric comparison."""
        return cls(scope, m.metric, _json(m.baseline), _json(m.candidate), _json(m.relative),
                   _json(m.p_value))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"scope": self.scope, "metric": self.metric, "baseline": self.baseline,
                "candidate": self.candidate, "relative": self.relative,
                "pValue": self.p_value}


@dataclass(frozen=True, slots=True)
class DayRun:
    """One run of the day as the report shows it."""

    run_id: str
    scenario: str
    name: str | None
    test_type: str
    status: str
    outcome: str
    created_at: datetime
    started_at: datetime | None
    duration_s: float | None
    requested_by: str | None
    schedule_id: str | None
    schedule_name: str | None
    requests: int | None
    p95_ms: float | None
    p99_ms: float | None
    rps: float | None
    error_rate: float | None
    baseline_id: str | None = None
    comparison: str | None = None
    """Verdict against the baseline (``regressed``, ``improved``, ``unchanged``,
    ``insufficient_data``); None when not compared."""
    regressions: tuple[Regression, ...] = ()

    @property
    def scheduled(self) -> bool:
        """Submitted by a schedule (``schedule_id`` set)."""
        return self.schedule_id is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (camelCase like the API)."""
        return {
            "runId": self.run_id, "scenario": self.scenario, "name": self.name,
            "testType": self.test_type, "status": self.status, "outcome": self.outcome,
            "createdAt": _iso(self.created_at), "startedAt": _iso(self.started_at),
            "durationS": _json(self.duration_s), "requestedBy": self.requested_by,
            "scheduleId": self.schedule_id, "scheduleName": self.schedule_name,
            "requests": self.requests, "p95Ms": self.p95_ms, "p99Ms": self.p99_ms,
            "rps": self.rps, "errorRate": self.error_rate, "baselineId": self.baseline_id,
            "comparison": self.comparison,
            "regressions": [r.to_dict() for r in self.regressions],
        }


def day_run(record: DayRunRecord, baseline_id: str | None = None,
            comparison: RunComparison | None = None) -> DayRun:
    """A report row from a stored run and, when it was compared, its baseline comparison."""
    stats = record.global_stats or {}
    latency = stats.get("latency")
    latency = latency if isinstance(latency, Mapping) else {}
    requests = stats.get("requests")
    regressions: tuple[Regression, ...] = ()
    verdict: str | None = None
    if comparison is not None:
        verdict = comparison.global_.verdict.value
        found = [Regression.of(GLOBAL, comparison.global_[m])
                 for m in comparison.global_.regressions]
        for name, c in comparison.requests.items():
            found += [Regression.of(name, c[m]) for m in c.regressions]
        regressions = tuple(found)
        if regressions:
            verdict = "regressed"
    return DayRun(
        run_id=record.id, scenario=record.scenario, name=record.name,
        test_type=record.test_type, status=record.status,
        outcome=outcome_of(record.status, record.verdict), created_at=record.created_at,
        started_at=record.started_at, duration_s=record.duration_s,
        requested_by=record.requested_by, schedule_id=record.schedule_id,
        schedule_name=record.schedule_name,
        requests=requests if isinstance(requests, int) and not isinstance(requests, bool)
        else None,
        p95_ms=_num(latency.get("p95")), p99_ms=_num(latency.get("p99")),
        rps=_num(stats.get("rps")), error_rate=_num(stats.get("error_rate")),
        baseline_id=baseline_id if comparison is not None else None,
        comparison=verdict, regressions=regressions)


@dataclass(frozen=True, slots=True)
class DailyReport:
    """Everything the daily report shows, for one UTC day."""

    day: date
    generated_at: datetime
    runs: tuple[DayRun, ...]
    trends: tuple[Trend, ...]
    trend_days: int = 30
    truncated: bool = False
    """More runs were created that day than the report reads (``MAX_RUNS``)."""

    @property
    def scheduled(self) -> tuple[DayRun, ...]:
        """The day's runs submitted by schedules."""
        return tuple(r for r in self.runs if r.scheduled)

    @property
    def other(self) -> tuple[DayRun, ...]:
        """The day's other runs (API, CLI, imports)."""
        return tuple(r for r in self.runs if not r.scheduled)

    @property
    def outcomes(self) -> dict[str, int]:
        """Runs per outcome, in :data:`OUTCOMES` order (only outcomes that occurred)."""
        counts = Counter(r.outcome for r in self.runs)
        order = [o for o in OUTCOMES if counts[o]]
        order += sorted(o for o in counts if o not in OUTCOMES)
        return {o: counts[o] for o in order}

    @property
    def regressed_runs(self) -> tuple[DayRun, ...]:
        """Runs with at least one regression against their scenario's baseline."""
        return tuple(r for r in self.runs if r.regressions)

    @property
    def regression_count(self) -> int:
        """All (scope, metric) regressions of the day."""
        return sum(len(r.regressions) for r in self.runs)

    @property
    def subject(self) -> str:
        """One line for an e-mail subject or a chat message."""
        counts = self.outcomes
        parts = [f"{len(self.runs)} run{'s' if len(self.runs) != 1 else ''}"]
        parts += [f"{n} {o}" for o, n in counts.items()]
        if self.regressed_runs:
            parts.append(f"{len(self.regressed_runs)} regressed")
        return f"intperf daily report {self.day.isoformat()}: {', '.join(parts)}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (embedded in the HTML report, sent as the webhook payload)."""
        return {
            "day": self.day.isoformat(), "generatedAt": _iso(self.generated_at),
            "runs": len(self.runs), "scheduled": len(self.scheduled),
            "other": len(self.other), "outcomes": self.outcomes,
            "regressedRuns": len(self.regressed_runs),
            "regressions": self.regression_count, "truncated": self.truncated,
            "items": [r.to_dict() for r in self.runs],
            "trendDays": self.trend_days,
            "trends": [t.to_dict() for t in self.trends],
        }


def build_daily_report(
    day: date,
    records: Sequence[DayRunRecord],
    comparisons: Mapping[str, tuple[str, RunComparison]],
    trends: Sequence[Trend],
    *,
    generated_at: datetime,
    trend_days: int = 30,
    truncated: bool = False,
) -> DailyReport:
    """The report of ``day``: ``comparisons`` maps a run id to (baseline id, comparison)."""
    runs = []
    for rec in records:
        compared = comparisons.get(rec.id)
        runs.append(day_run(rec, *compared) if compared else day_run(rec))
    return DailyReport(day=day, generated_at=generated_at, runs=tuple(runs),
                       trends=tuple(trends), trend_days=trend_days, truncated=truncated)
