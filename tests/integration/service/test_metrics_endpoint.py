"""``GET /metrics`` on the real service: events posted to the API and a run against the demo
shop show up as valid Prometheus metrics (prometheus_client's parser and ``promtool check
metrics``), and every metric the Grafana dashboard and the rules read is exposed."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from service_support import API, LiveService, MakeService, finish, run_body, submit

from intperf.config import load_settings
from intperf.demo import DemoServer
from intperf.monitor.grafana import dashboard
from intperf.monitor.prometheus_rules import prometheus_rules

pytestmark = pytest.mark.integration

DEADLINE_S = 30.0
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
METRIC = re.compile(r"\b(intperf_[a-z0-9_]+)\b")
LIVE = "intperf_live_response_time_seconds"
STREAM_ENV = {
    "INTPERF_INTPERF__STREAM__WINDOW": "1s", "INTPERF_INTPERF__STREAM__CACHE_WINDOW": "1s",
    "INTPERF_INTPERF__STREAM__STORM_PANE": "1s", "INTPERF_INTPERF__STREAM__GRACE": "0s",
    "INTPERF_INTPERF__STREAM__IDLE_TIMEOUT": "1h",
    "INTPERF_INTPERF__STREAM__COMMIT_INTERVAL": "0.1s",
    # A webhook sink gives the service a circuit breaker to report (nothing listens there).
    "INTPERF_INTPERF__WEBHOOKS": '["http://127.0.0.1:9/hook"]',
}


@pytest.fixture(scope="module")
def monitored(make_service: MakeService) -> LiveService:
    return make_service(extra_env=STREAM_ENV, **{"max-body-bytes": 1_000_000})


def _scrape(service: LiveService) -> str:
    r = httpx.get(f"{service.base_url}/metrics", timeout=30,
                  headers={"Authorization": f"Bearer {service.keys['viewer']}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return r.text


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def _value(text: str, metric: str, /, **labels: str) -> float | None:
    return _samples(text).get((metric, tuple(sorted(labels.items()))))


def _wait_for(service: LiveService, ready: Callable[[str], bool]) -> str:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        text = _scrape(service)
        if ready(text):
            return text
        assert time.monotonic() < deadline, text
        time.sleep(0.05)  # the polling interval of the scrape, not a synchronisation


def _events(t0: int) -> list[dict[str, Any]]:
    api = [{"kind": "API_RESPONSE", "service": "shop", "endpoint": "/api/orders/{id}",
            "method": "GET", "status": 500 if i % 10 == 0 else 200,
            "response_time_ms": 20.0 + i * 10, "event_time": t0 + i * 10} for i in range(50)]
    cache = [{"kind": "CACHE_ACCESS", "service": "catalog", "region": "products",
              "hit": i % 4 != 0, "latency_ms": 0.5, "event_time": t0 + i} for i in range(40)]
    business = (
        [{"kind": "BUSINESS", "service": "checkout", "name": "order_created",
          "event_time": t0 + i} for i in range(6)]
        + [{"kind": "BUSINESS", "service": "checkout", "name": "payment_succeeded",
            "event_time": t0 + 10 + i} for i in range(3)])
    # Later events of the same keys close the first windows (grace 0).
    closers = [dict(e, event_time=t0 + 2_000) for e in (api[1], cache[0], business[0])]
    return api + cache + business + closers


def _post_events(service: LiveService, t0: int) -> None:
    with service.client("operator") as client:
        r = client.post("/api/v1/events", json=_events(t0))
        assert r.status_code == 202, r.text


def _t0() -> int:
    now = int(time.time() * 1000) // 1000 * 1000
    day = now - now % 86_400_000
    return max(now - 5_000, day)  # today's live run, even just after midnight


def test_live_analytics_as_prometheus_metrics(monitored: LiveService) -> None:
    _scrape(monitored)  # counting starts at the first scrape (monitoring.md, "Scrape cost")
    t0 = _t0()
    _post_events(monitored, t0)
    text = _wait_for(monitored, lambda t: (_value(t, f"{LIVE}_count", service="shop") or 0) >= 50
                     and _value(t, "intperf_cache_hit_ratio", region="products") is not None
                     and _value(t, "intperf_business_orders_created", service="checkout")
                     is not None)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    hist = families[LIVE]
    assert hist.type == "histogram"
    buckets = [(s.labels["le"], s.value) for s in hist.samples
               if s.name == f"{LIVE}_bucket" and s.labels["service"] == "shop"]
    values = [v for _, v in buckets]
    assert values == sorted(values) and buckets[-1][0] == "+Inf"
    assert buckets[-1][1] == _value(text, f"{LIVE}_count", service="shop")
    assert (_value(text, f"{LIVE}_sum", service="shop") or 0) > 0
    le = dict(buckets)
    assert le["0.5"] in (48, 49)  # 20..510 ms by 10: 500 ms is within 1% of the bound
    assert _value(text, "intperf_live_errors_total", service="shop") == 5
    assert _value(text, "intperf_cache_hit_ratio", region="products") == 0.75
    # The service's own requests, by route template.
    assert (_value(text, "intperf_http_requests_total", method="POST",
                   route="/api/v1/events", status="202") or 0) >= 1
    # The circuit breaker of the webhook's notification channel (one per channel).
    closed = [s for s in families["intperf_circuit_breaker_state"].samples
              if s.labels["state"] == "closed"]
    assert closed and all(s.value == 1 for s in closed), closed
    # Counters never go down from one scrape to the next; another batch of windows adds up.
    _post_events(monitored, t0 + 3_000)
    later = _wait_for(monitored, lambda t: (_value(t, f"{LIVE}_count", service="shop") or 0)
                      >= 100)
    before, after = _samples(text), _samples(later)
    for key, v in before.items():
        if key[0].endswith(("_total", "_bucket", "_count", "_sum")) and key in after:
            assert after[key] >= v, key
    assert _value(later, "intperf_live_errors_total", service="shop") == 10


def test_a_running_load_test_is_visible(monitored: LiveService, demo_shop: DemoServer) -> None:
    with monitored.client("operator") as client:
        run_id = submit(client, run_body(demo_shop.url, duration="4s", users=3))
        text = _wait_for(monitored, lambda t: _value(
            t, "intperf_runs_running") == 1 and f'run_id="{run_id}"' in t
            and "intperf_run_active_users{" in t)
        assert (_value(text, "intperf_run_requests_total", run_id=run_id,
                       scenario="social-commerce") or 0) >= 0
        detail = finish(client, run_id)
    text = _scrape(monitored)
    status = detail["status"]
    assert (_value(text, "intperf_runs", status=status, test_type="NATIVE") or 0) >= 1
    assert f'run_id="{run_id}"' not in text
    assert _value(text, "intperf_runs_running") == 0
    assert _value(text, "intperf_http_requests_total", method="POST",
                  route=f"{API}/load-test", status="202") == 1


def _exposed(text: str) -> set[str]:
    """Sample names /metrics declares (by each family's TYPE), with or without samples."""
    names: set[str] = set()
    for f in text_string_to_metric_families(text):
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
                    "summary": ("_sum", "_count", "")}.get(f.type, ("",))
        names.update(f.name + s for s in suffixes)
    return names


def test_dashboard_and_rules_read_only_exposed_metrics(monitored: LiveService) -> None:
    text = _scrape(monitored)
    exposed = _exposed(text)
    firing = {s.labels["severity"]: s.value for f in text_string_to_metric_families(text)
              if f.name == "intperf_alerts_firing" for s in f.samples}
    assert set(firing) >= {"info", "warning", "critical"}, firing
    board = dashboard()
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in board["templating"]["list"] if "definition" in v]
    rules = prometheus_rules(load_settings(environ={}))
    exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    used = {m for e in exprs for m in METRIC.findall(e)}
    assert used - exposed == set()
    # The latency SLO reads a bucket that exists.
    assert re.search(r'intperf_live_response_time_seconds_bucket\{le="0.5",service=', text) \
        or f"{LIVE}_bucket" in exposed


@pytest.mark.skipif(not Path(PROMTOOL).exists(),
                    reason="promtool missing (Debian package prometheus)")
def test_promtool_accepts_the_exposition(monitored: LiveService) -> None:
    text = _scrape(monitored)
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_metrics_need_a_key(monitored: LiveService) -> None:
    assert httpx.get(f"{monitored.base_url}/metrics").status_code == 401
