"""Human formatting of report numbers (milliseconds, counts, rates, ratios, bytes, seconds).

Shared by the console tables, the HTML report and the SVG chart axes so they all agree.
"""

from __future__ import annotations

import math
from datetime import datetime

#: Shown where a value is missing (no data in that window).
MISSING = "-"


def format_ms(v: float | None) -> str:
    """A duration in milliseconds: ``0.42 ms``, ``12.3 ms``, ``845 ms``, ``1.23 s``."""
    if v is None or not math.isfinite(v):
        return MISSING
    if abs(v) < 10:
        return f"{v:.2f} ms"
    if abs(v) < 100:
        return f"{v:.1f} ms"
    if abs(v) < 999.5:
        return f"{v:.0f} ms"
    s = v / 1000.0
    if abs(s) < 9.995:
        return f"{s:.2f} s"
    if abs(s) < 99.95:
        return f"{s:.1f} s"
    return f"{s:.0f} s"


def format_count(v: float | None) -> str:
    """An integer count with thousands separators: ``1,234,567``."""
    if v is None or not math.isfinite(v):
        return MISSING
    return f"{round(v):,}"


def format_rate(v: float | None) -> str:
    """A rate per second: ``0.25``, ``12.3``, ``1,234``."""
    if v is None or not math.isfinite(v):
        return MISSING
    if abs(v) < 10:
        return f"{v:.2f}"
    if abs(v) < 100:
        return f"{v:.1f}"
    return f"{v:,.0f}"


def format_pct(ratio: float | None) -> str:
    """A ratio as a percentage: ``0%``, ``0.05%``, ``12.5%``, ``100%``."""
    if ratio is None or not math.isfinite(ratio):
        return MISSING
    p = ratio * 100.0
    if p == 0.0 or p == 100.0:
        return f"{p:.0f}%"
    if abs(p) < 10:
        return f"{p:.2f}%"
    return f"{p:.1f}%"


def format_bytes(v: float | None) -> str:
    """A byte count with binary prefixes: ``512 B``, ``1.5 KiB``, ``3.2 MiB``."""
    if v is None or not math.isfinite(v):
        return MISSING
    n = float(v)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024.0 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    raise AssertionError("unreachable")  # pragma: no cover


def format_si(v: float | None) -> str:
    """A compact axis number: ``0``, ``2.5``, ``750``, ``1.2k``, ``3M``."""
    if v is None or not math.isfinite(v):
        return MISSING
    a = abs(v)
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= scale:
            return f"{v / scale:.3g}{suffix}"
    return f"{v:.3g}"


def format_timestamp(iso: str | None) -> str:
    """An RFC 3339 UTC timestamp from the summary for people: ``2025-01-02 03:04:05 UTC``."""
    if not iso:
        return MISSING
    try:
        ts = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return ts.strftime("%Y-%m-%d %H:%M:%S UTC")


def format_seconds(t: float | None) -> str:
    """Seconds since the run start, for axes and tooltips: ``45s``, ``2m30s``, ``1h05m``."""
    if t is None or not math.isfinite(t):
        return MISSING
    if abs(t) < 60:
        return f"{t:g}s"
    total = round(t)
    sign = "-" if total < 0 else ""
    m, s = divmod(abs(total), 60)
    if m < 60:
        return f"{sign}{m}m{s:02d}s" if s else f"{sign}{m}m"
    h, m = divmod(m, 60)
    return f"{sign}{h}h{m:02d}m"
