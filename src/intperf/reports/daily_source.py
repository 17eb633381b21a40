"""Read what the daily report needs from the run database (synchronous; call it off the loop).

The day's runs, each finished run compared with its scenario's baseline (``compare_runs`` on
the stored per-second series, as the service does after a run), and the 30-day trend of every
scenario with finished runs in those 30 days (the day's scenarios first).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta

from intperf.loadtest.comparison import RunComparison, compare_runs
from intperf.loadtest.results import TimeSeries
from intperf.reports.daily import DailyReport, build_daily_report, day_bounds
from intperf.stats.trends import Trend, build_trend
from intperf.store import BaselineRepository, Database, RunRepository
from intperf.store.records import utcnow
from intperf.store.trend_repository import FINISHED_STATUSES, MAX_RUNS, TrendRepository

__all__ = ["MAX_COMPARED", "MAX_TREND_SCENARIOS", "load_daily_report"]

log = logging.getLogger(__name__)

#: Scenarios whose trends the report draws (the day's scenarios first, then by name).
MAX_TREND_SCENARIOS = 12
#: Runs of one day compared with their baselines (each reads two per-second series).
MAX_COMPARED = 200

Compare = Callable[[TimeSeries, TimeSeries], RunComparison]


def load_daily_report(
    db: Database,
    day: date,
    *,
    now: datetime | None = None,
    trend_days: int = 30,
    compare: Compare = compare_runs,
    max_trend_scenarios: int = MAX_TREND_SCENARIOS,
) -> DailyReport:
    """The daily report of the UTC ``day`` from ``db``."""
    start, end = day_bounds(day)
    trends_repo = TrendRepository(db)
    runs_repo = RunRepository(db)
    baselines = BaselineRepository(db)
    records = trends_repo.runs_between(start, end, limit=MAX_RUNS + 1)
    truncated = len(records) > MAX_RUNS
    records = records[:MAX_RUNS]

    comparisons: dict[str, tuple[str, RunComparison]] = {}
    baseline_of: dict[str, str | None] = {}
    series_cache: dict[str, TimeSeries] = {}

    def series(run_id: str) -> TimeSeries:
        if run_id not in series_cache:
            series_cache[run_id] = runs_repo.series(run_id)
        return series_cache[run_id]

    compared = 0
    for rec in records:
        if rec.status not in FINISHED_STATUSES or compared >= MAX_COMPARED:
            continue
        if rec.scenario not in baseline_of:
            baseline_of[rec.scenario] = baselines.get(rec.scenario)
        baseline = baseline_of[rec.scenario]
        if baseline is None or baseline == rec.id:
            continue
        base, cand = series(baseline), series(rec.id)
        if not base.seconds or not cand.seconds:
            continue
        compared += 1
        comparisons[rec.id] = (baseline, compare(base, cand))
        series_cache.pop(rec.id, None)  # only baselines are read again

    since = end - timedelta(days=trend_days)
    day_scenarios = list(dict.fromkeys(r.scenario for r in records))
    known = [s.scenario for s in trends_repo.scenarios(since, end)]
    ordered = [s for s in day_scenarios if s in known]
    ordered += [s for s in known if s not in ordered]
    trends: list[Trend] = []
    for scenario in ordered[:max_trend_scenarios]:
        points = trends_repo.points(scenario, None, since, end)
        trends.append(build_trend(scenario, None, points, until=end, days=trend_days,
                                  recent_days=min(7, trend_days - 1)))
    log.info("daily report %s: %d runs, %d compared, %d trends", day, len(records),
             len(comparisons), len(trends))
    return build_daily_report(day, records, comparisons, trends,
                              generated_at=now or utcnow(), trend_days=trend_days,
                              truncated=truncated)
