"""Cron expressions (standard 5-field and Quartz 6/7-field) and their next fire time; pure logic.

Written here rather than on APScheduler's ``CronTrigger`` because that trigger numbers days of
the week 0=MON, knows neither ``?`` nor Quartz's 1=SUN numbering, and reports errors without
the field and the numbering in use; a small parser with a date-by-date search is easier to make
exact (and to test against a brute-force scan) than an adapter translating between dialects.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from intperf.errors import UsageError

Form = Literal["cron", "quartz"]

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MONTH_NAMES = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
DAY_NAMES = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}
_DAY_LABELS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_ORDINALS = ("", "first", "second", "third", "fourth", "fifth")
MIN_YEAR, MAX_YEAR = 1970, 2199  # Quartz's year range; the search never looks past MAX_YEAR
_NUMBER = re.compile(r"^\d+$")


@dataclass(frozen=True, slots=True)
class DaysOfMonth:
    """Day-of-month rule: listed days, and ``L``/``L-n`` (n days before the last day)."""

    days: frozenset[int] = frozenset()
    before_last: frozenset[int] = frozenset()

    def matches(self, day: date) -> bool:
        """True when ``day`` satisfies the rule."""
        last = calendar.monthrange(day.year, day.month)[1]
        return day.day in self.days or (last - day.day) in self.before_last


@dataclass(frozen=True, slots=True)
class DaysOfWeek:
    """Day-of-week rule, 0=SUN..6=SAT whatever the form: listed days, ``xL``, ``x#n``."""

    days: frozenset[int] = frozenset()
    last_of_month: frozenset[int] = frozenset()
    nth_of_month: frozenset[tuple[int, int]] = frozenset()

    def matches(self, day: date) -> bool:
        """True when ``day`` satisfies the rule."""
        weekday = (day.weekday() + 1) % 7
        if weekday in self.days:
            return True
        last = calendar.monthrange(day.year, day.month)[1]
        if weekday in self.last_of_month and day.day + 7 > last:
            return True
        return (weekday, (day.day - 1) // 7 + 1) in self.nth_of_month


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int] = field(default_factory=dict)


_SECOND = _Field("second", 0, 59)
_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DOM = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, MONTH_NAMES)
_YEAR = _Field("year", MIN_YEAR, MAX_YEAR)
_DOW_CRON = _Field("day-of-week", 0, 7, DAY_NAMES)
_DOW_QUARTZ = _Field("day-of-week", 1, 7, {k: v + 1 for k, v in DAY_NAMES.items()})
_DOW_HINT = {"cron": " (standard numbering: 0 or 7=SUN)", "quartz": " (Quartz numbering: 1=SUN)"}


class _FieldError(Exception):
    """A problem with ``item`` of one field; turned into a UsageError naming the field."""

    def __init__(self, item: str, reason: str) -> None:
        super().__init__(reason)
        self.item = item
        self.reason = reason


def _value(spec: _Field, token: str, hint: str) -> int:
    upper = token.upper()
    if upper in spec.names:
        return spec.names[upper]
    if not _NUMBER.match(token):
        names = f" or a name ({', '.join(spec.names)})" if spec.names else ""
        raise _FieldError(token, f"not a number{names}")
    number = int(token)
    if not spec.low <= number <= spec.high:
        raise _FieldError(token, f"out of range {spec.low}-{spec.high}{hint}")
    return number


def _values(spec: _Field, text: str, hint: str = "") -> frozenset[int]:
    """Values of a list of ``*``, ``a``, ``a-b``, with optional ``/step`` (ranges may wrap)."""
    out: set[int] = set()
    for part in text.split(","):
        if not part:
            raise _FieldError(text, "empty list element")
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not _NUMBER.match(step_text) or int(step_text) == 0:
                raise _FieldError(part, "the step must be a positive whole number")
            step = int(step_text)
            if step > spec.high - spec.low + 1:
                raise _FieldError(part, f"the step is larger than the range "
                                        f"{spec.low}-{spec.high}")
        if base == "*":
            start, stop = spec.low, spec.high
        elif "-" in base:
            first, _, second = base.partition("-")
            start, stop = _value(spec, first, hint), _value(spec, second, hint)
        else:
            start = _value(spec, base, hint)
            stop = spec.high if slash else start  # Quartz "a/n": from a to the top, every n
        span = (list(range(start, stop + 1)) if start <= stop else
                list(range(start, spec.high + 1)) + list(range(spec.low, stop + 1)))
        out.update(span[::step])
    return frozenset(out)


