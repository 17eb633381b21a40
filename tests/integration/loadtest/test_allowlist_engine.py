"""The engine under a target policy, against servers on loopback only.

Refused targets are loopback addresses off the list (127.0.0.2) or names answered by a stub
resolver; a listener on 127.0.0.2 proves that nothing was sent there.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import uvloop

from intperf.demo import DemoServer
from intperf.errors import TargetNotAllowedError
from intperf.loadtest.allowlist import TargetPolicy
from intperf.loadtest.engine import Engine, WorkerShare
from intperf.loadtest.plan import compile_plan
from intperf.loadtest.results import ErrorClass
from intperf.loadtest.scenario import Scenario

from .support import run, run_engine_with, scenario, shop_call, stub_resolver, total

pytestmark = pytest.mark.integration

LOCAL_ONLY = ["127.0.0.1/32"]


class _Handler(BaseHTTPRequestHandler):
    """``/go?to=URL`` answers 302 to URL; anything else 200 "ok"."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/go":
            self.send_response(302)
            self.send_header("Location", parse_qs(parts.query)["to"][0])
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def http_server(host: str) -> Iterator[str]:
    """A tiny HTTP server on loopback ``host`` (free port); yields its base URL."""
    server = ThreadingHTTPServer((host, 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def forbidden_listener() -> Iterator[tuple[socket.socket, int]]:
    """A listener on 127.0.0.2 (not allowed): any connection attempt would be queued here."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.2", 0))
        sock.listen(16)
        sock.setblocking(False)
        yield sock, int(sock.getsockname()[1])


def assert_nothing_accepted(sock: socket.socket) -> None:
    # A connect completes its handshake in the kernel backlog, so it is visible at once.
    with pytest.raises(BlockingIOError):
        sock.accept()


def engine_for(sc: Scenario, policy: TargetPolicy) -> Engine:
    return Engine(compile_plan(sc, seed=1), share=WorkerShare(0, 1, 1), policy=policy)


def run_refused(engine: Engine) -> str:
    async def main() -> None:
        await engine.run()

    with pytest.raises(TargetNotAllowedError) as info:
        uvloop.run(main())
    return str(info.value)


# -- (a) a refused initial target: nothing starts ------------------------------------------
def test_refused_target_stops_the_engine_before_any_connection(
    forbidden_listener: tuple[socket.socket, int],
) -> None:
    sock, port = forbidden_listener
    sc = scenario(f"http://127.0.0.2:{port}", [{"request": {"path": "/"}}])
    engine = engine_for(sc, TargetPolicy.parse(LOCAL_ONLY))
    assert run_refused(engine) == "127.0.0.2 is not in the allowed targets (127.0.0.1/32)"
    assert engine.connect_attempts == 0
    assert not engine.pools
    assert_nothing_accepted(sock)


def test_refused_target_stops_the_load_test_before_preflight(
    forbidden_listener: tuple[socket.socket, int],
) -> None:
    sock, port = forbidden_listener
    sc = scenario(f"http://127.0.0.2:{port}", [{"request": {"path": "/"}}])
    with pytest.raises(TargetNotAllowedError, match=r"127\.0\.0\.2 is not in the allowed"):
        run(sc, policy=TargetPolicy.parse(LOCAL_ONLY))
    assert_nothing_accepted(sock)


# -- (b) a redirect to a refused target fails that request ---------------------------------
def test_redirect_to_a_refused_target_fails_the_request_and_sends_nothing_there(
    forbidden_listener: tuple[socket.socket, int],
) -> None:
    sock, port = forbidden_listener
    with http_server("127.0.0.1") as base:
        sc = scenario(
            base,
            [
                {"request": {"name": "hop", "path": "/go",
                             "query": {"to": f"http://127.0.0.2:{port}/x"},
                             "follow_redirects": True}},
                {"request": {"name": "after", "path": "/"}},
            ],
        )
        series, engine = run_engine_with(sc, policy=TargetPolicy.parse(LOCAL_ONLY))
    hop = total(series, "hop")
    assert hop.ok == 0
    assert hop.errors == {ErrorClass.OTHER.value: 1}
    assert hop.messages == {
        "redirect to a target that is not allowed: "
        "127.0.0.2 is not in the allowed targets (127.0.0.1/32)": 1
    }
    assert total(series, "after").requests == 0  # the iteration ended with the failure
    assert engine.connect_attempts == 1
    assert_nothing_accepted(sock)


def test_redirect_to_an_allowed_target_is_followed() -> None:
    with http_server("127.0.0.1") as base, http_server("127.0.0.2") as other:
        sc = scenario(
            base,
            [{"request": {"name": "hop", "path": "/go", "query": {"to": f"{other}/x"},
                          "follow_redirects": True, "checks": [{"status": [200]}]}}],
        )
        series, engine = run_engine_with(sc, policy=TargetPolicy.parse(["127.0.0.0/8"]))
    assert total(series, "hop").ok == 1
    assert engine.connect_attempts == 2


def test_redirect_outside_an_allowed_url_prefix_is_refused() -> None:
    with http_server("127.0.0.1") as base:
        sc = scenario(
            base,
            [{"request": {"name": "hop", "path": "/go", "query": {"to": "/admin"},
                          "follow_redirects": True}}],
        )
        series, _ = run_engine_with(sc, policy=TargetPolicy.parse([f"{base}/go"]))
    assert total(series, "hop").messages == {
        f"redirect to a target that is not allowed: {base}/admin is not under an allowed "
        f"URL prefix ({base}/go)": 1
    }


# -- (c) a stub-resolved name allowed by a CIDR: pinned, Host header kept -------------------
@pytest.fixture
def shop(demo_shop: DemoServer) -> DemoServer:
    shop_call(demo_shop, "DELETE", "/__demo/requests")
    return demo_shop


def test_name_resolved_by_the_policy_is_pinned_and_keeps_its_host_header(
    shop: DemoServer,
) -> None:
    port = shop.port
    sc = scenario(
        f"http://shop.test:{port}",
        [{"request": {"name": "list", "path": "/api/products", "query": {"size": 1},
                      "checks": [{"status": [200]}]}}],
    )
    series, engine = run_engine_with(
        sc, policy=TargetPolicy.parse(LOCAL_ONLY, resolver=stub_resolver)
    )
    assert total(series, "list").ok == 1
    assert engine.connect_attempts == 1
    items = shop_call(shop, "GET", "/__demo/requests?path=/api/products")["items"]
    assert [i["headers"]["host"] for i in items] == [f"shop.test:{port}"]


@pytest.mark.parametrize("processes", [1, 2])
def test_load_test_with_a_stub_resolved_name_preflights_and_runs_pinned(
    shop: DemoServer, processes: int
) -> None:
    sc = scenario(
        f"http://shop.test:{shop.port}",
        [{"request": {"name": "list", "path": "/api/products", "query": {"size": 1}}}],
        load={"users": 2, "iterations": 1},
    )
    outcome = run(
        sc, processes=processes, policy=TargetPolicy.parse(LOCAL_ONLY, resolver=stub_resolver)
    )
    assert outcome.status == "completed"
    assert total(outcome.series, "list").ok == 2


# -- (d) a name resolving outside the allowed targets: refused before connecting -----------
def test_name_resolving_outside_the_allowed_targets_is_refused_before_connecting() -> None:
    sc = scenario("http://evil.test:8080", [{"request": {"path": "/"}}])
    policy = TargetPolicy.parse(LOCAL_ONLY, resolver=stub_resolver)
    engine = engine_for(sc, policy)
    assert run_refused(engine) == (
        "evil.test resolves to 10.0.0.1, which is not in the allowed targets (127.0.0.1/32)"
    )
    assert engine.connect_attempts == 0
    with pytest.raises(TargetNotAllowedError, match=r"evil\.test resolves to 10\.0\.0\.1"):
        run(sc, policy=policy)


def test_name_resolving_to_a_mix_is_refused_before_connecting() -> None:
    sc = scenario("http://mixed.test:8080", [{"request": {"path": "/"}}])
    engine = engine_for(sc, TargetPolicy.parse(["127.0.0.0/8"], resolver=stub_resolver))
    assert "10.0.0.1 is not in the allowed targets" in run_refused(engine)
    assert engine.connect_attempts == 0
