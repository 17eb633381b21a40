"""What the service does by itself: scheduled suites, comparison with the baseline, alerts.

Schedules from ``intperf.schedules`` are written to the database (source ``config``) at
start-up next to those made through the API; the scheduler submits their tests like an
operator would. Every finished run is judged for alerts: a ``failed`` verdict raises
``run.failed`` for its scenario (a later passed run resolves it); a run whose scenario has a
baseline is compared with it and a regression raises ``run.regression`` (docs/alerting.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from intperf.errors import IntperfError
from intperf.loadtest.allowlist import TargetPolicy
from intperf.loadtest.comparison import compare_runs
from intperf.service.alerts import AlertEvent
from intperf.service.context import ServiceContext
from intperf.service.runspec import LoadTestRequest, build_scenario
from intperf.service.schedules import Schedule, Scheduler, SuiteTest, parse_schedules
from intperf.store import RunRecord, drop_partitions_before, ensure_partitions

log = logging.getLogger(__name__)

PARTITIONS_AHEAD_DAYS = 7
MAINTENANCE_INTERVAL = 3600.0


class Automation:
    """The scheduler and the after-run comparisons of one service."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.scheduler = Scheduler(self._load(), self.submit)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._maintenance: asyncio.Task[None] | None = None

    def _load(self) -> list[Schedule]:
        out = []
        for rec in self.ctx.schedules.list():
            try:
                parsed = parse_schedules([{"name": rec.name, "cron": rec.cron,
                                           "tests": rec.suite, "enabled": rec.enabled,
                                           **rec.options}])
            except IntperfError as exc:
                log.warning("schedule %s is invalid and skipped: %s", rec.name, exc)
                continue
            out.append(dataclasses.replace(parsed[0], id=rec.id))
        return out

    def reload(self) -> None:
        """Re-read the schedules (after the API changed one)."""
        self.scheduler.set_schedules(self._load())

    def submit(self, schedule: Schedule, test: SuiteTest) -> str:
        """Queue one test of a schedule, as the user ``scheduler``."""
        ctx = self.ctx
        body: dict[str, Any] = {"testType": test.test_type, "scenario": test.scenario,
                                "users": test.users, "duration": test.duration,
                                "rampUp": test.ramp_up, "name": f"{schedule.name}/{test.name}"}
        if test.base_url:
            body["baseUrl"] = test.base_url
        req = LoadTestRequest.model_validate(body)
        scenario = build_scenario(req, ctx.settings)
        # Same rule as the API: refuse a target outside the allowlist before queueing.
        TargetPolicy.parse(ctx.settings.intperf.allowed_targets).check(scenario.base_url or "")
        run_id = uuid.uuid4().hex[:12]
        ctx.runs.create(RunRecord(
            id=run_id, scenario=scenario.name, test_type=req.test_type, status="queued",
            verdict=None, created_at=datetime.now(UTC), started_at=None, ended_at=None,
            duration_s=None, requested_by="scheduler",
            options={"request": req.model_dump(by_alias=True, mode="json"),
                     "name": req.name},
            scenario_doc=scenario.model_dump(mode="json", exclude={"source", "base_dir"}),
            summary=None, error=None, schedule_id=schedule.id))
        ctx.schedules.mark_run(schedule.id)
        ctx.audit.record("scheduler", "run.submit", run_id,
                         {"schedule": schedule.name, "test": test.name})
        ctx.executor.submit(run_id)
        return run_id

    def on_finished(self, run_id: str) -> None:
        """Called by the executor when a run ends: judge and compare it in the background."""
        task = asyncio.get_running_loop().create_task(self.after_run(run_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def after_run(self, run_id: str) -> None:
        """The verdict alert (``run.failed``), then the comparison with the baseline."""
        rec = await asyncio.to_thread(self.ctx.runs.get, run_id)
        # Resolutions only mean something to the alert manager; plain sinks get failures only.
        verdicts = ("failed", "passed") if self.ctx.alert_manager is not None else ("failed",)
        if rec is not None and rec.verdict in verdicts:
            failed = rec.verdict == "failed"
            await self.ctx.alerts.emit(AlertEvent(
                kind="run.failed", severity="warning",
                title=f"{rec.scenario}: run {run_id} failed its criteria" if failed
                else f"{rec.scenario}: run {run_id} passed",
                details={"status": rec.status, "verdict": rec.verdict,
                         "schedule_id": rec.schedule_id, "error": rec.error},
                run_id=run_id, labels={"scenario": rec.scenario}, resolved=not failed))
        await self.compare_with_baseline(run_id)

    async def compare_with_baseline(self, run_id: str) -> dict[str, Any] | None:
        """Compare a finished run with its scenario's baseline; alert on a regression."""
        ctx = self.ctx
        rec = await asyncio.to_thread(ctx.runs.get, run_id)
        if rec is None or rec.summary is None:
            return None
        if rec.schedule_id is not None:
            schedule = await asyncio.to_thread(ctx.schedules.get, rec.schedule_id)
            if schedule is not None and schedule.options.get("compare-with-baseline") is False:
                return None
        baseline = await asyncio.to_thread(ctx.baselines.get, rec.scenario)
        if baseline is None or baseline == run_id:
            return None
        base_series = await asyncio.to_thread(ctx.runs.series, baseline)
        series = await asyncio.to_thread(ctx.runs.series, run_id)
        result = compare_runs(base_series, series)
        out: dict[str, Any] = result.to_dict()
        regressed = [f"{scope}:{metric}" for scope, metric in result.regressions]
        if not regressed and ctx.alert_manager is None:
            return out
        await ctx.alerts.emit(AlertEvent(
            kind="run.regression", severity="warning",
            title=f"{rec.scenario}: run {run_id} regressed against baseline {baseline} "
                  f"({', '.join(regressed[:5])})" if regressed
            else f"{rec.scenario}: run {run_id} is in line with baseline {baseline}",
            details={"baseline": baseline, "regressions": regressed,
                     "schedule_id": rec.schedule_id},
            run_id=run_id, labels={"scenario": rec.scenario}, resolved=not regressed))
        return out

    def maintain_storage(self) -> None:
        """Partitions ahead (PostgreSQL) and retention of per-second data (both backends)."""
        today = datetime.now(UTC).date()
        created = ensure_partitions(self.ctx.db, days_ahead=PARTITIONS_AHEAD_DAYS, today=today)
        dropped = drop_partitions_before(
            self.ctx.db, today - timedelta(days=self.ctx.settings.intperf.retention_days))
        if created or dropped:
            log.info("storage maintenance: created %s, dropped %s", created, dropped)

    async def _maintenance_loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.maintain_storage)
            except IntperfError as exc:  # the database may be down for a while: try later
                log.warning("storage maintenance failed: %s", exc)
            await asyncio.sleep(MAINTENANCE_INTERVAL)

    def start(self) -> None:
        """Start the scheduler and the storage maintenance."""
        self.scheduler.start()
        self._maintenance = asyncio.get_running_loop().create_task(self._maintenance_loop())

    async def stop(self) -> None:
        """Stop the scheduler and wait for pending comparisons."""
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        await self.scheduler.stop()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def schedule_options(item: Mapping[str, Any]) -> dict[str, Any]:
    """The schedule keys kept beside cron and tests (time zone, comparison)."""
    out: dict[str, Any] = {}
    for key in ("timezone", "compare-with-baseline", "compare_with_baseline"):
        if item.get(key) is not None:
            out[key.replace("_", "-")] = item[key]
    return out


def sync_config_schedules(ctx: ServiceContext) -> None:
    """Write ``intperf.schedules`` into the database (source ``config``)."""
    configured = parse_schedules(ctx.settings.intperf.schedules)
    raw = {str(item.get("name")): item for item in ctx.settings.intperf.schedules}
    names = set()
    for schedule in configured:
        names.add(schedule.name)
        item = raw.get(schedule.name, {})
        tests = [dict(t) for t in item.get("tests", [])]
        options = schedule_options(item)
        existing = ctx.schedules.get_by_name(schedule.name)
        if existing is None:
            ctx.schedules.create(schedule.name, str(item.get("cron")), tests,
                                 enabled=schedule.enabled, source="config", options=options)
        elif existing.source == "config":
            ctx.schedules.update(existing.id, cron=str(item.get("cron")), suite=tests,
                                 enabled=schedule.enabled, options=options)
    for rec in ctx.schedules.list(source="config"):
        if rec.name not in names:
            ctx.schedules.delete(rec.id)


async def start_automation(ctx: ServiceContext) -> Automation:
    """Sync configured schedules, start the scheduler, hook the after-run comparison."""
    await asyncio.to_thread(sync_config_schedules, ctx)
    automation = Automation(ctx)
    ctx.executor.on_finished = automation.on_finished
    ctx.scheduler = automation
    automation.start()
    return automation
