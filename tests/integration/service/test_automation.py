"""Scheduled suites through the real service: fire, run, compare with the baseline, alert."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from service_support import API, finish, run_body, submit

from conftest import run_service
from intperf.demo import DemoServer

pytestmark = pytest.mark.integration


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    arrived: ClassVar[threading.Event] = threading.Event()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).received.append(json.loads(body))
        type(self).arrived.set()
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": [], "arrived": threading.Event()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    finally:
        server.shutdown()
        server.server_close()


def test_scheduled_run_is_compared_with_the_baseline_and_a_regression_alerts(
    tmp_path: Path, demo_shop: DemoServer, webhook: tuple[str, type[_Receiver]]
) -> None:
    url, receiver = webhook
    storage = f"sqlite:///{tmp_path / 'intperf.db'}"
    env = {"INTPERF_INTPERF__WEBHOOKS": json.dumps([url]),
           "INTPERF_INTPERF__ALERTING__GROUP_WAIT": "0s"}
    with run_service(storage, tmp_path, "sqlite", extra_env=env) as svc, \
            svc.client("admin") as admin:
        baseline = submit(admin, run_body(demo_shop.url, users=5, duration="6s"))
        assert finish(admin, baseline)["status"] in ("passed", "failed")
        assert admin.post(f"{API}/runs/{baseline}/baseline").status_code == 200
        admin.post(f"{demo_shop.url}/__demo/config", json={"latency_ms": 40})
        try:
            r = admin.post("/api/v1/schedules", json={
                "name": "every-second", "cron": "* * * * * ?",  # Quartz, 6 fields
                "tests": [{"name": "shop", "scenario": "social-commerce", "users": 5,
                           "duration": 6, "base-url": demo_shop.url}]})
            assert r.status_code == 201, r.text
            schedule_id = r.json()["id"]
            deadline = time.monotonic() + 30
            scheduled: list[dict[str, Any]] = []
            while not scheduled:
                assert time.monotonic() < deadline, "the schedule never fired"
                runs = admin.get(f"{API}/runs", params={"limit": 20}).json()["items"]
                scheduled = [r for r in runs if r["requestedBy"] == "scheduler"]
                if not scheduled:
                    receiver.arrived.wait(0.2)  # bounded poll
            assert admin.delete(f"/api/v1/schedules/{schedule_id}").status_code == 204
            run_id = scheduled[-1]["runId"]
            assert finish(admin, run_id, timeout=60)["name"] == "every-second/shop"
            # the alert manager's group notification carrying run.regression (the baseline
            # may have raised run.failed before it)
            deadline = time.monotonic() + 30
            alert: dict[str, Any] | None = None
            while alert is None:
                assert time.monotonic() < deadline, "no regression alert reached the webhook"
                alert = next((a for body in list(receiver.received)
                              for a in body.get("alerts", [])
                              if a["rule"] == "run.regression" and a["state"] == "firing"),
                             None)
                if alert is None:
                    receiver.arrived.wait(1.0)  # set by the receiver on every request
                    receiver.arrived.clear()
        finally:
            admin.post(f"{demo_shop.url}/__demo/config", json={"latency_ms": 0})
    assert alert["labels"] == {"scenario": "social-commerce"}
    assert alert["details"]["baseline"] == baseline
    assert alert["runId"] in {r["runId"] for r in scheduled} | {run_id}
    assert any(r.startswith("global:p") for r in alert["details"]["regressions"])
