"""The overview's "Live services" panel in Debian's Chromium, against the real service with
one-second analytics windows: API_RESPONSE events posted to ``POST /api/v1/events`` for a fast
service and one that fails now and then show up in the panel (requests, errors, error rate,
p99) once their windows close, and a later batch changes the figures without a reload.
The screenshot goes to ``test-artifacts/e2e/14-live-services.png``."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import _run_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Windows of one second that close a second after traffic stops (docs/stream.md).
STREAM_ENV = {
    "INTPERF_INTPERF__STREAM__WINDOW": "1s", "INTPERF_INTPERF__STREAM__GRACE": "0s",
    "INTPERF_INTPERF__STREAM__IDLE_TIMEOUT": "1s",
    "INTPERF_INTPERF__STREAM__COMMIT_INTERVAL": "0.1s",
}
#: The panel polls every 10 s; a window closes about 2 s after its second ends.
PANEL_TIMEOUT_MS = 20_000
#: Columns of the panel's table (overview.js, serviceTable).
REQUESTS, ERRORS, ERROR_RATE, P99 = 1, 2, 3, 6


@pytest.fixture(scope="module")
def live_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The service on SQLite with short analytics windows and one key per role."""
    base = tmp_path_factory.mktemp("live-services")
    with _run_service()(f"sqlite:///{base / 'intperf.db'}", base, "sqlite",
                        extra_env=STREAM_ENV, **{"max-body-bytes": 1_000_000}) as service:
        yield service


def _api_events(service: str, times_ms: list[float], statuses: list[int],
                second_ms: int) -> list[dict[str, Any]]:
    """One event per response time, all within the second starting at ``second_ms``."""
    return [{"kind": "API_RESPONSE", "service": service, "endpoint": "/api/x", "method": "GET",
             "status": status, "response_time_ms": ms, "event_time": second_ms + 10 * i}
            for i, (ms, status) in enumerate(zip(times_ms, statuses, strict=True))]


def _post(service: Any, events: list[dict[str, Any]]) -> None:
    with service.client("operator") as c:
        r = c.post("/api/v1/events", json=events)
        assert r.status_code == 202, r.text


def _this_second() -> int:
    """The current second in epoch ms (today's live run; windows are one second)."""
    return int(time.time()) * 1000


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+) ms", text.strip())
    assert m, text
    return float(m.group(1))


def test_live_services_panel_shows_and_follows_the_analytics(
        browser: Any, live_service: Any, artifacts: Path) -> None:
    from playwright.sync_api import expect

    # Batch 1: search is fast and never fails; payments is slower and 4 of 20 calls are 5xx.
    second = _this_second()
    search = [5.0 + i * 0.5 for i in range(20)]  # 5 .. 14.5 ms
    payments = [100.0 + i * 10 for i in range(20)]  # 100 .. 290 ms
    _post(live_service, _api_events("search", search, [200] * 20, second)
          + _api_events("payments", payments, [503 if i % 5 == 0 else 200 for i in range(20)],
                        second))

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    urls: list[str] = []
    errors: list[str] = []
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("request", lambda r: urls.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{live_service.base_url}/dashboard")
        page.fill("#api-key", live_service.keys["viewer"])
        page.click("#sign-in-form button[type=submit]")
        expect(page.locator("#who-role")).to_have_text("viewer")
        expect(page.locator("#view[data-view=overview] h1")).to_have_text("Overview")
        page.evaluate("window.__notReloaded = true")

        panel = page.locator("[data-testid=live-services]")
        rows = panel.locator("tbody tr")
        pay = panel.locator("tr[data-service=payments] td")
        srch = panel.locator("tr[data-service=search] td")
        expect(rows).to_have_count(2, timeout=PANEL_TIMEOUT_MS)
        expect(rows.nth(0)).to_have_attribute("data-service", "payments")  # by name
        expect(pay.nth(0)).to_have_text("payments")
        expect(pay.nth(REQUESTS)).to_have_text("20")
        expect(pay.nth(ERRORS)).to_have_text("4")
        expect(pay.nth(ERROR_RATE)).to_have_text("20.0%")
        expect(srch.nth(0)).to_have_text("search")
        expect(srch.nth(REQUESTS)).to_have_text("20")
        expect(srch.nth(ERRORS)).to_have_text("0")
        expect(srch.nth(ERROR_RATE)).to_have_text("0.0%")
        # p99 within the histogram's 1 % of the slowest call (nearest rank of 20 is the 20th).
        pay_p99 = _ms(pay.nth(P99).inner_text())
        srch_p99 = _ms(srch.nth(P99).inner_text())
        assert pay_p99 == pytest.approx(290, rel=0.02), pay_p99
        assert srch_p99 == pytest.approx(14.5, rel=0.02), srch_p99
        for cells in (pay, srch):
            expect(cells.nth(7)).to_contain_text(time.strftime(
                "%Y-%m-%d %H:%M:%S", time.gmtime(second / 1000)))
            expect(cells.nth(8).locator("a")).to_have_attribute("href", re.compile(r"^#/runs/"))
        chart = panel.locator("xpath=following-sibling::div[1]")
        expect(chart).to_have_attribute("data-points", "1")
        expect(chart).to_contain_text("p99 of the latest window, per service")

        # Batch 2, a later second: payments gets busier and half its calls fail, all slow.
        later = max(_this_second(), second + 1000)
        _post(live_service, _api_events(
            "payments", [900.0] * 40, [500 if i % 2 else 200 for i in range(40)], later))
        expect(pay.nth(REQUESTS)).to_have_text("40", timeout=PANEL_TIMEOUT_MS)
        expect(pay.nth(ERRORS)).to_have_text("20")
        expect(pay.nth(ERROR_RATE)).to_have_text("50.0%")
        assert _ms(pay.nth(P99).inner_text()) == pytest.approx(900, rel=0.02)
        expect(srch.nth(ERROR_RATE)).to_have_text("0.0%")  # search's latest window is unchanged
        expect(srch.nth(REQUESTS)).to_have_text("20")
        expect(chart).to_have_attribute("data-points", "2")  # a second point in time
        # The services' live runs (testType LIVE, always "running") are not load-test cards.
        running = page.locator("[data-testid=running]")
        expect(running).to_contain_text("No test is running.")
        expect(running).not_to_contain_text("live:")
        assert page.evaluate("window.__notReloaded") is True
        page.screenshot(path=artifacts / "14-live-services.png", full_page=True)
    finally:
        context.close()
    foreign = [u for u in urls if not u.startswith((live_service.base_url, "blob:", "data:"))]
    assert not foreign, foreign
    assert not errors, errors