def _days_of_month(text: str) -> DaysOfMonth:
    days: set[int] = set()
    before_last: set[int] = set()
    for part in text.split(","):
        upper = part.upper()
        if upper == "L":
            before_last.add(0)
        elif upper.startswith("L-"):
            offset = upper[2:]
            if not _NUMBER.match(offset) or not 0 <= int(offset) <= 30:
                raise _FieldError(part, "the offset in L-n must be 0-30")
            before_last.add(int(offset))
        elif "W" in upper:
            raise _FieldError(part, "'W' (nearest weekday) is not supported")
        else:
            days |= _values(_DOM, part)
    return DaysOfMonth(frozenset(days), frozenset(before_last))


def _days_of_week(text: str, form: Form) -> DaysOfWeek:
    spec = _DOW_QUARTZ if form == "quartz" else _DOW_CRON
    hint = _DOW_HINT[form]

    def normal(value: int) -> int:  # to 0=SUN..6=SAT
        return value - 1 if form == "quartz" else value % 7

    days: set[int] = set()
    last: set[int] = set()
    nth: set[tuple[int, int]] = set()
    for part in text.split(","):
        upper = part.upper()
        if upper == "L":  # Quartz: "L" alone in day-of-week is the last day of the week, SAT
            days.add(6)
        elif upper.endswith("L") and "/" not in upper and "-" not in upper:
            last.add(normal(_value(spec, part[:-1], hint)))
        elif "#" in upper:
            day, _, n = part.partition("#")
            if not _NUMBER.match(n) or not 1 <= int(n) <= 5:
                raise _FieldError(part, "the n in x#n must be 1-5")
            nth.add((normal(_value(spec, day, hint)), int(n)))
        else:
            days |= {normal(v) for v in _values(spec, part, hint)}
    return DaysOfWeek(frozenset(days), frozenset(last), frozenset(nth))


def _zone(tz: str | tzinfo | None) -> tzinfo:
    if tz is None:
        return UTC
    if isinstance(tz, tzinfo):
        return tz
    if tz.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"time zone {tz!r}: unknown (use an IANA name such as "
                         "'Europe/Paris' or 'UTC')") from None


def _fmt(values: Iterable[int], labels: Sequence[str] | None = None) -> str:
    """``1,2,3,4,9`` as ``1-4,9`` (with ``labels[v]`` in place of ``v`` when given)."""
    runs: list[list[int]] = []
    for v in sorted(values):
        if runs and v == runs[-1][-1] + 1:
            runs[-1].append(v)
        else:
            runs.append([v])
    name = (lambda v: labels[v]) if labels else str
    return ",".join(f"{name(r[0])}-{name(r[-1])}" if len(r) > 2 else ",".join(map(name, r))
                    for r in runs)


