"""Alert events (regressions, failed runs) and the sinks that deliver them: log, webhooks.

Delivery never raises into the caller: a webhook that is down costs a logged failure, not a
failed run. Webhook URLs often carry tokens in their path or query (Slack, Teams), so only
``scheme://host[:port]`` is ever logged, by us or by httpx's request log.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import httpx

from intperf.errors import CallNotPermittedError, IntperfError, UsageError
from intperf.resilience import (
    CircuitBreaker,
    CircuitBreakerConfig,
    Retry,
    RetryConfig,
    RetryEvent,
    RetryEventKind,
)

logger = logging.getLogger(__name__)

Severity = Literal["info", "warning", "critical"]
_LEVELS: dict[str, int] = {"info": logging.INFO, "warning": logging.WARNING,
                           "critical": logging.ERROR}
#: Statuses worth another attempt: server errors, rate limiting, request timeout.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """Something an operator should hear about, e.g. kind ``regression`` for a run."""

    kind: str
    severity: Severity
    title: str
    details: Mapping[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_dict(self) -> dict[str, Any]:
        """The JSON payload posted to webhooks (``text`` for Slack-style receivers)."""
        return {"source": "intperf", "kind": self.kind, "severity": self.severity,
                "title": self.title, "text": f"[{self.severity}] {self.title}",
                "run_id": self.run_id, "at": self.at.isoformat(), "details": dict(self.details)}


class AlertSink(Protocol):
    """Delivers events somewhere; ``send`` must not raise."""

    async def send(self, event: AlertEvent) -> None:
        """Deliver ``event`` (failures are handled and logged by the sink)."""
        ...


class LogSink:
    """Writes each event to the ``intperf.service.alerts`` logger (level by severity)."""

    async def send(self, event: AlertEvent) -> None:
        """Log ``event``'s kind, title and run."""
        logger.log(_LEVELS.get(event.severity, logging.WARNING), "alert %s [%s]: %s (run %s)",
                   event.kind, event.severity, event.title, event.run_id or "-")


def redact_url(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what may be logged of a webhook address."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<invalid url>"
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


class _HttpxUrlRedactor(logging.Filter):
    """Shortens webhook URLs in httpx's own ``HTTP Request: POST <url>`` INFO lines.

    httpx logs every request's full URL, token included; this filter on the ``httpx`` logger
    (attached when a WebhookSink is built, never at import) rewrites only registered URLs.
    """

    def __init__(self) -> None:
        super().__init__("intperf-webhook-redactor")
        self.secret_urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
                isinstance(a, str | httpx.URL) and str(a) in self.secret_urls
                for a in record.args):
            record.args = tuple(redact_url(str(a)) if isinstance(a, str | httpx.URL)
                                and str(a) in self.secret_urls else a for a in record.args)
        return True


_REDACTOR = _HttpxUrlRedactor()


def _hide_from_httpx_logs(urls: Iterable[str]) -> None:
    for url in urls:
        _REDACTOR.secret_urls.update({url, str(httpx.URL(url))})
    httpx_logger = logging.getLogger("httpx")
    if _REDACTOR not in httpx_logger.filters:
        httpx_logger.addFilter(_REDACTOR)


ClientFactory = Callable[[], httpx.AsyncClient]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """Counters of one webhook sink since it was created."""

    delivered: int = 0
    failed: int = 0
    retries: int = 0
    not_attempted: int = 0  # deliveries (also counted in failed) an open breaker refused


#: Per webhook origin: open after 5 calls of which half failed, try again after a minute.
WEBHOOK_BREAKER = CircuitBreakerConfig(sliding_window_size=10, minimum_number_of_calls=5,
                                       wait_duration_in_open_state=60.0,
                                       permitted_number_of_calls_in_half_open_state=1)


def _no_jitter() -> float:
    return 1.0


class _AttemptFailed(IntperfError):
    """One POST failed; ``problem`` is what may be logged (a type name or an HTTP status)."""

    def __init__(self, problem: str, *, retriable: bool) -> None:
        super().__init__(problem)
        self.problem = problem
        self.retriable = retriable


