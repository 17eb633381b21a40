"""Parsing of durations (``300s``, ``5m``, ``2000ms``), rates (``100/s``) and ratios (``5%``)."""

from __future__ import annotations

import re

_DURATION = re.compile(
    r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|us|µs)?\s*$"
)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|h|m|s)")
_UNIT_SECONDS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|m|min|h)|(rps|rpm))?\s*$")
_RATE_UNIT = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "rps": 1.0, "rpm": 60.0}


def parse_duration(value: str | float | int) -> float:
    """Seconds in ``value``: a number (seconds) or text like ``300s``, ``5m``, ``1m30s``.

    Raises ValueError with the offending text.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value!r}")
        return float(value)
    m = _DURATION.match(value)
    if m:
        return float(m.group(1)) * _UNIT_SECONDS[m.group(2) or "s"]
    compact = value.strip()
    parts = _DURATION_PART.findall(compact)
    if parts and "".join(n + u for n, u in parts) == compact:
        return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    raise ValueError(
        f"not a duration: {value!r} "
        "(use a number of seconds or e.g. '300s', '5m', '2000ms', '1m30s')"
    )


def parse_rate(value: str | float | int) -> float:
    """Events per second in ``value``: a number or text like ``100/s``, ``6000/m``, ``100rps``."""
    if isinstance(value, bool):
        raise ValueError(f"not a rate: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a rate cannot be negative: {value!r}")
        return float(value)
    m = _RATE.match(value)
    if not m:
        raise ValueError(f"not a rate: {value!r} (use e.g. '100/s', '6000/m' or '100rps')")
    unit = m.group(2) or m.group(3) or "s"
    return float(m.group(1)) / _RATE_UNIT[unit]


def parse_ratio(value: str | float | int) -> float:
    """A ratio in [0, 1] from ``5%`` or a plain number in [0, 1]."""
    if isinstance(value, bool):
        raise ValueError(f"not a ratio: {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            r = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
        except ValueError:
            raise ValueError(f"not a ratio: {value!r} (use e.g. '5%' or 0.05)") from None
    else:
        r = float(value)
    if not 0.0 <= r <= 1.0:
        raise ValueError(f"a ratio must be between 0% and 100%: {value!r}")
    return r


def format_duration(seconds: float) -> str:
    """Short human form: ``850ms``, ``12.5s``, ``3m20s``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    m, s = divmod(round(seconds), 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"
