"""ASGI middleware timing each HTTP request and emitting one ``API_RESPONSE`` event for it.

Pure ASGI (no Starlette import): the route template comes from ``scope["route"].path``, which
Starlette and FastAPI set while routing; websocket and lifespan scopes pass through untouched.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from intperf.sdk.emitter import EventEmitter
from intperf.sdk.events import api_response
from intperf.sdk.paths import normalize_path

__all__ = ["IntperfASGIMiddleware", "route_template"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
EndpointOf = Callable[[Scope], str | None]

#: Status recorded when the client went away before the response ended (nginx's convention).
CLIENT_CLOSED: Final = 499
_LAST_MESSAGES: Final = frozenset({"http.response.body", "http.response.zerocopysend"})


def route_template(scope: Scope) -> str | None:
    """The matched route's template (``/api/orders/{id}``) if the framework recorded one.

    Below a ``Mount`` the mount's matched prefix (in ``root_path``) is normalised and put in
    front. None when no route was matched or the match is a mount whose app has no routes.
    """
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str) or hasattr(route, "routes"):
        return None
    root = scope.get("root_path", "")
    app_root = scope.get("app_root_path", root)
    prefix = root[len(app_root) :] if isinstance(root, str) and root.startswith(app_root) else ""
    return normalize_path(prefix) + path if prefix else path


class IntperfASGIMiddleware:
    """Wraps an ASGI app: ``app = IntperfASGIMiddleware(app, emitter, service="shop")``.

    The time runs from the call (the request head was received) to the end of the response
    body. Exceptions are recorded as status 500 and re-raised; a cancelled request (the
    client left) as 499. ``endpoint_of(scope)`` overrides the endpoint when it returns a str.
    """

    def __init__(
        self,
        app: ASGIApp,
        emitter: EventEmitter,
        service: str,
        *,
        endpoint_of: EndpointOf | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self._emitter = emitter
        self._service = service
        self._endpoint_of = endpoint_of
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self._clock()
        status = 0
        recorded = False

        def record(code: int) -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                self._record(scope, code, started)

        async def send_timed(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start":
                status = int(message["status"])
            try:
                await send(message)
            finally:
                if kind == "http.response.pathsend" or (
                    kind in _LAST_MESSAGES and not message.get("more_body", False)
                ):
                    record(status or 500)

        try:
            await self.app(scope, receive, send_timed)
        except Exception:
            record(500)
            raise
        except BaseException:  # cancellation: the client went away
            record(CLIENT_CLOSED)
            raise
        record(status or 500)  # the app returned without finishing its response

    def _record(self, scope: Scope, status: int, started: float) -> None:
        try:
            elapsed_ms = (self._clock() - started) * 1000.0
            endpoint = None if self._endpoint_of is None else self._endpoint_of(scope)
            if endpoint is None:
                endpoint = route_template(scope) or normalize_path(str(scope.get("path", "/")))
            method = str(scope.get("method", "GET"))
            self._emitter.emit(
                api_response(self._service, endpoint, method, status, max(0.0, elapsed_ms))
            )
        except Exception:  # noqa: BLE001 - never fail the request because of monitoring
            return
