"""Scheduler: tick() with a fake clock (once per fire time, missed fires not replayed, suites in
order) and the asyncio timer loop with an injected sleep (no real waiting)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from intperf.service.cron import CronExpression
from intperf.service.schedules import Schedule, Scheduler, SuiteTest, fire_times_between

DAY = timedelta(days=1)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
       microsecond: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


@dataclass
class FakeClock:
    current: datetime

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass
class Recorder:
    """The executor's submit: records (schedule id, test name) and returns a run id."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    def __call__(self, schedule: Schedule, test: SuiteTest) -> str:
        if test.name in self.refuse:
            raise RuntimeError("the queue is full")
        self.calls.append((schedule.id, test.name))
        return f"run-{len(self.calls)}"


DAILY_SUITE = Schedule(
    id="daily", name="daily-performance-suite", cron=CronExpression.parse("0 0 2 * * ?"),
    tests=(SuiteTest("social-commerce-load-test", "social-commerce", 500, 600.0, 0.0, "GATLING"),
           SuiteTest("api-performance-test", "social-commerce", 200, 900.0),
           SuiteTest("social-interaction-test", "social-commerce", 300, 480.0, 0.0, "GATLING")))


def make(*schedules: Schedule, clock: FakeClock | None = None,
         **kwargs: float) -> tuple[Scheduler, Recorder]:
    submit = Recorder()
    return Scheduler(schedules, submit, clock=clock or FakeClock(at(2025, 1, 1)),
                     **kwargs), submit  # type: ignore[arg-type]


def test_daily_two_am_suite_fires_once_at_two_and_again_the_next_day() -> None:
    scheduler, submit = make(DAILY_SUITE)
    assert scheduler.tick(at(2025, 1, 1, 1, 59)) == []  # arms
    assert scheduler.tick(at(2025, 1, 1, 1, 59, 59)) == []
    fired = scheduler.tick(at(2025, 1, 1, 2, 0, 0))
    assert [(s.test_name, s.run_id, s.fire_time) for s in fired] == [
        ("social-commerce-load-test", "run-1", at(2025, 1, 1, 2)),
        ("api-performance-test", "run-2", at(2025, 1, 1, 2)),
        ("social-interaction-test", "run-3", at(2025, 1, 1, 2))]
    for later in (at(2025, 1, 1, 2, 0, 0), at(2025, 1, 1, 2, 0, 1), at(2025, 1, 1, 14),
                  at(2025, 1, 2, 1, 59, 59)):
        assert scheduler.tick(later) == []
    assert len(scheduler.tick(at(2025, 1, 2, 2, 0, 0, 250000))) == 3
    assert submit.calls == [("daily", t.name) for t in DAILY_SUITE.tests] * 2


def test_disabled_schedules_never_fire() -> None:
    scheduler, submit = make(replace(DAILY_SUITE, enabled=False))
    now = at(2025, 1, 1)
    for _ in range(5 * 24):
        scheduler.tick(now)
        now += timedelta(hours=1)
    assert submit.calls == []
    assert scheduler.next_fire_times() == {"daily": None}


def test_several_fire_times_between_two_ticks_coalesce_into_one() -> None:
    every_minute = Schedule("m", "m", CronExpression.parse("* * * * *"),
                            (SuiteTest("t", "social-commerce", 1, 1.0),))
    scheduler, _ = make(every_minute)
    scheduler.tick(at(2025, 1, 1, 0, 0, 30))
    fired = scheduler.tick(at(2025, 1, 1, 0, 10, 30))  # the loop was blocked ten minutes
    assert [s.fire_time for s in fired] == [at(2025, 1, 1, 0, 10)]
    assert scheduler.next_fire_times() == {"m": at(2025, 1, 1, 0, 11)}


def test_misfire_grace_turns_a_late_fire_into_a_missed_one(
        caplog: pytest.LogCaptureFixture) -> None:
    scheduler, _ = make(DAILY_SUITE, misfire_grace=300)
    scheduler.tick(at(2025, 1, 1, 1))
    with caplog.at_level(logging.WARNING):
        assert scheduler.tick(at(2025, 1, 1, 9)) == []  # suspended laptop: 7 hours late
    assert "missed fire time 2025-01-01T02:00:00+00:00" in caplog.text
    assert len(scheduler.tick(at(2025, 1, 2, 2, 4))) == 3  # 4 minutes late: within grace


