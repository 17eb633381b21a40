"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): an operator signs
in, starts a test against the demo shop from the form, watches the live chart move, sees the
verdict and acknowledges the alert the failed run raised; a viewer sees no operator action.
Screenshots go to ``test-artifacts/e2e/``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: A criterion no run can meet: the run's verdict is failed, which raises ``run.failed``.
IMPOSSIBLE = "p99(response_time) < 0.001ms"
API = "/api/v1/performance"
#: Runs started by this module's tests, shared so the later tests need not start their own.
STARTED: dict[str, str] = {}


@pytest.fixture
def page_for(browser: Any, dashboard_service: Any) -> Iterator[Any]:
    """``page_for(role)``: a fresh browser context signed in with the role's key; checks at the
    end that the page made no request to another origin and raised no script error."""
    from playwright.sync_api import expect

    contexts: list[tuple[Any, list[str], list[str]]] = []

    def make(role: str | None, *, missing: str | None = None) -> Any:
        """``missing``: a URL glob answered with 404 (an asset not installed)."""
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        if missing is not None:
            page.route(missing, lambda route: route.fulfill(status=404, body="not installed"))
        page.set_default_timeout(15_000)
        urls: list[str] = []
        errors: list[str] = []
        page.on("request", lambda r: urls.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        contexts.append((context, urls, errors))
        page.goto(f"{dashboard_service.base_url}/dashboard")
        if role is not None:
            page.fill("#api-key", dashboard_service.keys[role])
            page.click("#sign-in-form button[type=submit]")
            expect(page.locator("#who-role")).to_have_text(role)
        return page

    yield make
    for context, urls, errors in contexts:
        context.close()
        foreign = [u for u in urls if not u.startswith((dashboard_service.base_url, "blob:",
                                                        "data:"))]
        assert not foreign, foreign
        assert not errors, errors


def _wait_for_end(service: Any, run_id: str) -> dict[str, Any]:
    with service.client("viewer") as c, c.stream(
            "GET", f"{API}/runs/{run_id}/stream", timeout=httpx.Timeout(60, read=30)) as r:
        for line in r.iter_lines():
            if line.startswith("event: end"):
                break
    with service.client("viewer") as c:
        detail: dict[str, Any] = c.get(f"{API}/runs/{run_id}").json()
        return detail


@pytest.fixture
def failed_run(dashboard_service: Any, demo_shop: Any) -> str:
    """A finished run with verdict failed (the first test's, else one submitted here)."""
    if "failed" not in STARTED:
        with dashboard_service.client("operator") as c:
            r = c.post(f"{API}/load-test", json={
                "scenario": "social-commerce", "users": 2, "duration": "2s", "rampUp": "0s",
                "baseUrl": demo_shop.url, "criteria": [IMPOSSIBLE]})
            assert r.status_code == 202, r.text
            STARTED["failed"] = r.json()["runId"]
    detail = _wait_for_end(dashboard_service, STARTED["failed"])
    assert detail["verdict"] == "failed", detail
    return STARTED["failed"]


def test_operator_starts_a_test_and_follows_it_live(page_for: Any, dashboard_service: Any,
                                                    demo_shop: Any, artifacts: Path) -> None:
    from playwright.sync_api import expect

    page = page_for(None)
    expect(page.locator("#sign-in")).to_be_visible()
    page.fill("#api-key", "ip_" + "x" * 43)
    page.click("#sign-in-form button[type=submit]")
    expect(page.locator("#sign-in-error")).to_contain_text("not valid")
    page.screenshot(path=artifacts / "01-sign-in-refused.png")
    page.fill("#api-key", dashboard_service.keys["operator"])
    page.click("#sign-in-form button[type=submit]")
    expect(page.locator("#who-role")).to_have_text("operator")
    expect(page.locator("[data-testid=running]")).to_contain_text("No test is running")
    page.screenshot(path=artifacts / "02-overview.png", full_page=True)

    page.click("nav a[data-view=start]")
    form = page.locator("#start-form")
    expect(form).to_be_visible()
    page.select_option("#f-scenario", "social-commerce")
    # Checked in the browser: nothing is sent.
    page.fill("#f-users", "0")
    page.fill("#f-duration", "five minutes")
    page.fill("#f-baseUrl", "ftp://127.0.0.1")
    page.click("#f-submit")
    expect(form).to_have_attribute("data-checked", "client-errors")
    expect(page.locator("#e-users")).to_have_text(
        "users: Input should be greater than or equal to 1")
    expect(page.locator("#e-duration")).to_contain_text("not a duration: 'five minutes'")
    expect(page.locator("#e-baseUrl")).to_contain_text("is not an http:// or https:// URL")
    expect(page.locator("#f-users")).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=artifacts / "03-form-checked-in-the-browser.png", full_page=True)
    # Checked by the API: a target outside intperf.allowed-targets, shown at its field.
    page.fill("#f-users", "3")
    page.fill("#f-duration", "10s")
    page.fill("#f-rampUp", "0s")
    page.fill("#f-baseUrl", "http://10.1.2.3:8080")
    page.click("#f-submit")
    expect(form).to_have_attribute("data-checked", "api-422")
    expect(page.locator("#e-baseUrl")).to_contain_text("10.1.2.3 is not in the allowed targets")
    expect(page.locator("#e-users")).to_have_text("")
    page.screenshot(path=artifacts / "04-form-refused-by-the-api.png", full_page=True)

    page.fill("#f-baseUrl", demo_shop.url)
    page.fill("#f-criteria", IMPOSSIBLE)
    page.fill("#f-name", "e2e failing run")
    page.click("#f-submit")
    expect(page).to_have_url(re.compile(r"#/runs/[0-9a-f]{12}$"))
    run_id = page.url.rsplit("/", 1)[1]
    STARTED["failed"] = run_id

    # The live chart moves: its point count grows while the run goes.
    chart = page.locator("[data-testid=live-chart]")
    expect(chart).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"), timeout=30_000)
    before = int(chart.get_attribute("data-points") or 0)
    page.wait_for_function(
        "([n]) => Number(document.querySelector('[data-testid=live-chart]')"
        "?.dataset.points) > n", arg=[before], timeout=15_000)
    assert page.locator("[data-testid=live-chart] canvas").count() == 1  # uPlot drew it
    expect(page.locator("[data-testid=run-status]")).to_have_text("running")
    page.screenshot(path=artifacts / "05-run-live.png", full_page=True)
    # The overview follows it too, then back to the run.
    page.click("nav a[data-view=overview]")
    card = page.locator(f"[data-testid=running] [data-testid=live-chart][data-run='{run_id}']")
    expect(card).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
    page.screenshot(path=artifacts / "05b-overview-live.png", full_page=True)
    page.go_back()

    expect(page.locator("[data-testid=verdict]")).to_have_text("failed", timeout=45_000)
    expect(page.locator("[data-testid=run-status]")).to_have_text("failed")
    failed = page.locator("[data-testid=criteria] tr[data-passed=false]")
    expect(failed).to_contain_text(IMPOSSIBLE)
    expect(page.locator("[data-testid=requests]")).to_contain_text("all requests")
    expect(page.locator("[data-testid=latency-chart]")).to_have_attribute(
        "data-points", re.compile(r"^[1-9]\d*$"))
    expect(page.locator("[data-testid=comparison]")).to_have_count(0)
    page.click("button[data-action='Mark as baseline']")
    expect(page.locator("[data-testid=comparison]")).to_contain_text("Against baseline")
    page.screenshot(path=artifacts / "06-run-verdict.png", full_page=True)

    with page.context.expect_page() as report:
        page.click("button[data-action='Report (HTML)']")
    report.value.wait_for_load_state()
    expect(report.value.locator("body")).to_contain_text(run_id)
    report.value.close()

    page.click("nav a[data-view=overview]")
    expect(page.locator(f"[data-testid=recent-runs] tr[data-run='{run_id}']")).to_contain_text(
        "failed")


