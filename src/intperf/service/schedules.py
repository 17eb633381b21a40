"""Scheduled test suites: the ``intperf.schedules`` configuration and a clock-driven scheduler.

``Scheduler.tick(now)`` is the whole policy (pure but for the injected ``submit``): each fire
time is submitted at most once, several fire times that passed between two ticks coalesce
into one, and fire times that passed while the scheduler was stopped are logged as missed,
never replayed. ``start()`` only adds an asyncio task that sleeps until the next fire time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import Field, ValidationError, field_validator

from intperf.config import KebabModel
from intperf.errors import UsageError
from intperf.loadtest.fields import Duration
from intperf.service.cron import CronExpression

logger = logging.getLogger(__name__)

TestType = Literal["NATIVE", "GATLING"]
CONFIG_PATH = "intperf.schedules"
_MAX_MISSED_COUNTED = 1000


@dataclass(frozen=True, slots=True)
class SuiteTest:
    """One load test of a scheduled suite."""

    name: str
    scenario: str
    users: int
    duration: float  # seconds of hold
    ramp_up: float = 0.0  # seconds
    test_type: TestType = "NATIVE"
    base_url: str | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    """A suite of tests submitted together whenever ``cron`` fires."""

    id: str
    name: str
    cron: CronExpression
    tests: tuple[SuiteTest, ...]
    enabled: bool = True
    compare_with_baseline: bool = True


@dataclass(frozen=True, slots=True)
class Submission:
    """What one test of one fire became: a run id, or the error that refused it."""

    schedule_id: str
    test_name: str
    fire_time: datetime
    run_id: str | None
    error: str | None = None


class Clock(Protocol):
    """Source of the current time (aware datetimes)."""

    def now(self) -> datetime:
        """The current time."""
        ...


@dataclass(frozen=True, slots=True)
class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        """The current time in UTC."""
        return datetime.now(UTC)


# --- configuration ------------------------------------------------------------------------


_Model = KebabModel


class _TestConfig(_Model):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    scenario: Annotated[str, Field(min_length=1)]
    users: Annotated[int, Field(ge=1)]
    duration: Duration
    ramp_up: Duration = 0.0
    test_type: TestType = "NATIVE"
    base_url: str | None = None

    @field_validator("test_type", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("the duration must be more than 0 seconds")
        return value


class _ScheduleConfig(_Model):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    id: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    cron: str
    timezone: str = "UTC"
    enabled: bool = True
    compare_with_baseline: bool = True
    tests: Annotated[list[_TestConfig], Field(min_length=1)]


def _path(prefix: str, loc: Iterable[int | str]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def parse_schedules(config: Sequence[Mapping[str, Any]] | None,
                    prefix: str = CONFIG_PATH) -> list[Schedule]:
    """Validate the configuration form (``intperf.schedules``) into schedules.

    Raises UsageError listing every problem with its path, e.g.
    ``intperf.schedules[0].tests[1].users: ...``.
    """
    problems: list[str] = []
    schedules: list[Schedule] = []
    seen: set[str] = set()
    for i, item in enumerate(config or ()):
        where = f"{prefix}[{i}]"
        try:
            model = _ScheduleConfig.model_validate(item)
        except ValidationError as exc:
            problems += [f"{_path(where, e['loc'])}: {e['msg']}" for e in exc.errors()]
            continue
        try:
            cron = CronExpression.parse(model.cron, tz=model.timezone)
        except UsageError as exc:
            key = "timezone" if str(exc).startswith("time zone") else "cron"
            problems.append(f"{where}.{key}: {exc}")
            continue
        schedule_id = model.id or model.name
        if schedule_id in seen:
            problems.append(f"{where}.name: {schedule_id!r} is already used by another "
                            "schedule (names and ids must be unique)")
        seen.add(schedule_id)
        names = [t.name for t in model.tests]
        for j, name in enumerate(names):
            if name in names[:j]:
                problems.append(f"{where}.tests[{j}].name: {name!r} appears twice in the suite")
        tests = tuple(SuiteTest(name=t.name, scenario=t.scenario, users=t.users,
                                duration=t.duration, ramp_up=t.ramp_up, test_type=t.test_type,
                                base_url=t.base_url) for t in model.tests)
        schedules.append(Schedule(id=schedule_id, name=model.name, cron=cron, tests=tests,
                                  enabled=model.enabled,
                                  compare_with_baseline=model.compare_with_baseline))
    if problems:
        raise UsageError(f"invalid schedules: {'; '.join(problems)}")
    return schedules


# --- the scheduler ------------------------------------------------------------------------


Submit = Callable[[Schedule, SuiteTest], str]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(slots=True)
class _State:
    schedule: Schedule
    next_fire: datetime | None = None
    armed: bool = False


class Scheduler:
    """Submits each enabled schedule's tests, in order, at every fire time of its cron.

    ``misfire_grace``: when not None, a fire time found more than that many seconds late
    (the process was suspended, the loop blocked) is logged as missed instead of run.
    ``sleep`` and ``clock`` are injected so tests drive time without waiting.
    """

    def __init__(self, schedules: Sequence[Schedule], submit: Submit, *,
                 clock: Clock | None = None, sleep: Sleep = asyncio.sleep,
                 max_sleep: float = 60.0, misfire_grace: float | None = None) -> None:
        self.submit = submit
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.sleep = sleep
        self.max_sleep = max_sleep
        self.misfire_grace = misfire_grace
        self.schedules: tuple[Schedule, ...] = ()
        self._states: dict[str, _State] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self.set_schedules(schedules)

    def set_schedules(self, schedules: Sequence[Schedule]) -> None:
        """Replace the schedules; an unchanged one keeps its next fire time.

        A changed, newly added or re-enabled schedule is armed afresh (at the next tick), so
        fire times that passed while it was disabled are not run.
        """
        ids = [s.id for s in schedules]
        if len(set(ids)) != len(ids):
            raise UsageError("schedule ids must be unique")
        old = self._states
        self.schedules = tuple(schedules)
        self._states = {}
        for s in schedules:
            kept = old.get(s.id)
            if kept is not None and kept.schedule.cron == s.cron and s.enabled \
                    and kept.schedule.enabled:
                self._states[s.id] = _State(s, kept.next_fire, kept.armed)
            else:
                self._states[s.id] = _State(s)
        if self._wake is not None:
            self._wake.set()

    def next_fire_times(self) -> dict[str, datetime | None]:
        """Next fire time of each schedule by id (None: disabled or never again)."""
        now = self.clock.now()
        return {sid: (None if not st.schedule.enabled else
                      st.next_fire if st.armed else st.schedule.cron.next_after(now))
                for sid, st in self._states.items()}

    def tick(self, now: datetime) -> list[Submission]:
        """Submit every schedule whose next fire time is ``<= now``; once per fire time.

        A schedule not yet armed is armed at ``now`` (its first fire is after ``now``).
        """
        due: list[tuple[datetime, int, _State]] = []
        for order, st in enumerate(self._states.values()):
            if not st.schedule.enabled:
                continue
            if not st.armed:
                st.next_fire, st.armed = st.schedule.cron.next_after(now), True
                continue
            if st.next_fire is None or st.next_fire > now:
                continue
            first = st.next_fire
            fire, coalesced = self._advance(st, now)
            if coalesced:
                logger.warning("schedule %s: %d fire time(s) from %s to %s passed between "
                               "ticks; coalesced into one", st.schedule.id, coalesced + 1,
                               first.isoformat(), fire.isoformat())
            if self.misfire_grace is not None and (now - fire).total_seconds() > \
                    self.misfire_grace:
                logger.warning("schedule %s: missed fire time %s (found %.0fs late, grace "
                               "%.0fs); not run", st.schedule.id, fire.isoformat(),
                               (now - fire).total_seconds(), self.misfire_grace)
                continue
            due.append((fire, order, st))
        submissions: list[Submission] = []
        for fire, _order, st in sorted(due, key=lambda d: (d[0], d[1])):
            submissions += self._fire(st.schedule, fire)
        return submissions

    def _advance(self, st: _State, now: datetime) -> tuple[datetime, int]:
        """Move past ``now``: the latest due fire time and how many earlier ones it absorbs.

        Counting stops at a bound (a per-second cron after a day's suspension); the fire
        time is then the last one counted.
        """
        assert st.next_fire is not None
        fire = st.next_fire
        skipped = 0
        nxt = st.schedule.cron.next_after(fire)
        while nxt is not None and nxt <= now:
            skipped += 1
            fire = nxt
            nxt = st.schedule.cron.next_after(fire) if skipped < _MAX_MISSED_COUNTED else \
                st.schedule.cron.next_after(now)
        st.next_fire = nxt
        return fire, skipped

    def _fire(self, schedule: Schedule, fire: datetime) -> list[Submission]:
        logger.info("schedule %s fires at %s: %d test(s)", schedule.id, fire.isoformat(),
                    len(schedule.tests))
        out = []
        for test in schedule.tests:
            try:
                run_id = self.submit(schedule, test)
            except Exception as exc:  # one refused test must not stop the rest of the suite
                logger.exception("schedule %s: test %s was not submitted", schedule.id,
                                 test.name)
                out.append(Submission(schedule.id, test.name, fire, None,
                                      f"{type(exc).__name__}: {exc}"))
            else:
                out.append(Submission(schedule.id, test.name, fire, run_id))
        return out

    def _rearm(self, now: datetime) -> None:
        """Arm every schedule after ``now``; log fire times that passed while stopped."""
        for st in self._states.values():
            if st.armed and st.next_fire is not None and st.next_fire <= now:
                first = st.next_fire
                count = 1
                nxt = st.schedule.cron.next_after(first)
                while nxt is not None and nxt <= now and count < _MAX_MISSED_COUNTED:
                    count += 1
                    nxt = st.schedule.cron.next_after(nxt)
                more = "+" if nxt is not None and nxt <= now else ""
                logger.warning("schedule %s: missed %d%s fire time(s) while stopped "
                               "(first %s); not replayed", st.schedule.id, count, more,
                               first.isoformat())
            st.next_fire = st.schedule.cron.next_after(now)
            st.armed = True

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Arm at the clock's now and run the timer loop as a task of the running loop."""
        if self.running:
            return
        self._rearm(self.clock.now())
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(),
                                                            name="intperf-scheduler")

    async def stop(self) -> None:
        """Cancel the timer loop and wait for it to end."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled():
                raise

    async def _run(self) -> None:
        while True:
            now = self.clock.now()
            try:
                self.tick(now)
            except Exception:  # a bug in one tick must not kill every future schedule
                logger.exception("scheduler tick failed")
            await self._pause(self._delay(self.clock.now()))

    def _delay(self, now: datetime) -> float:
        upcoming = [st.next_fire for st in self._states.values()
                    if st.schedule.enabled and st.next_fire is not None]
        if not upcoming:
            return self.max_sleep
        return max(0.0, min(self.max_sleep, (min(upcoming) - now).total_seconds()))

    async def _pause(self, delay: float) -> None:
        """Sleep ``delay`` seconds, or less when the schedules change."""
        wake = self._wake
        assert wake is not None
        sleeper = asyncio.ensure_future(self.sleep(delay))
        waiter = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (sleeper, waiter):
                t.cancel()
            await asyncio.gather(sleeper, waiter, return_exceptions=True)
        wake.clear()


def fire_times_between(cron: CronExpression, start: datetime, end: datetime,
                       limit: int = 100) -> list[datetime]:
    """Fire times in ``(start, end]`` (at most ``limit``); for previews and the API."""
    out: list[datetime] = []
    t = cron.next_after(start)
    while t is not None and t <= end and len(out) < limit:
        out.append(t)
        t = cron.next_after(t)
    return out


__all__ = ["Clock", "Schedule", "Scheduler", "Submission", "SuiteTest", "SystemClock",
           "fire_times_between", "parse_schedules"]
