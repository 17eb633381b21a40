"""CronExpression: both numberings, Quartz specials, errors naming the field, DST, and
next_after against an exhaustive day/hour/minute/second scan of independently computed sets."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intperf.errors import UsageError
from intperf.service.cron import CronExpression

DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
MONTHS = [m.upper() for m in calendar.month_abbr[1:]]


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
       microsecond: int = 0, *, tz: str | None = None) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond,
                    tzinfo=UTC if tz is None else ZoneInfo(tz))


def fires(expr: str, start: datetime, n: int = 3, tz: str | None = None) -> list[datetime]:
    cron = CronExpression.parse(expr, tz=tz)
    out: list[datetime] = []
    t: datetime | None = start
    for _ in range(n):
        assert t is not None
        t = cron.next_after(t)
        assert t is not None
        out.append(t)
    return out


# -- examples -----------------------------------------------------------------------------------

def test_reference_daily_suite_fires_at_two_every_day() -> None:
    cron = CronExpression.parse("0 0 2 * * ?")
    assert cron.form == "quartz"
    assert fires("0 0 2 * * ?", at(2025, 1, 31, 1, 0)) == [
        at(2025, 1, 31, 2, 0), at(2025, 2, 1, 2, 0), at(2025, 2, 2, 2, 0)]
    # exactly at the fire time: strictly after, so the next day
    assert cron.next_after(at(2025, 1, 31, 2, 0)) == at(2025, 2, 1, 2, 0)
    assert cron.next_after(at(2025, 1, 31, 1, 59, 59, 999999)) == at(2025, 1, 31, 2, 0)
    assert cron.describe() == "at 02:00:00, every day (UTC)"


@pytest.mark.parametrize(("expr", "weekday"), [
    ("0 0 2 ? * 1", "SUN"), ("0 0 2 ? * 2", "MON"), ("0 0 2 ? * 7", "SAT"),
    ("0 0 2 ? * SUN", "SUN"), ("0 0 2 ? * mon", "MON"),
    ("0 2 * * 0", "SUN"), ("0 2 * * 7", "SUN"), ("0 2 * * 1", "MON"), ("0 2 * * 6", "SAT"),
    ("0 2 * * SUN", "SUN"), ("0 2 * * Sat", "SAT"),
])
def test_day_of_week_numbering_depends_on_the_form(expr: str, weekday: str) -> None:
    for t in fires(expr, at(2025, 6, 1), n=4):
        assert DAY_NAMES[t.isoweekday() % 7] == weekday
        assert t.hour == 2


def test_ranges_lists_steps_and_names() -> None:
    assert [t.minute for t in fires("*/15 * * * *", at(2025, 1, 1, 0, 7), n=4)] == \
        [15, 30, 45, 0]
    assert [t.day for t in fires("0 0 1,15 * *", at(2025, 1, 2), n=3)] == [15, 1, 15]
    weekdays = {t.isoweekday() for t in fires("0 9 * * MON-FRI", at(2025, 1, 1), n=10)}
    assert weekdays == {1, 2, 3, 4, 5}
    assert [t.month for t in fires("0 0 1 JAN,JUL *", at(2025, 2, 1), n=3)] == [7, 1, 7]
    assert [t.second for t in fires("5/20 * * * * ?", at(2025, 1, 1), n=4)] == [5, 25, 45, 5]
    assert [t.hour for t in fires("0 0 22-1 * * ?", at(2025, 1, 1, 12), n=5)] == \
        [22, 23, 0, 1, 22]  # a range may wrap around
    quartz_weekend = {t.isoweekday() % 7 for t in fires("0 0 0 ? * FRI-MON", at(2025, 1, 1),
                                                         n=8)}
    assert quartz_weekend == {5, 6, 0, 1}


def test_last_day_of_month_and_quartz_weekday_specials() -> None:
    assert fires("0 0 12 L * ?", at(2024, 1, 31, 13), n=3) == [
        at(2024, 2, 29, 12), at(2024, 3, 31, 12), at(2024, 4, 30, 12)]
    assert fires("0 0 0 L-2 2 ?", at(2025, 1, 1), n=2) == [at(2025, 2, 26), at(2026, 2, 26)]
    # 6L: the last Friday (Quartz 6 = FRI); 2#1: the first Monday
    assert fires("0 0 0 ? * 6L", at(2025, 1, 1), n=2) == [at(2025, 1, 31), at(2025, 2, 28)]
    assert fires("0 0 0 ? * 2#1", at(2025, 1, 1), n=2) == [at(2025, 1, 6), at(2025, 2, 3)]
    assert fires("0 0 * * 5L", at(2025, 1, 1), n=1) == [at(2025, 1, 31)]  # 5-field: 5 = FRI
    assert fires("0 0 0 ? * 5L", at(2025, 1, 1), n=1) == [at(2025, 1, 30)]  # Quartz: 5 = THU


def test_seven_fields_with_a_year_and_exhaustion() -> None:
    cron = CronExpression.parse("0 30 6 1 1 ? 2026-2027")
    assert fires("0 30 6 1 1 ? 2026-2027", at(2025, 5, 1), n=2) == [
        at(2026, 1, 1, 6, 30), at(2027, 1, 1, 6, 30)]
    assert cron.next_after(at(2027, 1, 1, 6, 30)) is None


@pytest.mark.parametrize(("macro", "equivalent"), [
    ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"), ("@hourly", "0 * * * *"),
    ("@weekly", "0 0 * * 0"), ("@monthly", "0 0 1 * *"), ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"), ("@DAILY", "0 0 * * *"),
])
def test_macros(macro: str, equivalent: str) -> None:
    start = at(2025, 3, 14, 15, 9, 26)
    assert fires(macro, start, n=3) == fires(equivalent, start, n=3)


def test_standard_cron_fires_when_either_day_field_matches() -> None:
    # vixie cron: both day fields restricted -> the 13th OR any Friday
    days = fires("0 0 13 * 5", at(2025, 6, 1), n=4)
    assert days == [at(2025, 6, 6), at(2025, 6, 13), at(2025, 6, 20), at(2025, 6, 27)]


def test_time_zones_and_daylight_saving() -> None:
    ny = "America/New_York"
    daily = CronExpression.parse("0 30 2 * * ?", tz=ny)
    # 2025-03-09 02:30 does not exist in New York: skipped, not moved
    assert daily.next_after(at(2025, 3, 8, 3, 0, tz=ny)) == at(2025, 3, 10, 2, 30, tz=ny)
    early = CronExpression.parse("0 30 1 * * ?", tz=ny)
    # 2025-11-02 01:30 happens twice: it fires once, at the first (EDT, 05:30 UTC)
    first = early.next_after(at(2025, 11, 2, 0, 0, tz=ny))
    assert first is not None and first.astimezone(UTC) == at(2025, 11, 2, 5, 30)
    second = early.next_after(first)
    assert second is not None and second.astimezone(UTC) == at(2025, 11, 3, 6, 30)
    # from a UTC instant inside the repeated hour's second pass: next day's
    assert early.next_after(at(2025, 11, 2, 6, 45)) == second
    # the same instant expressed in any zone gives the same answer
    assert daily.next_after(at(2025, 6, 1, 12, tz="Asia/Tokyo")) == \
        daily.next_after(at(2025, 6, 1, 3))
    assert "America/New_York" in daily.describe()


def test_every_hour_in_a_zone_stays_increasing_across_both_transitions() -> None:
    cron = CronExpression.parse("0 0 * * * ?", tz="Europe/Berlin")
    t: datetime | None = at(2025, 3, 29, 22)
    seen: list[datetime] = []
    while t is not None and t < at(2025, 10, 27):
        t = cron.next_after(t)
        assert t is not None
        seen.append(t)
        if len(seen) > 30:
            t = at(2025, 10, 25, 22)  # jump to the autumn transition
            seen.clear()
    instants = [s.timestamp() for s in seen]
    assert instants == sorted(set(instants))


def test_naive_datetimes_are_refused() -> None:
    cron = CronExpression.parse("@daily")
    with pytest.raises(ValueError, match="timezone-aware"):
        cron.next_after(datetime(2025, 1, 1))


@pytest.mark.parametrize(("expr", "message"), [
    ("0 0 2 * * 8", "day-of-week field '8': out of range 1-7 (Quartz numbering: 1=SUN)"),
    ("0 0 2 ? * 0", "day-of-week field '0': out of range 1-7 (Quartz numbering: 1=SUN)"),
    ("0 2 * * 8", "day-of-week field '8': out of range 0-7 (standard numbering: 0 or 7=SUN)"),
    ("0 0 2 ? * 1,9", "day-of-week field '1,9': '9': out of range 1-7"),
    ("61 * * * *", "minute field '61': out of range 0-59"),
    ("0 0 24 * * ?", "hour field '24': out of range 0-23"),
    ("0 0 0 32 * ?", "day-of-month field '32': out of range 1-31"),
    ("0 0 0 ? 13 MON", "month field '13': out of range 1-12"),
    ("0 0 0 ? FOO MON", "month field 'FOO': not a number or a name"),
    ("0 0 0 1 * ? 1900", "year field '1900': out of range 1970-2199"),
    ("*/0 * * * *", "minute field '*/0': the step must be a positive whole number"),
    ("*/61 * * * *", "the step is larger than the range 0-59"),
    ("1,,2 * * * *", "minute field '1,,2': empty list element"),
    ("0 0 2 1 * MON", "Quartz needs '?' in one of them"),
    ("0 0 2 ? * ?", "'?' in both day-of-month and day-of-week"),
    ("? 0 2 * * ?", "second field '?': '?' is only allowed alone"),
    ("0 0 2 15W * ?", "'W' (nearest weekday) is not supported"),
    ("0 0 2 ? * 2#6", "the n in x#n must be 1-5"),
    ("0 0 30 2 ?", "day-of-month '30' never occurs in month '2'"),
    ("1 2 3", "3 fields; expected 5"),
    ("", "0 fields"),
    ("@reboot", "unknown macro '@reboot'"),
])
def test_invalid_expressions_name_the_field_and_why(expr: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        CronExpression.parse(expr)
    assert message in str(info.value)
    assert f"cron expression {expr!r}" in str(info.value)


def test_unknown_time_zone() -> None:
    with pytest.raises(UsageError, match="time zone 'Mars/Olympus': unknown"):
        CronExpression.parse("@daily", tz="Mars/Olympus")


@pytest.mark.parametrize(("expr", "text"), [
    ("*/5 * * * *", "every 5 minutes, every day (UTC)"),
    ("@hourly", "at minute 0 of every hour, every day (UTC)"),
    ("0 9-17 * * MON-FRI", "at minute 0, at hour 9-17, on MON-FRI (UTC)"),
    ("0 0 12 L * ?", "at 12:00:00, on the last day of the month (UTC)"),
    ("0 15 10 ? * 6L 2026", "at 10:15:00, on the last FRI in 2026 (UTC)"),
    ("0 0 0 ? * 2#1", "at 00:00:00, on the first MON (UTC)"),
    ("0 0 1 JAN,JUL *", "at 00:00, on day 1 of the month in JAN,JUL (UTC)"),
])
def test_describe(expr: str, text: str) -> None:
    assert CronExpression.parse(expr).describe() == text


# -- property: next_after equals an exhaustive scan ------------------------------------------


@dataclass(frozen=True)
class Spec:
    """What an expression means, computed by the test independently of the parser."""

    text: str
    form: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: tuple[frozenset[int], frozenset[int]] | None  # (days, offsets before the last day)
    months: frozenset[int]
    dow: tuple[frozenset[int], frozenset[int], frozenset[tuple[int, int]]] | None
    years: frozenset[int] | None


@st.composite
def numeric_field(draw: st.DrawFn, low: int, high: int,
                  names: list[str] | None = None) -> tuple[str, frozenset[int]]:
    """A list of ``v``, ``a-b``, ``a-b/n``, ``*/n``, ``a/n`` (or ``*``) and its values."""
    if draw(st.integers(0, 3)) == 0:
        return "*", frozenset(range(low, high + 1))
    texts: list[str] = []
    values: set[int] = set()
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["one", "range", "range-step", "star-step", "from-step"]))
        a, b = sorted(draw(st.lists(st.integers(low, high), min_size=2, max_size=2)))
        n = draw(st.integers(1, high - low + 1))

        def show(v: int) -> str:
            return names[v - low] if names and draw(st.booleans()) else str(v)
        if kind == "one":
            texts.append(show(a))
            values.add(a)
        elif kind == "range":
            texts.append(f"{show(a)}-{show(b)}")
            values |= set(range(a, b + 1))
        elif kind == "range-step":
            texts.append(f"{show(a)}-{show(b)}/{n}")
            values |= set(range(a, b + 1, n))
        elif kind == "star-step":
            texts.append(f"*/{n}")
            values |= set(range(low, high + 1, n))
        else:
            texts.append(f"{a}/{n}")
            values |= set(range(a, high + 1, n))
    return ",".join(texts), frozenset(values)


@st.composite
def dom_field(draw: st.DrawFn) -> tuple[str, tuple[frozenset[int], frozenset[int]]]:
    text, days = draw(numeric_field(1, 31))
    offsets: set[int] = set()
    texts = [text]
    if draw(st.booleans()):
        n = draw(st.integers(0, 5))
        texts.append("L" if n == 0 else f"L-{n}")
        offsets.add(n)
        if draw(st.booleans()):
            texts = texts[1:]
            days = frozenset()
    return ",".join(texts), (days, frozenset(offsets))


@st.composite
def dow_field(draw: st.DrawFn, form: str) -> tuple[
        str, tuple[frozenset[int], frozenset[int], frozenset[tuple[int, int]]]]:
    def show(d: int, seven: bool = True) -> str:  # d: 0=SUN..6=SAT; 5-field: 7 is SUN too
        choice = draw(st.integers(0, 2 if seven else 1))
        if choice == 0:
            return DAY_NAMES[d]
        if form == "quartz":
            return str(d + 1)
        return "7" if d == 0 and choice == 2 else str(d)
    texts: list[str] = []
    days: set[int] = set()
    last: set[int] = set()
    nth: set[tuple[int, int]] = set()
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["one", "range", "last", "last", "nth", "nth", "star-step"]))
        a, b = sorted(draw(st.lists(st.integers(0, 6), min_size=2, max_size=2)))
        if kind == "one":
            texts.append(show(a))
            days.add(a)
        elif kind == "range":
            texts.append(f"{show(a, seven=False)}-{show(b, seven=False)}")  # 0-7 is every day
            days |= set(range(a, b + 1))
        elif kind == "last":
            texts.append(f"{show(a)}L")
            last.add(a)
        elif kind == "nth":
            n = draw(st.integers(1, 5))
            texts.append(f"{show(a)}#{n}")
            nth.add((a, n))
        else:
            n = draw(st.integers(1, 7))
            texts.append(f"*/{n}")
            raw = range(1, 8, n) if form == "quartz" else range(0, 8, n)
            days |= {(v - 1) if form == "quartz" else v % 7 for v in raw}
    return ",".join(texts), (frozenset(days), frozenset(last), frozenset(nth))


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    form = draw(st.sampled_from(["cron", "quartz", "quartz-year"]))
    quartz = form != "cron"
    sec_text, seconds = draw(numeric_field(0, 59)) if quartz else ("", frozenset({0}))
    min_text, minutes = draw(numeric_field(0, 59))
    hour_text, hours = draw(numeric_field(0, 23))
    dom_text, dom = draw(dom_field()) if draw(st.booleans()) else ("*", None)
    if dom_text == "*":
        dom = None  # a bare "*" is "any day", not a restriction to every day
    dow_text, dow = (draw(dow_field("quartz" if quartz else "cron")) if draw(st.booleans())
                     else ("*", None))
    if quartz and dom is not None and dow is not None:
        dow_text, dow = "?", None
    if quartz and (dom is None) != (dow is None):
        dom_text, dow_text = ("?", dow_text) if dom is None else (dom_text, "?")
    elif quartz:
        dom_text, dow_text = draw(st.sampled_from([("*", "?"), ("?", "*")]))
    month_text, months = draw(numeric_field(1, 12, MONTHS)) if draw(st.booleans()) \
        else ("*", frozenset(range(1, 13)))
    fields = [min_text, hour_text, dom_text, month_text, dow_text]
    years: frozenset[int] | None = None
    if quartz:
        fields.insert(0, sec_text)
    if form == "quartz-year":
        first = draw(st.integers(2020, 2030))
        years = frozenset(range(first, first + draw(st.integers(0, 3)) + 1))
        fields.append(f"{first}-{max(years)}")
    return Spec(" ".join(fields), "quartz" if quartz else "cron", seconds, minutes, hours,
                dom, months, dow, years)


def day_ok(spec: Spec, day: date) -> bool:
    if day.month not in spec.months or (spec.years is not None and day.year not in spec.years):
        return False
    last = calendar.monthrange(day.year, day.month)[1]
    dom_ok = dow_ok = False
    if spec.dom is not None:
        days, offsets = spec.dom
        dom_ok = day.day in days or any(day.day == last - n for n in offsets)
    if spec.dow is not None:
        wd = day.isoweekday() % 7
        days_w, lasts, nths = spec.dow
        dow_ok = (wd in days_w or (wd in lasts and day.day > last - 7)
                  or any(wd == d and (day.day - 1) // 7 + 1 == n for d, n in nths))
    if spec.dom is None and spec.dow is None:
        return True
    if spec.dom is None:
        return dow_ok
    if spec.dow is None:
        return dom_ok
    return dom_ok or dow_ok


HORIZON = timedelta(days=366 * 6)


def brute_next(spec: Spec, start: datetime) -> datetime | None:
    """The first matching second after ``start``, scanning day by day, then h, m, s."""
    day = start.date()
    while day <= (start + HORIZON).date():
        if day_ok(spec, day):
            first_day = day == start.date()
            for h in range(24):
                if h not in spec.hours or (first_day and h < start.hour):
                    continue
                for m in range(60):
                    if m not in spec.minutes:
                        continue
                    for s in range(60):
                        t = datetime(day.year, day.month, day.day, h, m, s, tzinfo=UTC)
                        if s in spec.seconds and t > start:
                            return t
        day += timedelta(days=1)
    return None


def never_occurs(spec: Spec) -> bool:
    if spec.dom is None or spec.dow is not None or spec.dom[1]:
        return False
    return not any(d <= calendar.monthrange(2000, m)[1] for d in spec.dom[0] for m in spec.months)


@settings(max_examples=500, deadline=None)
@given(specs(), st.datetimes(min_value=datetime(2020, 1, 1),
                             max_value=datetime(2030, 12, 31), timezones=st.just(UTC)))
def test_next_after_is_the_earliest_matching_time_strictly_after(spec: Spec,
                                                                 start: datetime) -> None:
    if never_occurs(spec):
        with pytest.raises(UsageError, match="never occurs"):
            CronExpression.parse(spec.text)
        return
    cron = CronExpression.parse(spec.text)
    got = cron.next_after(start)
    expected = brute_next(spec, start)
    if expected is None:
        assert got is None or got > start + HORIZON
        return
    assert got == expected, spec.text
    assert got > start
    assert cron.matches(got)
    assert not cron.matches(got - timedelta(seconds=1)) or got - timedelta(seconds=1) <= start


@settings(max_examples=100, deadline=None)
@given(specs(), st.datetimes(min_value=datetime(2024, 1, 1),
                             max_value=datetime(2026, 12, 31), timezones=st.just(UTC)),
       st.sampled_from(["America/New_York", "Europe/Berlin", "Australia/Lord_Howe"]))
def test_in_a_zone_fire_times_are_strictly_increasing_matching_and_real(
        spec: Spec, start: datetime, zone: str) -> None:
    if never_occurs(spec):
        return
    cron = CronExpression.parse(spec.text, tz=zone)
    t: datetime | None = start
    for _ in range(5):
        assert t is not None
        nxt = cron.next_after(t)
        if nxt is None:
            break
        assert nxt.timestamp() > t.timestamp()
        assert cron.matches(nxt)
        # a real wall time: it survives the round trip through UTC
        back = nxt.astimezone(UTC).astimezone(ZoneInfo(zone))
        assert back.replace(tzinfo=None) == nxt.replace(tzinfo=None)
        t = nxt