def test_operator_acknowledges_the_alert_of_a_failed_run(page_for: Any, failed_run: str,
                                                         artifacts: Path) -> None:
    from playwright.sync_api import expect

    page = page_for("operator")
    page.click("nav a[data-view=alerts]")
    row = page.locator("[data-testid=alerts] tr[data-rule='run.failed']").first
    expect(row).to_be_visible(timeout=20_000)
    expect(row.locator("[data-testid=ack]")).to_have_text("–")
    page.screenshot(path=artifacts / "07-alert-firing.png", full_page=True)
    row.locator("button[data-action=ack]").click()
    expect(row.locator("[data-testid=ack]")).to_contain_text("acknowledged by test-operator")
    expect(row.locator("button[data-action=ack]")).to_have_count(0)
    page.screenshot(path=artifacts / "08-alert-acknowledged.png", full_page=True)

    row.locator("button[data-action=silence]").click()
    expect(page.locator("#s-matchers")).to_have_value(re.compile(r"alertname=run\.failed"))
    page.fill("#s-comment", "known: the e2e criterion cannot pass")
    page.click("#silence-form button[type=submit]")
    expect(page.locator("[data-testid=silences] tr[data-silence]")).to_have_count(1)


def test_viewer_sees_but_cannot_act(page_for: Any, dashboard_service: Any, failed_run: str,
                                    artifacts: Path) -> None:
    from playwright.sync_api import expect

    page = page_for("viewer")
    expect(page.locator("nav a[data-view=start]")).to_have_count(0)
    expect(page.locator("nav a[data-view=alerts]")).to_be_visible()
    page.screenshot(path=artifacts / "09-viewer-overview.png", full_page=True)

    page.goto(f"{dashboard_service.base_url}/dashboard#/runs/{failed_run}")
    expect(page.locator("[data-testid=verdict]")).to_have_text("failed")
    expect(page.locator("button[data-action='Report (HTML)']")).to_be_visible()
    for action in ("Cancel", "Mark as baseline"):
        expect(page.locator(f"button[data-action='{action}']")).to_have_count(0)
    page.screenshot(path=artifacts / "10-viewer-run.png", full_page=True)

    page.click("nav a[data-view=alerts]")
    expect(page.locator("[data-testid=alerts] tr[data-alert]").first).to_be_visible(
        timeout=20_000)
    expect(page.locator("button[data-action=ack]")).to_have_count(0)
    expect(page.locator("button[data-action=silence]")).to_have_count(0)

    page.goto(f"{dashboard_service.base_url}/dashboard#/start")
    expect(page.locator("[data-view=start]")).to_contain_text("needs the operator role")
    expect(page.locator("#start-form")).to_have_count(0)
    # And the API refuses the viewer anyway, whatever the page shows.
    status = page.evaluate(
        """async () => (await fetch('/api/v1/performance/load-test', {method: 'POST',
             headers: {'X-API-Key': sessionStorage.getItem('intperf.apiKey'),
                       'Content-Type': 'application/json'},
             body: JSON.stringify({scenario: 'social-commerce'})})).status""")
    assert status == 403

    page.click("#sign-out")
    expect(page.locator("#sign-in")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('intperf.apiKey')") is None


PAGES = [("overview", "Overview"), ("runs", "Runs"), ("start", "Start a test"),
         ("alerts", "Alerts"), ("trends", "Trends"), ("schedules", "Schedules"),
         ("db", "Database recommendations"), ("cache", "Cache recommendations")]


def test_every_page_renders(page_for: Any, failed_run: str, artifacts: Path) -> None:
    from playwright.sync_api import expect

    page = page_for("admin")
    for view, title in PAGES:
        page.click(f"nav a[data-view={view}]")
        expect(page.locator(f"#view[data-view={view}] h1")).to_have_text(title)
        expect(page.locator("#view")).not_to_contain_text("This page failed")
    page.click("nav a[data-view=trends]")
    expect(page.locator("#t-scenario")).to_have_value("social-commerce")
    expect(page.locator("[data-testid=trend-latency]")).to_have_attribute(
        "data-points", re.compile(r"^[1-9]\d*$"))
    expect(page.locator("[data-testid=trends]")).to_contain_text(failed_run)
    page.screenshot(path=artifacts / "12-trends.png", full_page=True)
    page.click("nav a[data-view=schedules]")
    page.click("#new-schedule")
    page.fill("#sc-name", "nightly-e2e")
    page.fill("#sc-cron", "0 2 * * *")
    page.click("#schedule-form button[type=submit]")
    row = page.locator("[data-testid=schedules] tr[data-schedule]", has_text="nightly-e2e")
    expect(row).to_have_count(1)
    page.screenshot(path=artifacts / "11-schedules.png", full_page=True)
    page.once("dialog", lambda d: d.accept())
    row.locator("button[data-action=delete]").click()
    expect(row).to_have_count(0)


def test_without_the_chart_library_the_dashboard_still_works(page_for: Any, failed_run: str,
                                                            artifacts: Path) -> None:
    from playwright.sync_api import expect

    page = page_for("viewer", missing="**/dashboard/static/vendor/**")
    page.click(f"[data-testid=recent-runs] a[href='#/runs/{failed_run}']")
    expect(page.locator("[data-testid=verdict]")).to_have_text("failed")
    latency = page.locator("[data-testid=latency-chart]")
    expect(latency.locator(".nochart")).to_contain_text("charts are off")
    expect(latency).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
    expect(latency.locator("canvas")).to_have_count(0)
    expect(page.locator("[data-testid=criteria]")).to_contain_text(IMPOSSIBLE)
    page.screenshot(path=artifacts / "13-without-charts.png", full_page=True)
