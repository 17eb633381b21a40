"""The single-file HTML report: content, charts, no external resources, embedded data."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

from markupsafe import escape

from intperf.loadtest.results import ErrorClass
from intperf.reports import build_summary, html
from intperf.reports.html import embed_json

from ._data import CHECK_MSG, CRITERIA, ORDERS, PRODUCTS, STATUS_MSG, make_info, make_recorded


class Collector(HTMLParser):
    """Collects attribute values, script elements and the embedded JSON text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attrs: list[tuple[str, str, str]] = []
        self.scripts: list[dict[str, str | None]] = []
        self.embedded: list[str] = []
        self._in_summary = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for k, v in attrs:
            self.attrs.append((tag, k, v or ""))
        if tag == "script":
            self.scripts.append(dict(attrs))
            self._in_summary = dict(attrs).get("id") == "intperf-summary"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_summary = False

    def handle_data(self, data: str) -> None:
        if self._in_summary:
            self.embedded.append(data)


def collect(page: str) -> Collector:
    c = Collector()
    c.feed(page)
    c.close()
    return c


def assert_offline(page: str) -> None:
    c = collect(page)
    for tag, attr, value in c.attrs:
        if attr in ("src", "href", "xlink:href", "action", "poster", "srcset"):
            assert not re.match(r"\s*(https?:)?//", value), (tag, attr, value)
            assert not value.strip().startswith("data:") or tag == "img"
    assert "<link" not in page
    assert "@import" not in page and "url(" not in page
    assert [s.get("type") for s in c.scripts] == ["application/json"]  # no executable scripts


def embedded(page: str) -> Any:
    c = collect(page)
    assert len(c.embedded) == 1
    return json.loads("".join(c.embedded))


def test_report_holds_names_criteria_and_charts(summary: dict[str, Any]) -> None:
    page = html.render(summary)
    assert page.startswith("<!DOCTYPE html>")
    for name in (PRODUCTS, ORDERS):
        assert escape(name) in page
    for c in CRITERIA:
        assert escape(c["criterion"]) in page
    assert page.count("<svg") >= 6
    for chart_id in ("chart-throughput", "chart-latency", "chart-users", "chart-errors"):
        assert f'id="{chart_id}"' in page
    assert 'class="banner failed"' in page
    for text in ("http_5xx", "check_failed", escape(STATUS_MSG),
                 escape(CHECK_MSG), "All requests", "p99.9", "run-2025-0001",
                 "2025-01-02 03:04:05 UTC"):
        assert text in page, text


def test_report_is_self_contained(summary: dict[str, Any]) -> None:
    assert_offline(html.render(summary))


def test_embedded_json_round_trips(summary: dict[str, Any]) -> None:
    assert embedded(html.render(summary)) == summary


def test_hostile_names_are_escaped_and_cannot_break_out() -> None:
    rec = make_recorded()
    evil = "</script><script>alert(1)</script><!-- & \u2028"
    w = rec.series.at(1).window(evil)
    w.ok = 1
    w.latency.record(5.0)
    w.add_error(ErrorClass.OTHER, "<img src=http://evil.example/x.png>")
    crit = [{"criterion": "p99(response_time){" + evil + "} < 1s", "passed": False,
             "observed": 5.0, "message": evil}]
    summary = build_summary(rec.series, crit, make_info())
    page = html.render(summary)
    assert "<script>alert(1)" not in page
    assert "<img" not in page
    assert_offline(page)
    assert embedded(page) == summary
    assert "</" not in embed_json(summary)


def test_aborted_run_shows_its_status(summary: dict[str, Any]) -> None:
    summary = dict(summary, run=dict(summary["run"], status="aborted",
                                     abort_reason="p95 above 300 ms for 3 s"))
    page = html.render(summary)
    assert 'class="banner aborted"' in page
    assert "p95 above 300 ms for 3 s" in page


def test_empty_run_renders(empty_summary: dict[str, Any]) -> None:
    page = html.render(empty_summary)
    assert "No requests were completed." in page
    assert "No data" in page
    assert 'class="banner passed"' in page
    assert_offline(page)
    assert embedded(page) == empty_summary
