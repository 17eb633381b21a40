"""HTTP requests served by the service itself: a small ASGI middleware and its collector.

Labels are the matched route's **template** (``/api/v1/performance/runs/{run_id}``), never the
raw path, so the series stay bounded; a request no route matched is ``route="unmatched"``.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HTTP_BOUNDS", "HttpMetrics", "HttpMetricsMiddleware", "install_http_metrics",
           "route_template"]

#: ``le`` bounds of the service's own request durations, seconds.
HTTP_BOUNDS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                  1.0, 2.5, 5.0, 10.0)
UNMATCHED = "unmatched"


class HttpMetrics:
    """Counts and durations per (method, route, status); safe from any thread."""

    def __init__(self, bounds: Sequence[float] = HTTP_BOUNDS) -> None:
        self.bounds = tuple(bounds)
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], int] = {}
        self._durations: dict[tuple[str, str], tuple[list[int], list[float]]] = {}
        self.in_progress = 0

    def started(self) -> None:
        """A request began."""
        with self._lock:
            self.in_progress += 1

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """A request ended with ``status`` after ``seconds``."""
        key = (method, route, str(status))
        with self._lock:
            self.in_progress -= 1
            self._counts[key] = self._counts.get(key, 0) + 1
            entry = self._durations.get((method, route))
            if entry is None:
                entry = self._durations[(method, route)] = ([0] * (len(self.bounds) + 1), [0.0])
            entry[0][bisect.bisect_left(self.bounds, seconds)] += 1
            entry[1][0] += seconds

    def collect(self) -> Iterator[Metric]:
        """The request counter, duration histogram and in-flight gauge."""
        total = CounterMetricFamily(
            "intperf_http_requests", "HTTP requests served by the intperf service",
            labels=["method", "route", "status"])
        durations = HistogramMetricFamily(
            "intperf_http_request_duration_seconds",
            "Time to serve an HTTP request (streams: until the stream ended)",
            labels=["method", "route"])
        flight = GaugeMetricFamily("intperf_http_requests_in_progress",
                                   "HTTP requests being served now")
        les = [repr(float(b)) for b in self.bounds] + ["+Inf"]
        with self._lock:
            counts = sorted(self._counts.items())
            hists = sorted((k, (list(v[0]), v[1][0])) for k, v in self._durations.items())
            flight.add_metric([], float(self.in_progress))
        for (method, route, status), n in counts:
            total.add_metric([method, route, status], float(n))
        for (method, route), (buckets, seconds) in hists:
            running, cumulative = 0, list[tuple[str, float]]()
            for c in buckets:
                running += c
                cumulative.append((les[len(cumulative)], float(running)))
            durations.add_metric([method, route], cumulative, seconds)
        yield from (total, durations, flight)


def route_template(scope: Scope) -> str:
    """The path template of the route that handled ``scope`` (after routing)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class HttpMetricsMiddleware:
    """Times every HTTP request and records it in ``metrics`` (pure ASGI, streams pass)."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.app = app
        self.metrics = metrics
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request through the app, noting its status and duration."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app raises before answering
        started = self._clock()
        self.metrics.started()

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.observe(scope.get("method", "GET"), route_template(scope), status,
                                 self._clock() - started)


def install_http_metrics(app: Any) -> HttpMetrics:
    """Add the middleware to a FastAPI/Starlette ``app``; its metrics on ``app.state``."""
    metrics = HttpMetrics()
    app.state.http_metrics = metrics
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    return metrics
