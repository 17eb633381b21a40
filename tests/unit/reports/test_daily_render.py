"""The daily report rendered: self-contained HTML with the day's runs, a PDF that poppler reads,
the plain-text digest."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from intperf.reports.daily import DailyReport
from intperf.reports.daily_render import render_html, render_pdf, render_text
from intperf.reports.daily_source import load_daily_report
from intperf.store import BaselineRepository, ScheduleRepository

from ._daily_data import sqlite_db, store_run

DAY = date(2026, 11, 24)
START = datetime(2026, 11, 24, tzinfo=UTC)
SVG_NS = "http://www.w3.org/2000/svg"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> DailyReport:
    db = sqlite_db(tmp_path_factory.mktemp("daily-render"))
    try:
        base = store_run(db, scenario="shop", created_at=START - timedelta(days=12), seed=1)
        BaselineRepository(db).set("shop", base, "tester")
        for i in range(12):
            store_run(db, scenario="shop", created_at=START - timedelta(days=12 - i, hours=-4),
                      scale=40.0 if i < 8 else 90.0, seed=10 + i, error_every=5 if i == 3 else 0)
        schedule = ScheduleRepository(db).create("nightly <b>&", "0 2 * * *", [{"name": "t"}])
        store_run(db, scenario="shop", created_at=START + timedelta(hours=2), scale=120.0,
                  seed=30, schedule_id=schedule, name="nightly/</script><x>")
        store_run(db, scenario="search<i>", created_at=START + timedelta(hours=8), seed=31,
                  status="failed")
        return load_daily_report(db, DAY, now=START + timedelta(days=1, hours=7))
    finally:
        db.close()


def test_html_is_self_contained(report: DailyReport) -> None:
    html = render_html(report)
    # Nothing to fetch: no src/href/url() at all, and the only URL is the SVG namespace.
    assert not re.search(r"\b(src|href)\s*=", html)
    assert "url(" not in html
    assert "<link" not in html
    assert set(re.findall(r"[a-z][a-z0-9+.-]*://[^\s\"'<>)]*", html)) <= {SVG_NS}
    # No executable script: the one script element is a JSON data island.
    assert re.findall(r"<script[^>]*>", html) == ['<script type="application/json" '
                                                  'id="intperf-daily">']


def test_html_shows_the_days_runs_escaped(report: DailyReport) -> None:
    html = render_html(report)
    for run in report.runs:
        assert run.run_id in html
    assert "Scheduled runs (1)" in html
    assert "Other runs (1)" in html
    assert "nightly &lt;b&gt;&amp;" in html
    assert "search&lt;i&gt;" in html
    assert "</script><x>" not in html
    assert "regressed" in html
    # shop: latency, throughput and error rate; search had no error: no error chart.
    assert [t.scenario for t in report.trends] == ["shop", "search<i>"]
    assert html.count("<svg") == 3 + 2
    assert html.count("No failed requests in these runs.") == 1
    data = re.search(r'id="intperf-daily">(.*?)</script>', html, re.DOTALL)
    assert data is not None
    embedded = json.loads(data.group(1))
    assert embedded["day"] == "2026-11-24"
    assert embedded["runs"] == 2
    assert embedded["items"][0]["name"] == "nightly/</script><x>"


def test_text_digest_names_runs_and_regressions(report: DailyReport) -> None:
    text = render_text(report)
    assert text.startswith("intperf daily report 2026-11-24: 2 runs, 1 passed, 1 failed, "
                           "1 regressed\n")
    assert "Scheduled runs (1):" in text
    assert "REGRESSED: global:" in text
    assert "30-day trends that changed recently:\n  shop: p95 regressed" in text


def test_pdf_renders_to_page_images(report: DailyReport, tmp_path: Path) -> None:
    pdf = render_pdf(render_html(report))
    assert pdf.startswith(b"%PDF")
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    (tmp_path / "daily.pdf").write_bytes(pdf)
    subprocess.run([pdftoppm, "-png", "-r", "40", str(tmp_path / "daily.pdf"),
                    str(tmp_path / "page")], check=True, timeout=60)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert pages
    assert all(p.read_bytes().startswith(b"\x89PNG") and p.stat().st_size > 1000
               for p in pages)
