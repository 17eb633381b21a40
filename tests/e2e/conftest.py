"""The dashboard's tests: the real service (uvicorn, SQLite) and the demo shop on loopback, and
Debian's Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from intperf.demo import DemoConfig, DemoServer

CHROMIUM = Path("/usr/bin/chromium")
#: docs/TOOLING: Debian's chromium, headless, nothing phoning home.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"


@cache
def _run_service() -> Any:
    """``run_service`` of the service tests (tests/integration/live_service.py)."""
    path = Path(__file__).resolve().parents[1] / "integration" / "live_service.py"
    spec = importlib.util.spec_from_file_location("intperf_e2e_live_service", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run_service()


@pytest.fixture(scope="module")
def demo_shop() -> Iterator[DemoServer]:
    """The demo shop on a free loopback port."""
    with DemoServer(DemoConfig(seed=42, decline_rate=0.0)) as shop:
        yield shop


@pytest.fixture(scope="module")
def dashboard_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The service on SQLite with one key per role (``.keys``) and a scenario directory."""
    base = tmp_path_factory.mktemp("dashboard")
    (base / "catalogue.yaml").write_text(
        "name: catalogue\ndescription: browse the products\nbase_url: http://127.0.0.1:9\n"
        "load: {users: 2, duration: 5s}\n"
        "journeys:\n  - name: browse\n    steps:\n"
        "      - request: {name: list products, path: /api/products}\n")
    (base / "broken.yaml").write_text("name: broken\njourneys: []\n")
    with _run_service()(f"sqlite:///{base / 'intperf.db'}", base, "sqlite") as service:
        yield service


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright; skipped when it is not installed."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium "
                    "(scripts/system-deps installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (kept after the run; gitignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
