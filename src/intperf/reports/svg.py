"""Small inline-SVG line/area charts for the self-contained HTML report (no JavaScript).

Axes with "nice" ticks (Heckbert, Graphics Gems I, 1990: steps of 1, 2 or 5 times a power of
ten), several series with a legend, gaps for missing values and ``<title>`` tooltips.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from intperf.reports.fmt import format_si

#: Okabe–Ito colour-blind-safe palette (minus yellow, which is unreadable on white).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000",
           "#999999")
#: Up to this many points, every point gets a visible marker with its own tooltip.
MARKER_LIMIT = 60

Formatter = Callable[[float], str]


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a chart: ``values[i]`` belongs to ``x[i]``; None leaves a gap."""

    name: str
    values: Sequence[float | None]
    color: str | None = None
    area: bool = False
    dashed: bool = False


def nice_step(raw: float) -> float:
    """The smallest step of the form {1, 2, 5} x 10**k that is >= ``raw`` (> 0)."""
    if not raw > 0 or not math.isfinite(raw):
        raise ValueError(f"step must be a positive finite number, got {raw}")
    exp = math.floor(math.log10(raw))
    for _ in range(3):  # log10 may be off by one ulp near powers of ten
        base = 10.0**exp
        for m in (1.0, 2.0, 5.0):
            if m * base >= raw * (1 - 1e-12):
                return m * base
        exp += 1
    raise AssertionError("unreachable")  # pragma: no cover


def nice_ticks(lo: float, hi: float, max_ticks: int = 6) -> list[float]:
    """Evenly spaced round tick values covering [lo, hi]: at least 2, at most ``max_ticks``.

    The step is 1, 2 or 5 times a power of ten; the first tick is <= lo and the last >= hi.
    An empty range (lo == hi) is widened around the value.
    """
    if max_ticks < 3:
        raise ValueError(f"max_ticks must be at least 3, got {max_ticks}")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"tick range must be finite, got [{lo}, {hi}]")
    if hi < lo:
        lo, hi = hi, lo
    magnitude = max(abs(lo), abs(hi))
    # Below ~1e-9 of the magnitude the range is lost in float rounding: treat it as empty.
    if hi - lo <= magnitude * 1e-9 or magnitude < 1e-300:
        # Subnormal magnitudes would underflow the padding: treat them as zero.
        pad = magnitude * 0.1 if magnitude > 1e-300 else 1.0
        lo, hi = lo - pad, hi + pad
    step = nice_step((hi - lo) / (max_ticks - 1))
    while True:
        first = math.floor(lo / step + 1e-9)
        last = math.ceil(hi / step - 1e-9)
        if last - first + 1 <= max_ticks:
            break
        step = nice_step(step * 1.5)
    digits = max(0, -math.floor(math.log10(step)) + 1)
    return [round(k * step, digits) for k in range(first, last + 1)]


@dataclass(frozen=True, slots=True)
class _Frame:
    width: float
    height: float
    left: float = 58.0
    right: float = 14.0
    top: float = 34.0
    bottom: float = 26.0

    @property
    def x0(self) -> float:
        return self.left

    @property
    def x1(self) -> float:
        return self.width - self.right

    @property
    def y0(self) -> float:
        return self.height - self.bottom

    @property
    def y1(self) -> float:
        return self.top


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _legend(series: Sequence[Series], colors: Sequence[str], frame: _Frame) -> list[str]:
    out = ['<g class="legend" font-size="11">']
    x, y = frame.x0, 14.0
    for s, color in zip(series, colors, strict=True):
        label = s.name if len(s.name) <= 40 else s.name[:39] + "…"
        w = 22 + 6.5 * len(label)
        if x + w > frame.x1 and x > frame.x0:
            x, y = frame.x0, y + 14
        dash = ' stroke-dasharray="4 3"' if s.dashed else ""
        out.append(
            f'<g><title>{escape(s.name)}</title>'
            f'<line x1="{_num(x)}" y1="{_num(y - 4)}" x2="{_num(x + 14)}" y2="{_num(y - 4)}" '
            f'stroke="{color}" stroke-width="3"{dash}/>'
            f'<text x="{_num(x + 18)}" y="{_num(y)}">{escape(label)}</text></g>'
        )
        x += w + 10
    out.append("</g>")
    return out


