"""A WSGI app under wsgiref with the WSGI middleware, driven by httpx; events reach the
loopback receiver. With the receiver stalled, the app still answers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import httpx
import pytest

from intperf.sdk import ROUTE_KEY, EventEmitter, HttpTransport, IntperfWSGIMiddleware

from .conftest import API_KEY, Receiver, serve_wsgi

pytestmark = pytest.mark.integration


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path.startswith("/orders/"):
        environ[ROUTE_KEY] = "/orders/<int:order_id>"  # what a framework hook would set
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
    if path == "/boom":
        raise RuntimeError("boom")
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return []


def test_wsgi_requests_become_events(receiver: Receiver) -> None:
    emitter = EventEmitter(HttpTransport(receiver.url, API_KEY), linger_s=0.05)
    wrapped = IntperfWSGIMiddleware(app, emitter, "legacy")
    with emitter, serve_wsgi(wrapped) as base, httpx.Client(base_url=base) as client:
        assert client.get("/orders/1").status_code == 200
        assert client.delete("/orders/2").status_code == 200
        assert client.get("/boom").status_code == 500  # wsgiref answers 500 for the exception
        assert client.get("/users/3f2b1c9e-8a7d-4e6f-9b0a-1c2d3e4f5a6b").status_code == 404
        assert receiver.wait_for_events(4)
    got = sorted((e["method"], e["endpoint"], e["status"]) for e in receiver.events)
    assert got == [
        ("DELETE", "/orders/<int:order_id>", 200),
        ("GET", "/boom", 500),
        ("GET", "/orders/<int:order_id>", 200),
        ("GET", "/users/{id}", 404),
    ]
    assert {e["service"] for e in receiver.events} == {"legacy"}


def test_wsgi_app_answers_while_the_receiver_is_stalled(receiver: Receiver) -> None:
    receiver.actions.append("stall")
    emitter = EventEmitter(
        HttpTransport(receiver.url, API_KEY, timeout_s=60.0),
        capacity=5,
        batch_size=5,
        linger_s=0.01,
    )
    wrapped = IntperfWSGIMiddleware(app, emitter, "legacy")
    with emitter, serve_wsgi(wrapped) as base, httpx.Client(base_url=base) as client:
        statuses = [client.get(f"/orders/{i}").status_code for i in range(40)]
        assert statuses == [200] * 40
        s = emitter.stats()
        assert s.emitted + s.dropped_buffer_full == 40
        assert s.dropped_buffer_full > 0
        receiver.release()
        assert emitter.flush(30.0)
        assert emitter.stats().sent == s.emitted
