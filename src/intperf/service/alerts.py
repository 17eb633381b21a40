"""Alert events (regressions, failed runs, live analytics) and the sinks that deliver them.

The service's one sink is :class:`ManagerSink`: events become signals of the alert manager
(``intperf.monitor.alert_manager``), which groups, silences, escalates and notifies the
channels. :class:`LogSink` and :class:`WebhookSink` remain for direct use.

Delivery never raises into the caller: a webhook that is down costs a logged failure, not a
failed run. Webhook URLs often carry tokens in their path or query (Slack, Teams), so only
``scheme://host[:port]`` is ever logged, by us or by httpx's request log.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit

import httpx

from intperf.errors import CallNotPermittedError, UsageError
from intperf.monitor.alert_model import AlertSignal
from intperf.monitor.notifiers_http import (
    DeliveryError,
    hide_from_httpx_logs,
    post_json,
    redact_url,
)
from intperf.resilience import (
    CircuitBreaker,
    CircuitBreakerConfig,
    Retry,
    RetryConfig,
    RetryEvent,
    RetryEventKind,
)

if TYPE_CHECKING:
    from intperf.monitor.alert_manager import AlertManager
    from intperf.service.context import ServiceContext

logger = logging.getLogger(__name__)

Severity = Literal["info", "warning", "critical"]
_LEVELS: dict[str, int] = {"info": logging.INFO, "warning": logging.WARNING,
                           "critical": logging.ERROR}


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """Something an operator should hear about, e.g. kind ``regression`` for a run."""

    kind: str
    severity: Severity
    title: str
    details: Mapping[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    labels: Mapping[str, str] = field(default_factory=dict)
    """What identifies the alert beside its kind (``scenario``, ``service``)."""
    resolved: bool = False
    """The condition no longer holds (the alert manager resolves the alert)."""

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


class WebhookSink:
    """POSTs each event as JSON to every URL, retrying with exponential backoff.

    ``retries`` is the number of attempts after the first (so ``retries=3`` means up to 4
    requests per URL); the wait before retry ``n`` (from 1) is ``backoff * 2**(n-1)`` seconds,
    or a uniform draw below that with ``jitter`` (full jitter).
    Retried: connection errors, timeouts and ``notifiers_http.RETRY_STATUSES``.
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
        hide_from_httpx_logs(self.urls)
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
                await post_json(client, url, payload)

        try:
            await self._retry.call(attempt)
        except CallNotPermittedError:
            self._failed += 1
            self._not_attempted += attempts == 0
            logger.warning("alert %s: webhook %s not attempted: its circuit breaker is open "
                           "(%d attempt(s) made)", event.kind, where, attempts)
        except DeliveryError as exc:
            self._failed += 1
            logger.warning("alert %s: webhook %s failed after %d attempt(s): %s", event.kind,
                           where, attempts, exc.problem)
        else:
            self._delivered += 1
            logger.debug("alert %s delivered to %s", event.kind, where)


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


#: Event kinds (``stream.<kind>`` from stream_runtime) -> (alert rule, the label of the key).
_STREAM_RULES: dict[str, tuple[str, str]] = {
    "stream.response-time-p99": ("response-time-99th", "service"),
    "stream.error-rate": ("error-rate", "service"),
    "stream.throughput-min": ("throughput-min", "service"),
    "stream.cache-miss-storm": ("cache-miss-storm", "region"),
}
_RUN_RULES = {"regression": "run.regression", "run-failed": "run.failed"}


def signal_of(event: AlertEvent) -> AlertSignal:
    """The alert manager's signal for ``event`` (rule names as in docs/alerting.md)."""
    labels = {str(k): str(v) for k, v in event.labels.items()}
    details = dict(event.details)
    resolved = event.resolved or details.pop("resolved", False) is True
    rule = _RUN_RULES.get(event.kind, event.kind)
    if event.kind in _STREAM_RULES:
        rule, label = _STREAM_RULES[event.kind]
        if "key" in details and label not in labels:
            labels[label] = str(details["key"])
    return AlertSignal(rule=rule, labels=labels, active=not resolved,
                       severity=event.severity, title=event.title, details=details,
                       run_id=event.run_id)


