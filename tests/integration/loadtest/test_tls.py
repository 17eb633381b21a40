"""HTTPS against a real TLS server on loopback with a throw-away CA (trustme)."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator

import pytest
import trustme

from intperf.loadtest.results import ErrorClass

from .support import run_engine, run_engine_with, scenario, total

pytestmark = pytest.mark.integration


class _Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b'{"tls": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def https_url() -> Iterator[str]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.daemon_threads = True
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_https_with_verification_off_reuses_the_connection(https_url: str) -> None:
    sc = scenario(
        https_url,
        [
            {
                "request": {
                    "name": "hello",
                    "path": "/",
                    "checks": [{"jsonpath": "$.tls", "equals": True}],
                }
            }
        ],
        load={"users": 1, "iterations": 5},
        tls_verify=False,
    )
    series, engine = run_engine_with(sc)
    assert total(series).ok == 5, total(series).messages
    assert engine.connect_attempts == 1  # keep-alive: one TLS handshake for five requests


def test_untrusted_certificate_is_a_tls_error(https_url: str) -> None:
    sc = scenario(https_url, [{"request": {"name": "hello", "path": "/"}}])
    w = total(run_engine(sc))
    assert w.errors == {ErrorClass.TLS.value: 1}
    assert any("certificate" in m.lower() for m in w.messages), w.messages