async def test_fire_times_while_stopped_are_logged_as_missed_not_replayed(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(at(2025, 1, 1, 1))
    gate: asyncio.Queue[None] = asyncio.Queue()

    async def sleep(_: float) -> None:
        await gate.get()  # never released: the loop only ever ticks at start

    scheduler, submit = make(DAILY_SUITE, clock=clock, sleep=sleep)  # type: ignore[arg-type]
    scheduler.start()
    await scheduler.stop()
    clock.current = at(2025, 1, 4, 3)  # stopped across four 2 AM fire times (1st to 4th)
    with caplog.at_level(logging.WARNING):
        scheduler.start()
    await scheduler.stop()
    assert "schedule daily: missed 4 fire time(s) while stopped (first " \
           "2025-01-01T02:00:00+00:00); not replayed" in caplog.text
    assert submit.calls == []
    assert scheduler.next_fire_times() == {"daily": at(2025, 1, 5, 2)}
    assert scheduler.tick(at(2025, 1, 4, 3, 0, 1)) == []


def test_a_refused_test_does_not_stop_the_rest_of_the_suite(
        caplog: pytest.LogCaptureFixture) -> None:
    scheduler, submit = make(DAILY_SUITE)
    submit.refuse.add("api-performance-test")
    scheduler.tick(at(2025, 1, 1))
    with caplog.at_level(logging.ERROR):
        fired = scheduler.tick(at(2025, 1, 1, 2))
    assert [(s.test_name, s.run_id is not None) for s in fired] == [
        ("social-commerce-load-test", True), ("api-performance-test", False),
        ("social-interaction-test", True)]
    assert fired[1].error == "RuntimeError: the queue is full"
    assert "test api-performance-test was not submitted" in caplog.text


def test_due_schedules_fire_in_fire_time_order() -> None:
    hourly = Schedule("hourly", "hourly", CronExpression.parse("0 30 * * * ?"),
                      (SuiteTest("h", "social-commerce", 1, 1.0),))
    scheduler, submit = make(DAILY_SUITE, hourly)
    scheduler.tick(at(2025, 1, 1, 1, 15))
    scheduler.tick(at(2025, 1, 1, 2, 5))  # 01:30 for hourly, then 02:00 for daily
    assert [c[1] for c in submit.calls] == ["h", *[t.name for t in DAILY_SUITE.tests]]


def test_next_fire_times_and_replacing_schedules() -> None:
    clock = FakeClock(at(2025, 1, 1, 12))
    scheduler, submit = make(DAILY_SUITE, clock=clock)
    assert scheduler.next_fire_times() == {"daily": at(2025, 1, 2, 2)}  # before arming
    scheduler.tick(at(2025, 1, 1, 12))
    # unchanged: keeps its fire time; disabled then re-enabled: re-armed (no stale fire)
    scheduler.set_schedules([DAILY_SUITE])
    assert scheduler.next_fire_times() == {"daily": at(2025, 1, 2, 2)}
    scheduler.set_schedules([replace(DAILY_SUITE, enabled=False)])
    scheduler.tick(at(2025, 1, 2, 2))
    scheduler.set_schedules([DAILY_SUITE])
    assert scheduler.tick(at(2025, 1, 2, 3)) == []  # arms after 03:00, the 02:00 is gone
    assert submit.calls == []
    assert len(scheduler.tick(at(2025, 1, 3, 2))) == 3
    with pytest.raises(Exception, match="unique"):
        scheduler.set_schedules([DAILY_SUITE, DAILY_SUITE])


def test_fire_times_between() -> None:
    cron = CronExpression.parse("0 0 2 * * ?")
    assert fire_times_between(cron, at(2025, 1, 1), at(2025, 1, 3, 2)) == [
        at(2025, 1, 1, 2), at(2025, 1, 2, 2), at(2025, 1, 3, 2)]
    assert len(fire_times_between(cron, at(2025, 1, 1), at(2026, 1, 1), limit=5)) == 5


async def test_the_timer_loop_sleeps_until_the_next_fire_time_and_submits() -> None:
    clock = FakeClock(at(2025, 1, 1, 1, 59))
    requested: asyncio.Queue[float] = asyncio.Queue()
    release: asyncio.Queue[None] = asyncio.Queue()

    async def sleep(seconds: float) -> None:
        await requested.put(seconds)
        await release.get()
        clock.advance(seconds)

    scheduler, submit = make(DAILY_SUITE, clock=clock, sleep=sleep,  # type: ignore[arg-type]
                             max_sleep=3600.0)
    scheduler.start()
    assert scheduler.running
    try:
        assert await asyncio.wait_for(requested.get(), 5) == 60.0  # until 02:00:00
        assert submit.calls == []
        release.put_nowait(None)
        assert await asyncio.wait_for(requested.get(), 5) == 3600.0  # capped by max_sleep
        assert submit.calls == [("daily", t.name) for t in DAILY_SUITE.tests]
        # a schedule change wakes the loop at once, which recomputes its sleep
        scheduler.set_schedules([DAILY_SUITE, Schedule(
            "soon", "soon", CronExpression.parse("0 5 2 * * ?"),
            (SuiteTest("s", "social-commerce", 1, 1.0),))])
        assert await asyncio.wait_for(requested.get(), 5) == 300.0
    finally:
        await scheduler.stop()
    assert not scheduler.running