class SignalReceiver(Protocol):
    """What ManagerSink feeds (the AlertManager)."""

    async def observe(self, signal: AlertSignal, *, deliver: bool = True) -> object:
        """Apply one signal."""
        ...


class ManagerSink:
    """Hands events to the alert manager (which never raises into the caller); the manager's
    timer delivers, so a stream processor or a run's end never waits for a channel."""

    def __init__(self, manager: SignalReceiver) -> None:
        self.manager = manager

    async def send(self, event: AlertEvent) -> None:
        """Observe ``event`` as a signal."""
        await self.manager.observe(signal_of(event), deliver=False)


BusinessWindows = Callable[[int], Awaitable[Sequence[Mapping[str, Any]]]]


def payment_success_watch(windows: BusinessWindows, threshold: float
                          ) -> Callable[[datetime], Awaitable[list[AlertSignal]]]:
    """A watch of the alert manager: rule ``payment-success-rate`` per service, active while
    the newest closed business window's payment success rate is below ``threshold``.

    ``windows(since_ms)`` answers the business windows' ``to_dict()`` ending after
    ``since_ms``; the first poll only looks at each service's newest window.
    """
    last_end: dict[str, int] = {}
    since = 0

    async def watch(now: datetime) -> list[AlertSignal]:
        nonlocal since
        newest: dict[str, Mapping[str, Any]] = {}
        for w in await windows(since):
            service, end = str(w.get("service")), int(w.get("end_ms", 0))
            if end > last_end.get(service, -1) and end >= int(newest.get(
                    service, {}).get("end_ms", -1)):
                newest[service] = w
        out = []
        for service, w in sorted(newest.items()):
            last_end[service] = int(w["end_ms"])
            since = max(since, last_end[service])
            rate = w.get("payment_success_rate")
            if rate is None:
                continue
            out.append(AlertSignal(
                "payment-success-rate", {"service": service}, active=float(rate) < threshold,
                severity="critical" if float(rate) < threshold / 2 else "warning",
                title=f"{service}: payment success rate {float(rate):.1%} "
                      f"(minimum {threshold:.1%})",
                details={"observed": float(rate), "threshold": threshold,
                         "end_ms": int(w["end_ms"])}))
        return out

    return watch


async def start_alerting(ctx: ServiceContext) -> AlertManager | None:
    """Build ``ctx.channels`` and start ``ctx.alert_manager``; ``ctx.alerts`` then feeds it.

    With ``intperf.alerting.enabled: false`` events go straight to the log and the webhooks,
    one message per event, as before the alert manager existed.
    """
    from intperf.monitor.alert_manager import AlertManager, Watch, policy_from_settings
    from intperf.monitor.notifiers import build_channels
    from intperf.store.alert_repository import AlertRepository

    settings = ctx.settings
    alerting = settings.intperf.alerting
    ctx.channels = channels = build_channels(settings)
    if not alerting.enabled:
        sinks: list[AlertSink] = [LogSink()]
        if settings.intperf.webhooks:
            sinks.append(WebhookSink(settings.intperf.webhooks))
        ctx.alerts = AlertDispatcher(sinks)
        return None
    policy = policy_from_settings(settings, channels.names())
    watches: list[Watch] = []
    payment = policy.rules.get("payment-success-rate")
    if payment is not None and payment.enabled and payment.threshold is not None:
        store = ctx.stream_store

        async def business(since_ms: int) -> list[dict[str, Any]]:
            rows = await asyncio.to_thread(store.other_windows, "business", since_ms=since_ms,
                                           limit=500)
            return [w.data for w in rows]

        watches.append(payment_success_watch(business, payment.threshold))
    manager = AlertManager(policy, channels, AlertRepository(ctx.db),
                           interval=alerting.evaluation_interval, watches=watches)
    await manager.start()
    ctx.alert_manager = manager
    ctx.alerts = AlertDispatcher([ManagerSink(manager)])
    return manager


async def stop_alerting(ctx: ServiceContext) -> None:
    """Stop the alert manager's timer."""
    if ctx.alert_manager is not None:
        await ctx.alert_manager.stop()
