"""The daily report as one self-contained HTML file, as PDF (WeasyPrint) and as plain text.

The HTML has no scripts but a JSON data island, no external URL (inline CSS, inline-SVG
charts from ``reports.svg``), so it opens offline and in e-mail; the PDF is that HTML
rendered by WeasyPrint, which may fetch nothing but ``data:`` URLs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources

from jinja2 import Environment, StrictUndefined, Template
from markupsafe import Markup

from intperf import __version__
from intperf.reports.daily import DailyReport, DayRun
from intperf.reports.fmt import format_count, format_ms, format_pct, format_rate, format_si
from intperf.reports.html import embed_json
from intperf.reports.svg import Formatter, Series, line_chart
from intperf.stats.trends import Trend

__all__ = ["TrendCharts", "render_html", "render_pdf", "render_text", "trend_charts"]

_CHART_W, _CHART_H = 420, 190
#: One PDF at a time: WeasyPrint shares Pango/fontconfig state, and a render takes a core for
#: about a second anyway (the API's worker threads and the daily job may ask together).
_PDF_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class TrendCharts:
    """A scenario's trend and its three small charts (latency, throughput, error rate)."""

    trend: Trend
    latency: Markup
    throughput: Markup
    errors: Markup | None
    """None when no run of the window had an error (a flat zero line says nothing)."""
    notes: tuple[str, ...]


def _slope_note(trend: Trend, metric: str, label: str, fmt: Formatter) -> str | None:
    slope = trend.slopes.get(metric)
    if slope is None:
        return None
    sign = "+" if slope > 0 else ("−" if slope < 0 else "±")
    return f"{label} {sign}{fmt(abs(slope))}/day"


def trend_charts(trend: Trend) -> TrendCharts:
    """The small inline-SVG charts of one scenario's trend (x: date)."""
    since = trend.since
    x = [(p.at - since).total_seconds() / 86_400.0 for p in trend.points]

    def day_label(v: float) -> str:
        return (since + timedelta(days=v)).strftime("%m-%d")

    def chart(title: str, series: list[Series], y_format: Formatter) -> Markup:
        # line_chart escapes every text it writes, so its output is safe markup.
        return Markup(line_chart(x, series, title=title, x_format=day_label,  # noqa: S704
                                 y_format=y_format, width=_CHART_W, height=_CHART_H))

    errors = trend.series("error_rate")
    notes = [n for n in (
        _slope_note(trend, "p95_ms", "p95", format_ms),
        _slope_note(trend, "p99_ms", "p99", format_ms),
        _slope_note(trend, "rps", "throughput", lambda v: f"{format_si(v)} rps"),
        _slope_note(trend, "error_rate", "error rate", format_pct),
    ) if n is not None]
    return TrendCharts(
        trend=trend,
        latency=chart(f"{trend.scenario}: response time", [
            Series("p95", trend.series("p95_ms"), "#0072B2"),
            Series("p99", trend.series("p99_ms"), "#CC79A7")], format_ms),
        throughput=chart(f"{trend.scenario}: throughput", [
            Series("rps", trend.series("rps"), "#009E73", area=True)], format_si),
        errors=chart(f"{trend.scenario}: error rate", [
            Series("error rate", errors, "#D55E00")], format_pct) if any(errors) else None,
        notes=tuple(notes),
    )


def _when(ts: datetime | None) -> str:
    return "-" if ts is None else ts.strftime("%H:%M:%S")


@lru_cache(maxsize=1)
def _template() -> Template:
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(ms=format_ms, count=format_count, rate=format_rate, pct=format_pct,
                       clock=_when)
    source = (resources.files("intperf.reports").joinpath("templates", "daily.html.j2")
              .read_text("utf-8"))
    return env.from_string(source)


def render_html(report: DailyReport) -> str:
    """The report as one self-contained HTML document."""
    return _template().render(
        r=report,
        version=__version__,
        trends=[trend_charts(t) for t in report.trends],
        # embed_json leaves no '<', '>' or '&' that could end or break the script element.
        data_json=Markup(embed_json(report.to_dict())),  # noqa: S704
    )


def render_pdf(html: str) -> bytes:
    """``html`` rendered to PDF by WeasyPrint; only ``data:`` URLs may be fetched."""
    # Imported here: WeasyPrint loads Pango and its fonts, which only this needs.
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    with _PDF_LOCK:
        pdf = HTML(string=html, base_url=None,
                   url_fetcher=URLFetcher(allowed_protocols=("data",))).write_pdf()
    if not isinstance(pdf, bytes):  # pragma: no cover - write_pdf() without a target
        raise TypeError("WeasyPrint returned no PDF bytes")
    return pdf


def _line(run: DayRun) -> str:
    label = run.name or run.scenario
    vs = ""
    if run.regressions:
        vs = " REGRESSED: " + ", ".join(f"{g.scope}:{g.metric}" for g in run.regressions[:5])
    elif run.comparison:
        vs = f" vs baseline: {run.comparison}"
    return (f"  {_when(run.started_at or run.created_at)} {label} [{run.scenario}] "
            f"{run.outcome.upper()} p95={format_ms(run.p95_ms)} p99={format_ms(run.p99_ms)} "
            f"rps={format_rate(run.rps)} errors={format_pct(run.error_rate)}{vs}")


def render_text(report: DailyReport) -> str:
    """A plain-text digest (the chat message and the e-mail's text part)."""
    lines = [report.subject, ""]
    for title, runs in (("Scheduled runs", report.scheduled), ("Other runs", report.other)):
        lines.append(f"{title} ({len(runs)}):")
        lines += [_line(r) for r in runs] or ["  none"]
        lines.append("")
    changed = [t for t in report.trends if t.change is not None]
    if changed:
        lines.append(f"{report.trend_days}-day trends that changed recently:")
        for t in changed:
            assert t.change is not None
            moved = ", ".join(f"{m.label} {m.verdict.value}" for m in t.change.metrics)
            lines.append(f"  {t.scenario}: {moved}")
        lines.append("")
    if report.truncated:
        lines.append("(more runs were created that day than the report shows)")
    lines.append("The full report with charts is attached as PDF.")
    return "\n".join(lines) + "\n"