def line_chart(
    x: Sequence[float],
    series: Sequence[Series],
    *,
    title: str,
    x_format: Formatter = format_si,
    y_format: Formatter = format_si,
    width: int = 760,
    height: int = 240,
    y_min: float | None = 0.0,
) -> str:
    """An ``<svg>`` line chart of ``series`` over ``x`` (ascending); values may be None."""
    frame = _Frame(float(width), float(height))
    colors = [s.color or PALETTE[i % len(PALETTE)] for i, s in enumerate(series)]
    for s in series:
        if len(s.values) != len(x):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(x)} x")
    finite = [v for s in series for v in s.values if v is not None and math.isfinite(v)]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" role="img" '
        f'aria-label="{escape(title)}" font-family="system-ui, sans-serif">',
        f"<title>{escape(title)}</title>",
    ]
    out += _legend(series, colors, frame)
    if not x or not finite:
        out.append(
            f'<rect x="{_num(frame.x0)}" y="{_num(frame.y1)}" width="{_num(frame.x1 - frame.x0)}" '
            f'height="{_num(frame.y0 - frame.y1)}" fill="none" stroke="#ccc"/>'
            f'<text x="{_num((frame.x0 + frame.x1) / 2)}" y="{_num((frame.y0 + frame.y1) / 2)}" '
            f'text-anchor="middle" fill="#777" font-size="13">No data</text></svg>'
        )
        return "".join(out)

    lo = min(finite) if y_min is None else min(y_min, min(finite))
    y_ticks = nice_ticks(lo, max(max(finite), lo), 5)
    ylo, yhi = y_ticks[0], y_ticks[-1]
    xlo, xhi = float(x[0]), float(x[-1])
    if xhi > xlo:
        x_ticks = [t for t in nice_ticks(xlo, xhi, 8) if xlo <= t <= xhi]
    else:  # a single point sits in the middle
        x_ticks = [xlo]
        xlo, xhi = xlo - 1.0, xhi + 1.0

    def px(v: float) -> float:
        return frame.x0 + (v - xlo) / (xhi - xlo) * (frame.x1 - frame.x0)

    def py(v: float) -> float:
        return frame.y0 - (v - ylo) / (yhi - ylo) * (frame.y0 - frame.y1)

    # Grid and axes.
    out.append('<g class="axis" font-size="10" fill="#555">')
    for t in y_ticks:
        y = py(t)
        out.append(
            f'<line x1="{_num(frame.x0)}" y1="{_num(y)}" x2="{_num(frame.x1)}" y2="{_num(y)}" '
            f'stroke="#e4e4e4"/><text x="{_num(frame.x0 - 6)}" y="{_num(y + 3.5)}" '
            f'text-anchor="end">{escape(y_format(t))}</text>'
        )
    for t in x_ticks:
        xx = px(t)
        out.append(
            f'<line x1="{_num(xx)}" y1="{_num(frame.y0)}" x2="{_num(xx)}" '
            f'y2="{_num(frame.y0 + 4)}" '
            f'stroke="#888"/><text x="{_num(xx)}" y="{_num(frame.y0 + 15)}" '
            f'text-anchor="middle">{escape(x_format(t))}</text>'
        )
    out.append(
        f'<line x1="{_num(frame.x0)}" y1="{_num(frame.y0)}" x2="{_num(frame.x1)}" '
        f'y2="{_num(frame.y0)}" stroke="#888"/></g>'
    )

    # Lines (and areas), split at gaps.
    markers: list[str] = []
    for s, color in zip(series, colors, strict=True):
        segments: list[list[tuple[float, float, float, float]]] = [[]]
        for xv, v in zip(x, s.values, strict=True):
            if v is None or not math.isfinite(v):
                if segments[-1]:
                    segments.append([])
                continue
            segments[-1].append((float(xv), px(float(xv)), py(v), v))
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        for seg in (g for g in segments if g):
            pts = " ".join(f"{_num(a)},{_num(b)}" for _, a, b, _ in seg)
            if s.area:
                base = py(max(ylo, 0.0)) if ylo <= 0 <= yhi else frame.y0
                out.append(
                    f'<path d="M{_num(seg[0][1])},{_num(base)} L{pts} '
                    f'L{_num(seg[-1][1])},{_num(base)} Z" fill="{color}" fill-opacity="0.14" '
                    f'stroke="none"/>'
                )
            out.append(
                f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.8" '
                f'stroke-linejoin="round"{dash}/>'
            )
            if len(x) <= MARKER_LIMIT or len(seg) == 1:
                for xv, a, b, v in seg:
                    markers.append(
                        f'<circle cx="{_num(a)}" cy="{_num(b)}" r="2.6" fill="{color}">'
                        f"<title>{escape(s.name)} @ {escape(x_format(xv))}: "
                        f"{escape(y_format(v))}</title></circle>"
                    )

    # Hover bands: one transparent column per x with every series' value in its tooltip.
    out.append('<g class="hover">')
    n = len(x)
    for i, xv in enumerate(x):
        left = frame.x0 if i == 0 else (px(float(x[i - 1])) + px(float(xv))) / 2
        right = frame.x1 if i == n - 1 else (px(float(xv)) + px(float(x[i + 1]))) / 2
        lines = [x_format(float(xv))] + [f"{s.name}: {_fmt_or_dash(s.values[i], y_format)}"
                                         for s in series]
        out.append(
            f'<rect class="hb" x="{_num(left)}" y="{_num(frame.y1)}" '
            f'width="{_num(max(right - left, 0.1))}" height="{_num(frame.y0 - frame.y1)}" '
            f'fill="#000" fill-opacity="0"><title>{escape(chr(10).join(lines))}</title></rect>'
        )
    out.append("</g>")
    out += markers
    out.append("</svg>")
    return "".join(out)


def _fmt_or_dash(v: float | None, fmt: Formatter) -> str:
    return "-" if v is None or not math.isfinite(v) else fmt(float(v))
