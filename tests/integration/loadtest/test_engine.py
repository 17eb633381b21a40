"""The engine against real servers on loopback: what it sends, what it measures, how it fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from intperf.demo import DemoServer
from intperf.loadtest.results import ErrorClass
from intperf.loadtest.runner import Progress

from .faults import backlog_full_server, fault_server, free_port
from .support import run, run_engine, run_engine_with, scenario, shop_call, total

pytestmark = pytest.mark.integration


@pytest.fixture
def shop(demo_shop: DemoServer) -> DemoServer:
    shop_call(demo_shop, "DELETE", "/__demo/requests")
    shop_call(
        demo_shop,
        "POST",
        "/__demo/config",
        {"latency_ms": 0, "latency_jitter_ms": 0, "error_rate": 0},
    )
    return demo_shop


def received(shop: DemoServer, path: str | None = None) -> list[dict[str, object]]:
    q = f"?path={path}" if path else ""
    items: list[dict[str, object]] = shop_call(shop, "GET", f"/__demo/requests{q}")["items"]
    return items


# -- correlation: extraction, cookies, variables, checks ------------------------------------
def test_login_cookie_extraction_and_cart_flow(shop: DemoServer) -> None:
    sc = scenario(
        shop.url,
        [
            {
                "request": {
                    "name": "login",
                    "method": "POST",
                    "path": "/api/auth/login",
                    "json": {"username": "user0001", "password": "secret"},
                    "extract": [{"var": "token", "jsonpath": "$.token"}],
                    "checks": [{"status": [200]}],
                }
            },
            {
                "request": {
                    "name": "search",
                    "path": "/api/products",
                    "query": {"size": 5},
                    "extract": [{"var": "pid", "jsonpath": "$.items[2].id"}],
                }
            },
            {
                "request": {
                    "name": "add",
                    "method": "POST",
                    "path": "/api/cart/items",
                    "json": {"productId": "${pid}", "quantity": 2},
                    "headers": {"X-Token": "${token}"},
                    "checks": [{"status": [201]}, {"jsonpath": "$.count", "equals": 2}],
                }
            },
            {
                "request": {
                    "name": "order",
                    "method": "POST",
                    "path": "/api/orders",
                    "extract": [
                        {"var": "loc", "header": "Location"},
                        {"var": "oid", "jsonpath": "$.orderId"},
                    ],
                    "checks": [{"status": [201]}],
                }
            },
            {
                "request": {
                    "name": "order detail",
                    "path": "/api/orders/${oid}",
                    "headers": {"X-Loc": "${loc}"},
                    "checks": [{"status": [200]}, {"body_contains": "PENDING"}],
                }
            },
        ],
    )
    outcome = run(sc)
    series = outcome.series
    assert total(series).failed == 0, total(series).messages
    assert total(series).ok == 5
    products = shop_call(shop, "GET", "/api/products?size=5")["items"]
    add = received(shop, "/api/cart/items")[0]
    body = json.loads(str(add["body"]))
    assert body == {"productId": str(products[2]["id"]), "quantity": 2}
    headers = add["headers"]
    assert isinstance(headers, dict)
    assert "session=" in headers["cookie"]
    login = received(shop, "/api/auth/login")[0]
    assert "cookie" not in login["headers"]  # type: ignore[operator]
    assert headers["x-token"] and headers["user-agent"].startswith("intperf/")
    detail = [r for r in received(shop) if str(r["path"]).startswith("/api/orders/")]
    assert len(detail) == 1
    assert detail[0]["headers"]["x-loc"] == detail[0]["path"]  # type: ignore[index]


def test_failed_check_counts_as_failure_with_its_message(shop: DemoServer) -> None:
    sc = scenario(
        shop.url,
        [
            {
                "request": {
                    "name": "h",
                    "path": "/health",
                    "checks": [{"body_contains": "no-such-text"}],
                }
            },
        ],
        load={"users": 1, "iterations": 3},
    )
    w = total(run_engine(sc))
    assert w.errors == {ErrorClass.CHECK_FAILED.value: 3}
    assert w.messages == {"body does not contain 'no-such-text'": 3}
    assert w.latency.count == 3  # a response arrived: its time is measured


def test_builtins_feeders_and_queue_exhaustion(shop: DemoServer, tmp_path: Path) -> None:
    (tmp_path / "skus.csv").write_text("sku\nA1\nB2\nC3\n")
    sc = scenario(
        shop.url,
        [
            {"feed": "skus"},
            {
                "request": {
                    "name": "echo",
                    "path": "/__demo/echo",
                    "query": {"sku": "${sku}", "n": "${randomInt(5,5)}"},
                    "headers": {"X-Id": "${uuid}"},
                }
            },
        ],
        load={"users": 1, "iterations": 10},
        base_dir=tmp_path,
        feeders={"skus": {"file": "skus.csv", "strategy": "queue"}},
    )
    w = total(run_engine(sc))
    assert w.ok == 3  # the queue ran dry after three records: the user stopped
    got = received(shop, "/__demo/echo")
    assert [r["query_string"] for r in got] == [f"sku={s}&n=5" for s in ("A1", "B2", "C3")]
    ids = {r["headers"]["x-id"] for r in got}  # type: ignore[index]
    assert len(ids) == 3


def test_gzip_chunked_and_redirects(shop: DemoServer) -> None:
    sc = scenario(
        shop.url,
        [
            {
                "request": {
                    "name": "gzip",
                    "path": "/__demo/gzip",
                    "headers": {"Accept-Encoding": "gzip"},
                    "checks": [{"jsonpath": "$.compressed", "equals": True}],
                }
            },
            {
                "request": {
                    "name": "chunked",
                    "path": "/__demo/chunked",
                    "query": {"parts": 4},
                    "checks": [{"body_contains": '"part":4,"of":4'}],
                }
            },
            {
                "request": {
                    "name": "redirect",
                    "path": "/__demo/redirect",
                    "follow_redirects": True,
                    "query": {"to": "/__demo/echo?x=1"},
                    "checks": [{"status": [200]}, {"jsonpath": "$.path", "equals": "/__demo/echo"}],
                }
            },
            {
                "request": {
                    "name": "no-follow",
                    "path": "/__demo/redirect",
                    "query": {"to": "/health"},
                    "checks": [{"status": [302]}],
                }
            },
        ],
    )
    w = run_engine(sc)
    for name in ("gzip", "chunked", "redirect", "no-follow"):
        assert total(w, name).ok == 1, (name, total(w, name).messages)


# -- error classes --------------------------------------------------------------------------
def _one(url: str, path: str = "/", **extra: object) -> ErrorClass:
    sc = scenario(url, [{"request": {"name": "r", "path": path}}], **extra)  # type: ignore[arg-type]
    w = total(run_engine(sc))
    assert w.requests == 1
    assert len(w.errors) == 1, (w.errors, w.messages)
    return ErrorClass(next(iter(w.errors)))


def test_connection_refused() -> None:
    assert _one(f"http://127.0.0.1:{free_port()}") is ErrorClass.CONNECTION_REFUSED


def test_connect_timeout() -> None:
    with backlog_full_server() as port:
        cls = _one(f"http://127.0.0.1:{port}", timeouts={"connect": "300ms"})
    assert cls is ErrorClass.CONNECT_TIMEOUT


def test_read_timeout() -> None:
    with fault_server("silent") as port:
        cls = _one(f"http://127.0.0.1:{port}", timeouts={"read": "300ms"})
    assert cls is ErrorClass.READ_TIMEOUT


def test_reset_and_premature_close() -> None:
    with fault_server("reset") as port:
        assert _one(f"http://127.0.0.1:{port}") is ErrorClass.RESET
    with fault_server("close") as port:
        assert _one(f"http://127.0.0.1:{port}") is ErrorClass.RESET


def test_malformed_response() -> None:
    with fault_server("garbage") as port:
        assert _one(f"http://127.0.0.1:{port}") is ErrorClass.OTHER


def test_http_status_classes(shop: DemoServer) -> None:
    assert _one(shop.url, "/__demo/status/503") is ErrorClass.HTTP_5XX
    assert _one(shop.url, "/__demo/status/404") is ErrorClass.HTTP_4XX


def test_tls_error_against_plain_http(shop: DemoServer) -> None:
    assert _one(shop.url.replace("http://", "https://")) is ErrorClass.TLS


def test_slow_response_fails_max_duration(shop: DemoServer) -> None:
    sc = scenario(
        shop.url,
        [
            {
                "request": {
                    "name": "slow",
                    "path": "/__demo/slow",
                    "query": {"ms": 150},
                    "checks": [{"max_duration": "100ms"}],
                }
            }
        ],
    )
    w = total(run_engine(sc))
    assert w.errors == {ErrorClass.CHECK_FAILED.value: 1}
    assert w.latency.min >= 150


# -- workload models ------------------------------------------------------------------------
def test_open_model_rate_is_exact(shop: DemoServer) -> None:
    sc = scenario(
        shop.url,
        [{"request": {"name": "h", "path": "/health"}}],
        load={"constant_arrival_rate": {"rate": 200, "duration": "3s"}},
    )
    outcome = run(sc)
    w = total(outcome.series)
    assert w.requests == 600
    assert abs(w.requests / outcome.duration_s - 200) / 200 < 0.01
    assert sum(s.dropped for s in outcome.series.seconds.values()) == 0


def test_arrivals_over_the_user_cap_are_dropped_and_counted(shop: DemoServer) -> None:
    sc = scenario(
        shop.url,
        [{"request": {"name": "slow", "path": "/__demo/slow", "query": {"ms": 400}}}],
        load={"constant_arrival_rate": {"rate": 50, "duration": "1s"}, "max_users": 3},
    )
    series = run(sc).series
    dropped = sum(s.dropped for s in series.seconds.values())
    started = sum(s.started_users for s in series.seconds.values())
    assert started + dropped == 50
    assert dropped >= 40
    assert total(series).ok == started


def test_coordinated_omission_is_corrected(shop: DemoServer) -> None:
    sc = scenario(
        shop.url,
        [{"request": {"name": "h", "path": "/health"}}],
        load={"constant_arrival_rate": {"rate": 200, "duration": "4s"}, "max_connections": 4},
    )
    stalled: list[int] = []

    def on_progress(p: Progress) -> None:
        if not stalled and p.last is not None and p.last.second >= 1:
            stalled.append(p.last.second)
            shop_call(shop, "POST", "/__demo/stall", {"seconds": 0.5})

    w = total(run(sc, on_progress=on_progress).series)
    assert stalled
    assert w.failed == 0
    # 100 arrivals queue behind the 4 stalled connections: ~12% of 800 requests wait.
    assert w.latency.quantile(0.99) >= 300
    assert w.service.quantile(0.99) < 100


def test_closed_ramp_and_iterations(shop: DemoServer) -> None:
    sc = scenario(
        shop.url,
        [{"request": {"name": "h", "path": "/health"}}],
        load={"users": 4, "iterations": 5},
    )
    series, engine = run_engine_with(sc)
    assert total(series).ok == 20
    assert sum(s.started_users for s in series.seconds.values()) == 4
    assert engine.connect_attempts == 4  # one keep-alive connection per user, reused


def test_two_processes_merge_exactly(shop: DemoServer) -> None:
    sc = scenario(
        shop.url,
        [{"request": {"name": "echo", "path": "/__demo/echo"}}],
        load={"users": 4, "shared_iterations": 101},
    )
    outcome = run(sc, processes=2)
    assert total(outcome.series).ok == 101
    assert len(received(shop, "/__demo/echo")) == 101


def test_abort_criterion_stops_the_run_early(shop: DemoServer) -> None:
    shop_call(shop, "POST", "/__demo/config", {"error_rate": 1.0})
    try:
        sc = scenario(
            shop.url,
            [{"request": {"name": "p", "path": "/api/products"}}],
            load={"users": 2, "duration": "20s"},
        )
        outcome = run(sc, ["error_rate < 1% abort"])
    finally:
        shop_call(shop, "POST", "/__demo/config", {"error_rate": 0.0})
    assert outcome.status == "aborted"
    assert outcome.abort_reason and "error_rate" in outcome.abort_reason
    assert outcome.duration_s < 5
    assert not outcome.criteria[0].passed


def test_a_dead_worker_interrupts_the_run_and_keeps_the_data(shop: DemoServer) -> None:
    import multiprocessing
    import os
    import signal

    sc = scenario(
        shop.url,
        [{"request": {"name": "h", "path": "/health"}}],
        load={"users": 2, "duration": "20s"},
    )
    killed: list[int] = []

    def on_progress(p: Progress) -> None:
        if not killed and p.last is not None and p.last.second >= 1:
            victim = multiprocessing.active_children()[0]
            assert victim.pid is not None
            killed.append(victim.pid)
            os.kill(victim.pid, signal.SIGKILL)

    outcome = run(sc, processes=2, on_progress=on_progress)
    assert killed
    assert outcome.status == "interrupted"
    assert outcome.abort_reason and "died" in outcome.abort_reason
    assert total(outcome.series).ok > 0  # the seconds merged before the crash are kept
    assert outcome.duration_s < 15


def test_read_timeout_counts_from_the_last_bytes_not_the_send(shop: DemoServer) -> None:
    # 5 parts 150 ms apart: 600 ms in all, never 300 ms without bytes.
    sc = scenario(
        shop.url,
        [
            {
                "request": {
                    "name": "drip",
                    "path": "/__demo/chunked",
                    "query": {"parts": 5, "delay_ms": 150},
                }
            }
        ],
        timeouts={"read": "400ms"},
    )
    w = total(run_engine(sc))
    assert w.ok == 1, w.messages
    assert w.latency.min >= 600
