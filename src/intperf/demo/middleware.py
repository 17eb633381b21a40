"""Pure ASGI middleware of the demo shop: recording, statistics, stalls and injected faults.

A plain ASGI class (not ``BaseHTTPMiddleware``) keeps the per-request cost to a few calls.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from intperf.demo.state import ShopState

CONTROL_PATHS = frozenset({"/__demo/requests", "/__demo/stats", "/__demo/config", "/__demo/stall"})
"""Never recorded, counted or stalled, so a test can always steer the shop."""

_INJECTED_BODY = json.dumps({"error": "injected failure"}).encode()
_INJECTED_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_INJECTED_BODY)).encode()),
]


class DemoMiddleware:
    """Records requests, counts responses per route, applies stalls, latency and errors."""

    def __init__(self, app: ASGIApp, shop: ShopState, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.shop = shop
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path in CONTROL_PATHS:
            await self.app(scope, receive, send)
            return
        shop = self.shop
        if shop.recorder.enabled and (not path.startswith("/__demo/") or path == "/__demo/echo"):
            receive = await _record(shop, scope, receive)
        if shop.stall_until:
            await shop.wait_out_stall()
        status = 0

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # Responses finishing during a stall are held too, like a real pause would.
                if shop.stall_until:
                    await shop.wait_out_stall()
            await send(message)

        try:
            if path.startswith("/api/") and await _inject_fault(shop, send_counted):
                route = _route_path(self.routes, scope)
            else:
                await self.app(scope, receive, send_counted)
                matched = scope.get("route")
                route = matched.path if matched is not None else "<unmatched>"
        except Exception:
            shop.stats[(scope["method"], _route_path(self.routes, scope), 500)] += 1
            raise
        shop.stats[(scope["method"], route, status)] += 1


async def _record(shop: ShopState, scope: Scope, receive: Receive) -> Receive:
    """Read the whole body, record the request and return a ``receive`` that replays it."""
    chunks: list[bytes] = []
    pending: Message | None = None
    while True:
        message = await receive()
        if message["type"] != "http.request":
            pending = message  # a disconnect: hand it on to the app after the body
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    shop.recorder.add(
        scope["method"], scope["path"], scope["query_string"], tuple(scope["headers"]), body
    )
    replay: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    if pending is not None:
        replay.append(pending)

    async def replaying_receive() -> Message:
        if replay:
            return replay.pop(0)
        return await receive()

    return replaying_receive


async def _inject_fault(shop: ShopState, send: Send) -> bool:
    """Apply configured latency; answer 500 and return True if this request should fail."""
    delay = shop.injected_latency()
    if delay > 0:
        await asyncio.sleep(delay)
    if not shop.injected_error():
        return False
    await send({"type": "http.response.start", "status": 500, "headers": _INJECTED_HEADERS})
    await send({"type": "http.response.body", "body": _INJECTED_BODY})
    return True


def _route_path(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The route template a request would be dispatched to, for statistics."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            return getattr(route, "path", "<unmatched>")
    return "<unmatched>"
