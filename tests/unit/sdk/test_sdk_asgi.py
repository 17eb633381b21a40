"""The ASGI middleware in process (httpx's ASGI transport): route templates, statuses,
exceptions as 500, pass-through of other scopes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route

from intperf.sdk import EventEmitter, IntperfASGIMiddleware, MemoryTransport


class Recorder(EventEmitter):
    """An emitter that only collects (no thread): the middleware's calls, synchronously."""

    def __init__(self) -> None:
        super().__init__(MemoryTransport())
        self.events: list[dict[str, Any]] = []

    def emit(self, event: Any) -> bool:
        self.events.append(dict(event))
        return True


async def order(request: Request) -> Response:
    return JSONResponse({"id": request.path_params["id"]})


async def item(request: Request) -> Response:
    return PlainTextResponse(request.path_params["sku"])


async def boom(request: Request) -> Response:
    raise RuntimeError("boom")


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"{i}\n".encode()

    return StreamingResponse(chunks(), status_code=206)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    yield rec
    rec.close()


def starlette_app(recorder: Recorder) -> Starlette:
    app = Starlette(
        routes=[
            Route("/api/orders/{id:int}", order),
            Route("/boom", boom),
            Route("/stream", stream),
            Mount("/v2/{tenant}", routes=[Route("/items/{sku}", item)]),
        ]
    )
    app.add_middleware(IntperfASGIMiddleware, emitter=recorder, service="shop")
    return app


async def request(app: Any, method: str, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path)


async def test_route_templates_and_statuses(recorder: Recorder) -> None:
    app = starlette_app(recorder)
    assert (await request(app, "GET", "/api/orders/42")).status_code == 200
    assert (await request(app, "POST", "/api/orders/42")).status_code == 405
    assert (await request(app, "GET", "/v2/7/items/abc")).text == "abc"
    assert (await request(app, "GET", "/nowhere/123")).status_code == 404
    got = [(e["method"], e["endpoint"], e["status"]) for e in recorder.events]
    assert got == [
        ("GET", "/api/orders/{id:int}", 200),
        ("POST", "/api/orders/{id:int}", 405),
        ("GET", "/v2/{id}/items/{sku}", 200),
        ("GET", "/nowhere/{id}", 404),
    ]
    for e in recorder.events:
        assert e["kind"] == "API_RESPONSE" and e["service"] == "shop"
        assert e["response_time_ms"] >= 0.0


async def test_exception_is_recorded_as_500_and_reraised(recorder: Recorder) -> None:
    app = starlette_app(recorder)
    response = await request(app, "GET", "/boom")
    assert response.status_code == 500
    assert [(e["endpoint"], e["status"]) for e in recorder.events] == [("/boom", 500)]

    async def raw(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("raw")

    middleware = IntperfASGIMiddleware(raw, recorder, "shop")
    scope = {"type": "http", "method": "GET", "path": "/x/1"}
    with pytest.raises(ValueError, match="raw"):
        await middleware(scope, _receive, _send_nothing)
    assert recorder.events[-1]["endpoint"] == "/x/{id}"
    assert recorder.events[-1]["status"] == 500


async def test_streamed_body_is_timed_to_its_end(recorder: Recorder) -> None:
    ticks = iter([10.0, 10.25])
    app = Starlette(routes=[Route("/stream", stream)])
    app.add_middleware(
        IntperfASGIMiddleware, emitter=recorder, service="shop", clock=lambda: next(ticks)
    )
    assert (await request(app, "GET", "/stream")).text == "0\n1\n2\n"
    assert len(recorder.events) == 1
    assert recorder.events[0]["status"] == 206
    assert recorder.events[0]["response_time_ms"] == pytest.approx(250.0)


async def test_fastapi_route_template_with_router_prefix(recorder: Recorder) -> None:
    router = APIRouter(prefix="/api")

    @router.get("/users/{user_id}/orders/{order_id}")
    async def user_order(user_id: int, order_id: str) -> dict[str, str]:
        return {"order": order_id}

    app = FastAPI()
    app.include_router(router)
    app.add_middleware(IntperfASGIMiddleware, emitter=recorder, service="api")
    assert (await request(app, "GET", "/api/users/5/orders/x9")).status_code == 200
    assert (await request(app, "GET", "/api/users/five/orders/x9")).status_code == 422
    assert [(e["endpoint"], e["status"]) for e in recorder.events] == [
        ("/api/users/{user_id}/orders/{order_id}", 200),
        ("/api/users/{user_id}/orders/{order_id}", 422),
    ]


async def test_endpoint_of_overrides(recorder: Recorder) -> None:
    app = Starlette(routes=[Route("/api/orders/{id:int}", order)])
    app.add_middleware(
        IntperfASGIMiddleware, emitter=recorder, service="shop", endpoint_of=lambda scope: "orders"
    )
    await request(app, "GET", "/api/orders/1")
    assert recorder.events[0]["endpoint"] == "orders"


@pytest.mark.parametrize("kind", ["websocket", "lifespan"])
async def test_other_scopes_pass_through(recorder: Recorder, kind: str) -> None:
    seen: list[Any] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope, receive, send))

    scope = {"type": kind, "path": "/ws"}
    await IntperfASGIMiddleware(inner, recorder, "shop")(scope, _receive, _send_nothing)
    assert seen == [(scope, _receive, _send_nothing)]
    assert recorder.events == []


async def test_client_disconnect_is_recorded_as_499(recorder: Recorder) -> None:
    import asyncio

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise asyncio.CancelledError

    middleware = IntperfASGIMiddleware(slow, recorder, "shop")
    with pytest.raises(asyncio.CancelledError):
        await middleware({"type": "http", "method": "GET", "path": "/a"}, _receive, _send_nothing)
    assert recorder.events[0]["status"] == 499


async def test_monitoring_failure_never_breaks_the_request() -> None:
    class Broken(Recorder):
        def emit(self, event: Any) -> bool:
            raise RuntimeError("broken emitter")

    broken = Broken()
    app = Starlette(routes=[Route("/api/orders/{id:int}", order)])
    app.add_middleware(IntperfASGIMiddleware, emitter=broken, service="shop")
    assert (await request(app, "GET", "/api/orders/3")).status_code == 200
    broken.close()


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send_nothing(message: Any) -> None:
    return None
