"""Send the previous day's report at ``intperf.reports.daily.at`` to the configured channels.

``DailyReportJob`` is the policy, with rendering, sending, the clock, sleeping and the record
of days sent injected (tests drive it with a fake clock). Each day is sent at most once: the
day is recorded (audit log, ``report.daily.sent``) after rendering and before the channels
are called, so a restart never sends it again. A service that was down at the send time
sends the missed report when it is back, the latest day only; a service that never sent one
starts with the next send time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from intperf.monitor.notification import Attachment, Notification
from intperf.service.context import ServiceContext
from intperf.store import Database
from intperf.store.trend_repository import ReportDeliveryLog

__all__ = [
    "DailyReportJob",
    "DeliveryLedger",
    "RenderedReport",
    "render_daily",
    "start_daily_report",
    "stop_daily_report",
]

log = logging.getLogger(__name__)

#: Longest single sleep: the clock is read again at least this often (suspends, clock steps).
MAX_SLEEP = 300.0
#: After a failed render, wait this long before trying again.
RETRY_AFTER = 300.0


@dataclass(frozen=True, slots=True)
class RenderedReport:
    """One day's report, rendered: what a notification carries."""

    day: date
    subject: str
    text: str
    html: str
    pdf: bytes
    payload: Mapping[str, Any] = field(default_factory=dict)

    def notification(self) -> Notification:
        """The ``daily-report`` notification, the PDF attached."""
        return Notification(
            kind="daily-report", subject=self.subject, text=self.text, html=self.html,
            payload={"kind": "daily-report", **self.payload},
            attachments=(Attachment(f"intperf-daily-{self.day.isoformat()}.pdf",
                                    "application/pdf", self.pdf),))


class DeliveryLedger(Protocol):
    """Where the days already sent are kept (``ReportDeliveryLog`` on the service)."""

    def last_sent(self) -> date | None:
        """The latest day sent, or None."""
        ...

    def record(self, day: date, detail: Mapping[str, Any]) -> None:
        """Remember that ``day`` was sent."""
        ...


Render = Callable[[date], Awaitable[RenderedReport]]
Send = Callable[[Sequence[str], Notification], Awaitable[Mapping[str, bool]]]
Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DailyReportJob:
    """Renders and sends the report of the day before each local ``at`` time, once per day."""

    def __init__(self, render: Render, send: Send, clock: Clock = _utcnow,
                 sleep: Sleep = asyncio.sleep, *, ledger: DeliveryLedger,
                 at: time = time(7, 0), tz: str = "UTC",
                 channels: Sequence[str] = ()) -> None:
        self.render = render
        self.send = send
        self.clock = clock
        self.sleep = sleep
        self.ledger = ledger
        self.at = at
        self.tz = ZoneInfo(tz)
        self.channels = tuple(channels)
        self._armed_at: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    def latest_fire(self, now: datetime) -> datetime:
        """The latest send time at or before ``now``."""
        local = now.astimezone(self.tz)
        fire = datetime.combine(local.date(), self.at, tzinfo=self.tz)
        if fire > local:
            fire = datetime.combine(local.date() - timedelta(days=1), self.at, tzinfo=self.tz)
        return fire

    def next_fire(self, now: datetime) -> datetime:
        """The first send time after ``now``."""
        latest = self.latest_fire(now)
        return datetime.combine(latest.date() + timedelta(days=1), self.at, tzinfo=self.tz)

    @staticmethod
    def day_of(fire: datetime) -> date:
        """The day a send time reports on: the (local) day before it."""
        return fire.date() - timedelta(days=1)

    async def tick(self) -> date | None:
        """Send the due day's report unless it was sent; returns the day sent, or None."""
        now = self.clock()
        if self._armed_at is None:
            self._armed_at = now
        fire = self.latest_fire(now)
        day = self.day_of(fire)
        last = await asyncio.to_thread(self.ledger.last_sent)
        if last is not None and last >= day:
            return None
        if last is None and fire < self._armed_at:
            return None  # never sent one: start with the first send time after start-up
        report = await self.render(day)
        await asyncio.to_thread(self.ledger.record, day,
                                {"channels": list(self.channels), "subject": report.subject})
        results = await self.send(self.channels, report.notification())
        failed = sorted(name for name, ok in results.items() if not ok)
        if failed:
            log.warning("daily report %s: not delivered to %s", day, ", ".join(failed))
        else:
            log.info("daily report %s sent to %s", day, ", ".join(self.channels) or "no channel")
        return day

    async def run(self) -> None:
        """Tick, then sleep until the next send time (at most ``MAX_SLEEP`` at once)."""
        while True:
            delay = MAX_SLEEP
            try:
                await self.tick()
            except Exception:  # one bad day (render, database) must not end the job
                log.exception("daily report failed; trying again in %.0f s", RETRY_AFTER)
                delay = RETRY_AFTER
            now = self.clock()
            until_next = (self.next_fire(now) - now).total_seconds()
            await self.sleep(max(1.0, min(delay, until_next)))

    def start(self) -> None:
        """Run the job as a task of the running loop."""
        if self._task is None or self._task.done():
            self._armed_at = self.clock()
            self._task = asyncio.get_running_loop().create_task(self.run(),
                                                                name="intperf-daily-report")

    async def stop(self) -> None:
        """Cancel the task and wait for it."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def render_daily(db: Database, day: date) -> RenderedReport:
    """Load and render ``day``'s report (synchronous: database reads and WeasyPrint)."""
    from intperf.reports.daily_render import render_html, render_pdf, render_text
    from intperf.reports.daily_source import load_daily_report

    report = load_daily_report(db, day)
    html = render_html(report)
    summary = report.to_dict()
    payload = {k: summary[k] for k in ("day", "runs", "scheduled", "other", "outcomes",
                                       "regressedRuns", "regressions")}
    return RenderedReport(day=day, subject=report.subject, text=render_text(report),
                          html=html, pdf=render_pdf(html), payload=payload)


async def start_daily_report(ctx: ServiceContext) -> DailyReportJob | None:
    """Start the job when ``intperf.reports.daily.enabled``; sends through ``ctx.channels``."""
    cfg = ctx.settings.intperf.reports.daily
    if not cfg.enabled:
        return None

    async def render(day: date) -> RenderedReport:
        return await asyncio.to_thread(render_daily, ctx.db, day)

    async def send(names: Sequence[str], n: Notification) -> Mapping[str, bool]:
        channels = ctx.channels  # the alerting part's Channels (None: alerting is off)
        if channels is None:
            log.warning("daily report %s: no notification channels on this service", n.subject)
            return dict.fromkeys(names, False)
        return await channels.send(names, n)

    if not cfg.channels:
        log.warning("intperf.reports.daily is enabled without channels: nothing will be sent")
    if ctx.channels is not None:
        unknown = sorted(set(cfg.channels) - set(ctx.channels.names()))
        if unknown:
            log.warning("intperf.reports.daily.channels: unknown channel(s) %s",
                        ", ".join(unknown))
    hour, minute = (int(p) for p in cfg.at.split(":"))
    job = DailyReportJob(render, send, ledger=ReportDeliveryLog(ctx.db), at=time(hour, minute),
                         tz=cfg.timezone, channels=cfg.channels)
    job.start()
    return job


async def stop_daily_report(job: DailyReportJob | None) -> None:
    """Stop the job started by :func:`start_daily_report` (None: nothing to stop)."""
    if job is not None:
        await job.stop()
