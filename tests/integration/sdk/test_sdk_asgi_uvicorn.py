"""A real Starlette app under uvicorn with the ASGI middleware, driven by httpx; events reach
the loopback receiver. With the receiver stalled, the app still answers every request."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from intperf.sdk import EventEmitter, HttpTransport, IntperfASGIMiddleware, RetryPolicy

from .conftest import API_KEY, Receiver, serve_asgi

pytestmark = pytest.mark.integration


async def order(request: Request) -> Response:
    return JSONResponse({"id": request.path_params["id"]})


async def fail(request: Request) -> Response:
    raise RuntimeError("the handler failed")


def shop(emitter: EventEmitter) -> Starlette:
    app = Starlette(
        routes=[Route("/api/orders/{id}", order, methods=["GET", "POST"]), Route("/fail", fail)]
    )
    app.add_middleware(IntperfASGIMiddleware, emitter=emitter, service="shop")
    return app


def test_requests_become_api_response_events(receiver: Receiver) -> None:
    emitter = EventEmitter(HttpTransport(receiver.url, API_KEY), batch_size=50, linger_s=0.05)
    with emitter, serve_asgi(shop(emitter)) as base, httpx.Client(base_url=base) as client:
        for i in range(5):
            assert client.get(f"/api/orders/{i}").status_code == 200
        assert client.post("/api/orders/77").status_code == 200
        assert client.get("/missing/5").status_code == 404
        assert client.get("/fail").status_code == 500  # last: uvicorn then drops the connection
        assert receiver.wait_for_events(8)
    got = sorted((e["method"], e["endpoint"], e["status"]) for e in receiver.events)
    assert got == sorted(
        [("GET", "/api/orders/{id}", 200)] * 5
        + [("POST", "/api/orders/{id}", 200), ("GET", "/fail", 500), ("GET", "/missing/{id}", 404)]
    )
    assert all(e["service"] == "shop" and e["response_time_ms"] >= 0 for e in receiver.events)
    assert emitter.stats().sent == 8


def test_stalled_receiver_never_blocks_the_app(receiver: Receiver) -> None:
    receiver.actions.append("stall")  # the first batch hangs in the receiver
    emitter = EventEmitter(
        HttpTransport(receiver.url, API_KEY, timeout_s=60.0),
        capacity=20,
        batch_size=10,
        linger_s=0.01,
        retry=RetryPolicy(max_attempts=2),
    )
    requests = 120
    with emitter, serve_asgi(shop(emitter)) as base, httpx.Client(base_url=base) as client:
        statuses = [client.get(f"/api/orders/{i}").status_code for i in range(requests)]
        assert statuses == [200] * requests
        s = emitter.stats()
        # Every request produced one event: queued (at most one stuck batch + the buffer)
        # or dropped and counted; none waited for the receiver.
        assert s.emitted + s.dropped_buffer_full == requests
        assert s.dropped_buffer_full > 0
        assert s.emitted <= 10 + 20
        receiver.release()
        assert emitter.flush(30.0)
        s = emitter.stats()
    assert s.sent == s.emitted
    assert len(receiver.events) == s.emitted
