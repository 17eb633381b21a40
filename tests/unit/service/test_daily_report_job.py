"""DailyReportJob with an injected clock, sleep and sender: once per day, never twice after a
restart, the missed day caught up, time zones, failures retried."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from intperf.monitor.notification import Notification
from intperf.service.daily_report import DailyReportJob, RenderedReport
from intperf.store import Database
from intperf.store.trend_repository import ReportDeliveryLog


@dataclass
class FakeTime:
    """A clock that only moves when the job sleeps."""

    now: datetime
    sleeps: list[float] = field(default_factory=list)
    until: datetime | None = None
    reached: asyncio.Event = field(default_factory=asyncio.Event)

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)
        if self.until is not None and self.now >= self.until:
            self.reached.set()
        await asyncio.sleep(0)


@dataclass
class Sender:
    sent: list[tuple[tuple[str, ...], Notification]] = field(default_factory=list)

    async def __call__(self, names: Sequence[str], n: Notification) -> Mapping[str, bool]:
        self.sent.append((tuple(names), n))
        return dict.fromkeys(names, True)


@dataclass
class MemoryLedger:
    days: list[date] = field(default_factory=list)

    def last_sent(self) -> date | None:
        return max(self.days, default=None)

    def record(self, day: date, detail: Mapping[str, Any]) -> None:
        self.days.append(day)


async def fake_render(day: date) -> RenderedReport:
    return RenderedReport(day=day, subject=f"report {day}", text="text", html="<p>html</p>",
                          pdf=b"%PDF-1.7 fake", payload={"day": day.isoformat()})


def make_job(t: FakeTime, send: Sender, ledger: Any, **kw: Any) -> DailyReportJob:
    return DailyReportJob(fake_render, send, t.clock, t.sleep, ledger=ledger,
                          channels=("ops", "mail"), **kw)


async def run_until(job: DailyReportJob, t: FakeTime, until: datetime) -> None:
    t.until = until
    t.reached.clear()
    job.start()
    await asyncio.wait_for(t.reached.wait(), 10)
    await job.stop()


async def test_sends_exactly_once_per_day_at_the_configured_time() -> None:
    t = FakeTime(datetime(2026, 11, 24, 6, 0, tzinfo=UTC))
    send, ledger = Sender(), MemoryLedger()
    job = make_job(t, send, ledger, at=time(7, 0))
    await run_until(job, t, datetime(2026, 11, 27, 12, 0, tzinfo=UTC))
    assert [n.subject for _, n in send.sent] == ["report 2026-11-23", "report 2026-11-24",
                                                 "report 2026-11-25", "report 2026-11-26"]
    assert ledger.days == [date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25),
                           date(2026, 11, 26)]
    names, n = send.sent[0]
    assert names == ("ops", "mail")
    assert n.kind == "daily-report"
    assert n.html == "<p>html</p>"
    assert n.payload == {"kind": "daily-report", "day": "2026-11-23"}
    (pdf,) = n.attachments
    assert (pdf.filename, pdf.content_type, pdf.data) == ("intperf-daily-2026-11-23.pdf",
                                                          "application/pdf", b"%PDF-1.7 fake")
    # It slept up to the send time rather than polling: at most MAX_SLEEP at once.
    assert max(t.sleeps) <= 300.0
    assert len(t.sleeps) < 4 * 24 * 12 + 10


async def test_a_restart_does_not_send_the_same_day_again(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'intperf.db'}")
    db.migrate()
    try:
        t = FakeTime(datetime(2026, 11, 24, 6, 59, tzinfo=UTC))
        send = Sender()
        first = make_job(t, send, ReportDeliveryLog(db))
        await run_until(first, t, datetime(2026, 11, 24, 7, 30, tzinfo=UTC))
        assert [n.subject for _, n in send.sent] == ["report 2026-11-23"]
        # A new process, same database, later the same day: nothing more to send.
        second = make_job(t, send, ReportDeliveryLog(db))
        assert await second.tick() is None
        await run_until(second, t, datetime(2026, 11, 24, 20, 0, tzinfo=UTC))
        assert [n.subject for _, n in send.sent] == ["report 2026-11-23"]
    finally:
        db.close()


async def test_a_missed_send_is_caught_up_once_after_downtime() -> None:
    ledger = MemoryLedger([date(2026, 11, 21)])
    t = FakeTime(datetime(2026, 11, 24, 10, 0, tzinfo=UTC))  # down at 07:00 on 22, 23, 24
    send = Sender()
    job = make_job(t, send, ledger)
    await run_until(job, t, datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    assert [n.subject for _, n in send.sent] == ["report 2026-11-23"]  # latest day only


async def test_a_first_start_after_the_send_time_waits_for_the_next_one() -> None:
    t = FakeTime(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    send = Sender()
    job = make_job(t, send, MemoryLedger())
    await run_until(job, t, datetime(2026, 11, 25, 6, 59, tzinfo=UTC))
    assert send.sent == []
    await run_until(job, t, datetime(2026, 11, 25, 7, 30, tzinfo=UTC))
    assert [n.subject for _, n in send.sent] == ["report 2026-11-24"]


def test_send_times_follow_the_time_zone() -> None:
    t = FakeTime(datetime(2026, 11, 24, 6, 0, tzinfo=UTC))
    job = make_job(t, Sender(), MemoryLedger(), at=time(7, 0), tz="Europe/Berlin")
    # 07:00 in Berlin is 06:00 UTC in winter.
    now = datetime(2026, 11, 24, 6, 30, tzinfo=UTC)
    assert job.latest_fire(now).astimezone(UTC) == datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    assert job.day_of(job.latest_fire(now)) == date(2026, 11, 23)
    assert job.next_fire(now).astimezone(UTC) == datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    before = datetime(2026, 11, 24, 5, 59, tzinfo=UTC)
    assert job.day_of(job.latest_fire(before)) == date(2026, 11, 22)


async def test_a_failed_render_is_retried_and_not_recorded(
        caplog: pytest.LogCaptureFixture) -> None:
    t = FakeTime(datetime(2026, 11, 24, 6, 55, tzinfo=UTC))
    send, ledger = Sender(), MemoryLedger()
    failures = [RuntimeError("database away")]

    async def flaky(day: date) -> RenderedReport:
        if failures:
            raise failures.pop()
        return await fake_render(day)

    job = DailyReportJob(flaky, send, t.clock, t.sleep, ledger=ledger, channels=("ops",))
    await run_until(job, t, datetime(2026, 11, 24, 8, 0, tzinfo=UTC))
    assert [n.subject for _, n in send.sent] == ["report 2026-11-23"]
    assert ledger.days == [date(2026, 11, 23)]
    assert "daily report failed" in caplog.text


async def test_undelivered_channels_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    t = FakeTime(datetime(2026, 11, 24, 7, 0, tzinfo=UTC))

    async def refuse(names: Sequence[str], n: Notification) -> Mapping[str, bool]:
        return {"ops": False, "mail": True}

    job = DailyReportJob(fake_render, refuse, t.clock, t.sleep,
                         ledger=MemoryLedger([date(2026, 11, 22)]), channels=("ops", "mail"))
    assert await job.tick() == date(2026, 11, 23)
    assert "not delivered to ops" in caplog.text
    assert await job.tick() is None  # recorded before sending: at most once


@dataclass
class RecordingNotifier:
    """A channel (the alerting part's ``Notifier`` protocol) that keeps what it gets."""

    name: str
    got: list[Notification] = field(default_factory=list)

    async def deliver(self, n: Notification) -> None:
        self.got.append(n)


async def test_the_rendered_report_goes_through_the_real_channels(tmp_path: Path) -> None:
    from intperf.monitor.notifiers import Channels, LogNotifier
    from intperf.service.daily_report import render_daily

    db = Database(f"sqlite:///{tmp_path / 'intperf.db'}")
    db.migrate()
    try:
        rendered = await asyncio.to_thread(render_daily, db, date(2026, 11, 24))
    finally:
        db.close()
    inbox = RecordingNotifier("ops")
    channels = Channels([inbox, LogNotifier("log")], retries=0)
    t = FakeTime(datetime(2026, 11, 25, 7, 0, tzinfo=UTC))

    async def render(day: date) -> RenderedReport:
        return rendered

    job = DailyReportJob(render, channels.send, t.clock, t.sleep,
                         ledger=MemoryLedger([date(2026, 11, 23)]), channels=("ops", "log"))
    assert await job.tick() == date(2026, 11, 24)
    (n,) = inbox.got
    assert n.kind == "daily-report"
    assert n.subject == "intperf daily report 2026-11-24: 0 runs"
    assert n.text.startswith(n.subject)
    assert n.html is not None and "Daily report · 2026-11-24" in n.html
    assert n.payload["kind"] == "daily-report"
    assert n.payload["runs"] == 0
    (pdf,) = n.attachments
    assert pdf.filename == "intperf-daily-2026-11-24.pdf"
    assert pdf.data.startswith(b"%PDF")
