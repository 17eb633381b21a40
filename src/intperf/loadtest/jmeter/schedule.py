"""JMeter Open Model Thread Group schedules (``rate(10/sec) random_arrivals(1 min)``) as
intperf injection steps."""

from __future__ import annotations

import re
from typing import Any

from intperf.loadtest.jmeter.model import JmxError

_CALL = re.compile(r"\s*(?P<fn>[a-z_]+)\s*\((?P<arg>[^()]*)\)\s*")
_RATE = re.compile(r"\s*(?P<n>\d+(?:\.\d+)?)\s*(?:/\s*(?P<unit>ms|sec|s|min|m|hour|h|d))?\s*")
_TIME = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>ms|sec|s|min|m|hour|h|d)?")
_SECONDS = {"ms": 0.001, "sec": 1.0, "s": 1.0, "min": 60.0, "m": 60.0, "hour": 3600.0,
            "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_schedule(text: str) -> list[dict[str, Any]]:
    """Translate a schedule into injection steps; raises :class:`JmxError` when malformed.

    ``rate(r)`` sets the arrival rate; ``random_arrivals(d)``/``even_arrivals(d)`` run for
    ``d`` moving linearly to the next ``rate(...)`` (or staying); ``pause(d)`` sends nothing.
    """
    calls: list[tuple[str, str]] = []
    pos = 0
    cleaned = re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.DOTALL).strip()
    while pos < len(cleaned):
        m = _CALL.match(cleaned, pos)
        if m is None:
            raise JmxError(f"open model schedule: cannot read {cleaned[pos:pos + 30]!r}")
        calls.append((m.group("fn"), m.group("arg")))
        pos = m.end()
    steps: list[dict[str, Any]] = []
    rate = 0.0
    for i, (fn, arg) in enumerate(calls):
        if fn == "rate":
            rate = _rate(arg)
        elif fn in ("random_arrivals", "even_arrivals"):
            during = _duration(arg)
            nxt = calls[i + 1] if i + 1 < len(calls) else None
            end = _rate(nxt[1]) if nxt is not None and nxt[0] == "rate" else rate
            randomized = fn == "random_arrivals"
            if end == rate:
                steps.append({"constant_users_per_sec": rate, "during": during,
                              "randomized": randomized})
            else:
                steps.append({"ramp_users_per_sec": {"from": rate, "to": end},
                              "during": during, "randomized": randomized})
        elif fn == "pause":
            steps.append({"nothing_for": _duration(arg)})
        else:
            raise JmxError(f"open model schedule: unsupported function {fn}()")
    if not steps:
        raise JmxError("open model schedule: no arrivals (add e.g. random_arrivals(1 min))")
    return steps


def _rate(arg: str) -> float:
    m = _RATE.fullmatch(arg)
    if m is None:
        raise JmxError(f"open model schedule: bad rate {arg!r} (e.g. 10/sec)")
    return float(m.group("n")) / _SECONDS[m.group("unit")]


def _duration(arg: str) -> float:
    total = 0.0
    rest = arg.strip()
    if not rest:
        raise JmxError("open model schedule: empty duration")
    for m in re.finditer(r"\s*(\S[^a-z]*[a-z]*)", rest):
        part = _TIME.fullmatch(m.group(1).strip())
        if part is None:
            raise JmxError(f"open model schedule: bad duration {arg!r} (e.g. 1 min 30 sec)")
        total += float(part.group("n")) * _SECONDS[part.group("unit")]
    return total
