"""The single-file HTML report: works offline, charts are inline SVG, the data is embedded.

The summary JSON is embedded in ``<script type="application/json" id="intperf-summary">`` so
tools can read the numbers back from the report alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from jinja2 import Environment, StrictUndefined, Template
from markupsafe import Markup

from intperf.reports.fmt import (
    format_bytes,
    format_count,
    format_ms,
    format_pct,
    format_rate,
    format_seconds,
    format_si,
    format_timestamp,
)
from intperf.reports.svg import Formatter, Series, line_chart

#: Request names drawn individually in the per-request charts (the busiest ones).
MAX_REQUEST_SERIES = 8


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart of the report: an anchor id, a heading, a caption and the SVG markup."""

    id: str
    title: str
    caption: str
    svg: Markup


def embed_json(data: Any) -> str:
    """``data`` as JSON that is safe inside a ``<script>`` element.

    ``<``, ``>`` and ``&`` only occur inside JSON strings, where ``\\u003c`` etc. mean the same
    characters, so ``</script>`` or ``<!--`` in a request name cannot end the element early.
    """
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _per_second(counts: Sequence[int], step: int) -> list[float | None]:
    return [c / step for c in counts]


def charts(summary: Mapping[str, Any]) -> list[Chart]:
    """The report's charts built from the summary's time series."""
    ts = summary["timeseries"]
    t: list[float] = [float(v) for v in ts["t"]]
    step = int(ts["step_s"])
    per = "per second" if step == 1 else f"per second, averaged over {step} s buckets"

    def chart(title: str, series: Sequence[Series], y_format: Formatter) -> Markup:
        # line_chart escapes every text it writes, so its output is safe markup.
        return Markup(line_chart(t, series, title=title, x_format=format_seconds,  # noqa: S704
                                 y_format=y_format))

    out = [
        Chart("chart-throughput", "Throughput",
              f"Responses {per}: successful vs failed.",
              chart("Throughput", [
                  Series("OK rps", _per_second(ts["ok"], step), "#009E73", area=True),
                  Series("failed rps", _per_second(ts["failed"], step), "#D55E00", area=True),
              ], format_si)),
        Chart("chart-latency", "Response time percentiles",
              "Corrected response time (from the intended send time) and uncorrected service "
              "time p99, per bucket.",
              chart("Response time percentiles", [
                  Series("p50", ts["p50"], "#56B4E9"),
                  Series("p95", ts["p95"], "#0072B2"),
                  Series("p99", ts["p99"], "#CC79A7"),
                  Series("service p99", ts["service_p99"], "#999999", dashed=True),
              ], format_ms)),
        Chart("chart-users", "Active users and dropped arrivals",
              "Most virtual users active at once, and arrivals that could not start on time.",
              chart("Active users and dropped arrivals", [
                  Series("active users", ts["active_users"], "#0072B2", area=True),
                  Series("dropped arrivals", ts["dropped"], "#D55E00"),
              ], format_si)),
        Chart("chart-errors", "Errors by class",
              f"Failed requests {per}, by error class.",
              chart("Errors by class", [
                  Series(cls, _per_second(counts, step))
                  for cls, counts in ts["errors_by_class"].items()
              ], format_si)),
    ]
    busiest = sorted(summary["requests"], key=lambda r: -int(r["requests"]))[:MAX_REQUEST_SERIES]
    by_request = ts["by_request"]
    shown = " (busiest 8)" if len(summary["requests"]) > MAX_REQUEST_SERIES else ""
    out.append(Chart(
        "chart-request-p95", f"p95 response time by request{shown}",
        "Corrected 95th percentile per request name.",
        chart("p95 response time by request", [
            Series(r["name"], by_request[r["name"]]["p95"]) for r in busiest
        ], format_ms)))
    out.append(Chart(
        "chart-request-rps", f"Throughput by request{shown}",
        f"Responses {per} per request name.",
        chart("Throughput by request", [
            Series(r["name"], _per_second(by_request[r["name"]]["requests"], step))
            for r in busiest
        ], format_si)))
    return out


@lru_cache(maxsize=1)
def _template() -> Template:
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(ms=format_ms, count=format_count, rate=format_rate, pct=format_pct,
                       bytes=format_bytes, seconds=format_seconds,
                       when=format_timestamp)
    source = (resources.files("intperf.reports").joinpath("templates", "report.html.j2")
              .read_text("utf-8"))
    return env.from_string(source)


def render(summary: Mapping[str, Any]) -> str:
    """The HTML report of a summary as one self-contained document."""
    run = summary["run"]
    status = run["status"]
    # A run that did not complete says so, whatever its criteria said.
    banner = status if status in ("aborted", "interrupted", "error") else summary["verdict"]
    options = {k: json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v
               for k, v in run["options"].items()}
    return _template().render(
        s=summary,
        run=run,
        banner=banner,
        options=options,
        charts=charts(summary),
        failed_criteria=sum(1 for c in summary["criteria"] if not c["passed"]),
        # embed_json leaves no '<', '>' or '&' that could end or break the script element.
        summary_json=Markup(embed_json(summary)),  # noqa: S704
    )