class WebhookSink:
    """POSTs each event as JSON to every URL, retrying with exponential backoff.

    ``retries`` is the number of attempts after the first (so ``retries=3`` means up to 4
    requests per URL); the wait before retry ``n`` (from 1) is ``backoff * 2**(n-1)`` seconds,
    or a uniform draw below that with ``jitter`` (full jitter).
    Retried: connection errors, timeouts and the statuses in ``RETRY_STATUSES``.
    Every attempt goes through a circuit breaker per webhook origin (``WEBHOOK_BREAKER``): while
    it is open, deliveries to that origin are not attempted and count as failed.
    """

    def __init__(self, urls: Iterable[str], client_factory: ClientFactory | None = None, *,
                 retries: int = 3, backoff: float = 0.5, timeout: float = 5.0,
                 sleep: Sleep = asyncio.sleep, jitter: bool = False,
                 breaker_config: CircuitBreakerConfig = WEBHOOK_BREAKER,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.urls = tuple(urls)
        for i, url in enumerate(self.urls):
            scheme = urlsplit(url).scheme
            if scheme not in ("http", "https") or not urlsplit(url).hostname:
                raise UsageError(f"intperf.webhooks[{i}]: not an http(s) URL "
                                 f"({redact_url(url)})")
        _hide_from_httpx_logs(self.urls)
        if retries < 0 or backoff < 0:
            raise UsageError("webhook retries and backoff cannot be negative")
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self._sleep = sleep
        self._client_factory = client_factory or self._default_client
        self._delivered = 0
        self._failed = 0
        self._retried = 0
        self._not_attempted = 0
        policy = RetryConfig(max_attempts=retries + 1, initial_interval=backoff,
                             multiplier=2.0, max_interval=float("inf"))
        self._retry = Retry("webhook", policy, sleep=sleep, on_event=self._on_retry,
                            rng=random.random if jitter else _no_jitter)
        self.breakers = {origin: CircuitBreaker(f"webhook {origin}", breaker_config, clock=clock)
                         for origin in dict.fromkeys(redact_url(u) for u in self.urls)}

    def _on_retry(self, event: RetryEvent) -> None:
        if event.kind is RetryEventKind.RETRY:
            self._retried += 1

    def _default_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)

    @property
    def stats(self) -> DeliveryStats:
        """Deliveries, failures and retries so far."""
        return DeliveryStats(self._delivered, self._failed, self._retried, self._not_attempted)

    async def send(self, event: AlertEvent) -> None:
        """Deliver ``event`` to every URL concurrently; never raises."""
        if not self.urls:
            return
        payload = event.to_dict()
        try:
            async with self._client_factory() as client:
                await asyncio.gather(*(self._deliver(client, url, payload, event)
                                       for url in self.urls))
        # The client could not be built or closed: still never reach the caller, and log the
        # type only (a traceback could carry a URL with its token).
        except Exception as exc:  # noqa: BLE001
            self._failed += len(self.urls)
            logger.error("alert %s: webhook delivery failed: %s", event.kind,  # noqa: TRY400
                         type(exc).__name__)

    async def _deliver(self, client: httpx.AsyncClient, url: str, payload: dict[str, Any],
                       event: AlertEvent) -> None:
        where = redact_url(url)
        breaker = self.breakers[where]
        attempts = 0

        async def attempt() -> None:
            nonlocal attempts
            async with breaker:  # raises CallNotPermittedError while the breaker is open
                attempts += 1
                await self._post(client, url, payload)

        try:
            await self._retry.call(attempt)
        except CallNotPermittedError:
            self._failed += 1
            self._not_attempted += attempts == 0
            logger.warning("alert %s: webhook %s not attempted: its circuit breaker is open "
                           "(%d attempt(s) made)", event.kind, where, attempts)
        except _AttemptFailed as exc:
            self._failed += 1
            logger.warning("alert %s: webhook %s failed after %d attempt(s): %s", event.kind,
                           where, attempts, exc.problem)
        else:
            self._delivered += 1
            logger.debug("alert %s delivered to %s", event.kind, where)

    @staticmethod
    async def _post(client: httpx.AsyncClient, url: str, payload: dict[str, Any]) -> None:
        try:
            response = await client.post(url, json=payload)
        except httpx.TransportError as exc:  # connect, read, timeout: worth another try
            raise _AttemptFailed(type(exc).__name__, retriable=True) from None
        except httpx.HTTPError as exc:  # invalid request and the like: will not improve
            raise _AttemptFailed(type(exc).__name__, retriable=False) from None
        if not response.is_success:
            raise _AttemptFailed(f"HTTP {response.status_code}",
                                 retriable=response.status_code in RETRY_STATUSES)


class AlertDispatcher:
    """Fans an event out to every sink; a failing sink never stops the others or the caller."""

    def __init__(self, sinks: Iterable[AlertSink]) -> None:
        self.sinks = tuple(sinks)

    async def emit(self, event: AlertEvent) -> None:
        """Send ``event`` to all sinks concurrently."""
        results = await asyncio.gather(*(s.send(event) for s in self.sinks),
                                       return_exceptions=True)
        for sink, result in zip(self.sinks, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result  # cancellation and interpreter exit go through
            if isinstance(result, Exception):
                logger.error("alert sink %s failed: %s", type(sink).__name__,
                             type(result).__name__)
