"""WSGI middleware timing each request, until the response iterable is closed, and emitting
one ``API_RESPONSE`` event for it (status from ``start_response``).

Frameworks do not put the matched route in the environ: set ``environ["intperf.route"]`` from
a request hook (Flask: ``request.url_rule.rule``; Django: ``request.resolver_match.route``)
or pass ``endpoint_of``; otherwise the path is normalised (ids become ``{id}``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from intperf.sdk.emitter import EventEmitter
from intperf.sdk.events import api_response
from intperf.sdk.paths import normalize_path

__all__ = ["ROUTE_KEY", "IntperfWSGIMiddleware"]

#: The environ key a framework hook may set to the matched route template.
ROUTE_KEY: Final = "intperf.route"
EndpointOf = Callable[[WSGIEnvironment], str | None]


def _status_code(status: str) -> int:
    try:
        return int(status[:3])
    except ValueError:
        return 500


class _TimedBody:
    """The app's response iterable; reports once when closed (PEP 3333 requires close())."""

    def __init__(self, body: Iterable[bytes], done: Callable[[bool], None]) -> None:
        self._body = body
        self._done = done
        self._failed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except Exception:
            self._failed = True
            raise

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._done(self._failed)


class IntperfWSGIMiddleware:
    """Wraps a WSGI app: ``app.wsgi_app = IntperfWSGIMiddleware(app.wsgi_app, emitter, "shop")``.

    Exceptions (from the call or while iterating the body) are recorded as status 500 and
    re-raised. ``endpoint_of(environ)`` overrides the endpoint when it returns a str.
    """

    def __init__(
        self,
        app: WSGIApplication,
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

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = self._clock()
        status = [0]

        def start_response_timed(
            status_line: str, headers: list[tuple[str, str]], exc_info: Any = None, /
        ) -> Callable[[bytes], object]:
            status[0] = _status_code(status_line)
            return start_response(status_line, headers, exc_info)

        try:
            body = self.app(environ, start_response_timed)
        except Exception:
            self._record(environ, 500, started)
            raise

        def done(failed: bool) -> None:
            self._record(environ, 500 if failed or not status[0] else status[0], started)

        return _TimedBody(body, done)

    def _record(self, environ: WSGIEnvironment, status: int, started: float) -> None:
        try:
            elapsed_ms = (self._clock() - started) * 1000.0
            endpoint = None if self._endpoint_of is None else self._endpoint_of(environ)
            if endpoint is None:
                route = environ.get(ROUTE_KEY)
                script = environ.get("SCRIPT_NAME", "")
                if isinstance(route, str):
                    endpoint = (normalize_path(script) if script else "") + route
                else:
                    path = script + environ.get("PATH_INFO", "")
                    endpoint = normalize_path(path or "/")
            method = str(environ.get("REQUEST_METHOD", "GET"))
            self._emitter.emit(
                api_response(self._service, endpoint, method, status, max(0.0, elapsed_ms))
            )
        except Exception:  # noqa: BLE001 - never fail the request because of monitoring
            return