@dataclass(frozen=True, slots=True)
class CronExpression:
    """A parsed cron expression: the sets of matching values and the zone it is read in."""

    text: str
    form: Form
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: DaysOfMonth | None  # None: any day ("*" or "?")
    months: frozenset[int]
    days_of_week: DaysOfWeek | None  # None: any day
    years: frozenset[int] | None  # None: any year
    tz: tzinfo = UTC
    either_day: bool = False  # standard cron: both day fields restricted -> either may match

    @classmethod
    def parse(cls, text: str, tz: str | tzinfo | None = None) -> CronExpression:
        """Parse 5-field cron, 6/7-field Quartz or a macro; raise UsageError naming the field."""
        zone = _zone(tz)
        source = text.strip()
        expanded = MACROS.get(source.lower(), source)
        if expanded.startswith("@"):
            raise UsageError(f"cron expression {text!r}: unknown macro {source!r} "
                             f"(known: {', '.join(MACROS)})")
        parts = expanded.split()
        if len(parts) == 5:
            form: Form = "cron"
            parts = ["0", *parts]
        elif len(parts) in (6, 7):
            form = "quartz"
        else:
            raise UsageError(
                f"cron expression {text!r}: {len(parts)} fields; expected 5 (minute hour "
                "day-of-month month day-of-week), 6 or 7 (Quartz: second first, optional year)")
        names = ("second", "minute", "hour", "day-of-month", "month", "day-of-week", "year")
        for i, part in enumerate(parts):
            if "?" in part and (i not in (3, 5) or part != "?"):
                raise UsageError(f"cron expression {text!r}: {names[i]} field '{part}': '?' "
                                 "is only allowed alone, in day-of-month or day-of-week")
        index = 0
        try:
            seconds = _values(_SECOND, parts[0])
            index = 1
            minutes = _values(_MINUTE, parts[1])
            index = 2
            hours = _values(_HOUR, parts[2])
            index = 3
            dom_any = parts[3] in ("*", "?")
            dom = None if dom_any else _days_of_month(parts[3])
            index = 4
            months = _values(_MONTH, parts[4])
            index = 5
            dow_any = parts[5] in ("*", "?")
            dow = None if dow_any else _days_of_week(parts[5], form)
            index = 6
            years = None if len(parts) < 7 or parts[6] in ("*", "?") else _values(_YEAR, parts[6])
        except _FieldError as exc:
            where = "" if exc.item == parts[index] else f"'{exc.item}': "
            raise UsageError(f"cron expression {text!r}: {names[index]} field "
                             f"'{parts[index]}': {where}{exc.reason}") from None
        if parts[3] == "?" and parts[5] == "?":
            raise UsageError(f"cron expression {text!r}: '?' in both day-of-month and "
                             "day-of-week; put '?' in one of them only")
        if form == "quartz" and dom is not None and dow is not None:
            raise UsageError(
                f"cron expression {text!r}: both day-of-month '{parts[3]}' and day-of-week "
                f"'{parts[5]}' are restricted; Quartz needs '?' in one of them")
        expr = cls(text=source, form=form, seconds=tuple(sorted(seconds)),
                   minutes=tuple(sorted(minutes)), hours=tuple(sorted(hours)),
                   days_of_month=dom, months=months, days_of_week=dow, years=years, tz=zone,
                   either_day=dom is not None and dow is not None)
        if dom is not None and dow is None and not dom.before_last and not any(
                d <= calendar.monthrange(2000, m)[1] for d in dom.days for m in months):
            raise UsageError(f"cron expression {text!r}: day-of-month '{parts[3]}' never "
                             f"occurs in month '{parts[4]}'")
        return expr

    def day_matches(self, day: date) -> bool:
        """True when the calendar day (year, month, day-of-month, day-of-week) matches."""
        if day.month not in self.months or (self.years is not None
                                            and day.year not in self.years):
            return False
        dom, dow = self.days_of_month, self.days_of_week
        if dom is None and dow is None:
            return True
        if dom is None:
            return dow is not None and dow.matches(day)
        if dow is None:
            return dom.matches(day)
        return dom.matches(day) or dow.matches(day)  # vixie cron: either day field

    def matches(self, dt: datetime) -> bool:
        """True when ``dt`` (read in this expression's zone, to the second) matches."""
        local = _aware(dt).astimezone(self.tz)
        return (local.second in self.seconds and local.minute in self.minutes
                and local.hour in self.hours and self.day_matches(local.date()))

    def next_after(self, dt: datetime) -> datetime | None:
        """The earliest fire time strictly after ``dt`` (aware; returned in ``tz``).

        None when there is none before the year 2200 (a year list in the past). Wall times
        skipped by a daylight-saving jump do not fire; repeated ones fire once (the first).
        """
        after = _aware(dt)
        limit = after.timestamp()
        local = after.astimezone(self.tz)
        day: date | None = local.date()
        floor: tuple[int, int, int] | None = (local.hour, local.minute, local.second)
        while day is not None:
            if self.day_matches(day):
                time = self._next_time(floor)
                while time is not None:
                    candidate = datetime(day.year, day.month, day.day, *time, tzinfo=self.tz)
                    if _exists(candidate) and candidate.timestamp() > limit:
                        return candidate
                    time = self._next_time(time)
            floor = None
            day = self._next_day(day)
        return None

    def _next_time(self, after: tuple[int, int, int] | None) -> tuple[int, int, int] | None:
        """The smallest (hour, minute, second) of the expression strictly after ``after``."""
        if after is None:
            return self.hours[0], self.minutes[0], self.seconds[0]
        h, m, s = after
        for second in self.seconds:
            if second > s and h in self.hours and m in self.minutes:
                return h, m, second
        for minute in self.minutes:
            if minute > m and h in self.hours:
                return h, minute, self.seconds[0]
        for hour in self.hours:
            if hour > h:
                return hour, self.minutes[0], self.seconds[0]
        return None

    def _next_day(self, day: date) -> date | None:
        """The next day worth checking: tomorrow, or the 1st of the next allowed month."""
        nxt = day + timedelta(days=1)
        while nxt.year <= MAX_YEAR:
            if nxt.month in self.months and (self.years is None or nxt.year in self.years):
                return nxt
            if self.years is not None and nxt.year > max(self.years):
                return None
            nxt = (date(nxt.year + 1, 1, 1) if nxt.month == 12
                   else date(nxt.year, nxt.month + 1, 1))
        return None

    def describe(self) -> str:
        """A short human description, e.g. ``at 02:00:00 every day (UTC)``."""
        parts = [self._describe_time() + ",", self._describe_days()]
        if len(self.months) < 12:
            parts.append("in " + ",".join(calendar.month_abbr[m].upper()
                                          for m in sorted(self.months)))
        if self.years is not None:
            parts.append("in " + _fmt(self.years))
        return f"{' '.join(parts)} ({self.tz})"

    def _describe_time(self) -> str:
        if len(self.hours) == 1 and len(self.minutes) == 1 and len(self.seconds) == 1:
            clock = f"{self.hours[0]:02d}:{self.minutes[0]:02d}"
            return f"at {clock}:{self.seconds[0]:02d}" if self.form == "quartz" else f"at {clock}"
        pieces: list[str] = []
        for label, values, size in (("second", self.seconds, 60), ("minute", self.minutes, 60),
                                    ("hour", self.hours, 24)):
            if len(values) == size:
                if not pieces:
                    pieces.append(f"every {label}")
            elif label == "second" and values == (0,):
                continue  # the start of the minute: implied
            elif (step := _step(values, size)) is not None:
                pieces.append(f"every {step} {label}s")
            else:
                pieces.append(f"at {label} {_fmt(values)}")
            if label == "hour" and len(values) == size and not pieces[-1].startswith("every"):
                pieces.append("of every hour")
        return ", ".join(pieces).replace(", of every", " of every")

    def _describe_days(self) -> str:
        dom, dow = self.days_of_month, self.days_of_week
        words = []
        if dom is not None:
            items = [f"day {_fmt(dom.days)}"] if dom.days else []
            items += ["the last day" if n == 0 else f"{n} days before the last day"
                      for n in sorted(dom.before_last)]
            words.append("on " + ", ".join(items) + " of the month")
        if dow is not None:
            items = [_fmt(dow.days, _DAY_LABELS)] if dow.days else []
            items += [f"the last {_DAY_LABELS[d]}" for d in sorted(dow.last_of_month)]
            items += [f"the {_ORDINALS[n]} {_DAY_LABELS[d]}" for d, n in sorted(dow.nth_of_month)]
            words.append("on " + ", ".join(items))
        return " or ".join(words) if words else "every day"


def _step(values: tuple[int, ...], size: int) -> int | None:
    """``n`` when ``values`` is exactly ``*/n`` of a field of ``size`` values (from 0)."""
    if len(values) < 2 or values[0] != 0:
        return None
    step = values[1] - values[0]
    return step if values == tuple(range(0, size, step)) else None


def _aware(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("cron times must be timezone-aware datetimes")
    return dt


def _exists(local: datetime) -> bool:
    """False for a wall time skipped by a daylight-saving jump (it does not round-trip)."""
    back = local.astimezone(UTC).astimezone(local.tzinfo)
    return back.replace(tzinfo=None) == local.replace(tzinfo=None)
