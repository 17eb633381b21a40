"""Alert channels by name: delivery with retries and a circuit breaker per channel.

Channel types: ``webhook`` (generic JSON), ``slack`` (``{"text": ...}``), ``email`` (SMTP),
``log``. :class:`Channels` never raises into its caller: a channel that is down costs a logged
failure (its origin or host only, never a URL path, token or password). docs/alerting.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from intperf.config import AlertChannelSettings, Settings
from intperf.errors import CallNotPermittedError, UsageError
from intperf.monitor.notification import Notification
from intperf.monitor.notifiers_email import EmailNotifier
from intperf.monitor.notifiers_http import (
    ClientFactory,
    DeliveryError,
    SlackNotifier,
    WebhookNotifier,
    redact_url,
)
from intperf.resilience import (
    CircuitBreaker,
    CircuitBreakerConfig,
    Retry,
    RetryConfig,
)

__all__ = ["CHANNEL_BREAKER", "Channels", "DeliveryError", "DeliveryResult", "LogNotifier",
           "Notifier", "build_channels", "channel_settings", "redact_url"]

logger = logging.getLogger(__name__)

_LEVELS: dict[str, int] = {"info": logging.INFO, "warning": logging.WARNING,
                           "critical": logging.ERROR}

#: Per channel: open after 5 calls of which half failed, try again after a minute.
CHANNEL_BREAKER = CircuitBreakerConfig(sliding_window_size=10, minimum_number_of_calls=5,
                                       wait_duration_in_open_state=60.0,
                                       permitted_number_of_calls_in_half_open_state=1)

Sleep = Callable[[float], Awaitable[None]]


class Notifier(Protocol):
    """Delivers a notification to one place; ``deliver`` raises DeliveryError on failure."""

    name: str

    async def deliver(self, n: Notification) -> None:
        """One attempt."""
        ...


class LogNotifier:
    """Writes the subject to the ``intperf.monitor.notifiers`` logger, level by severity."""

    def __init__(self, name: str = "log") -> None:
        self.name = name

    async def deliver(self, n: Notification) -> None:
        """Log one line (the subject; bodies are not logged)."""
        logger.log(_LEVELS.get(n.severity, logging.WARNING), "notification %s [%s]: %s",
                   n.kind, n.severity, n.subject)


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How a notification fared on one channel (``error`` is safe to show)."""

    channel: str
    delivered: bool
    attempts: int
    error: str | None = None


def _no_jitter() -> float:
    return 1.0


class Channels:
    """The configured channels; ``send`` delivers to some of them, retried, never raising.

    ``retries`` is the number of attempts after the first; the wait before retry ``n`` is
    ``backoff * 2**(n-1)`` seconds (a uniform draw below it with ``jitter``). Every attempt
    passes the channel's circuit breaker: while it is open, nothing is attempted.
    """

    def __init__(self, notifiers: Iterable[Notifier], *, retries: int = 3,
                 backoff: float = 0.5, sleep: Sleep = asyncio.sleep, jitter: bool = False,
                 breaker_config: CircuitBreakerConfig = CHANNEL_BREAKER,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._notifiers: dict[str, Notifier] = {}
        for n in notifiers:
            if n.name in self._notifiers:
                raise UsageError(f"alerting.channels: {n.name} is defined twice")
            self._notifiers[n.name] = n
        if retries < 0 or backoff < 0:
            raise UsageError("alerting: retries and backoff cannot be negative")
        self._retry = Retry("channel", RetryConfig(max_attempts=retries + 1,
                                                   initial_interval=backoff, multiplier=2.0,
                                                   max_interval=300.0),
                            sleep=sleep, rng=random.random if jitter else _no_jitter)
        self.breakers = {name: CircuitBreaker(f"channel {name}", breaker_config, clock=clock)
                         for name in self._notifiers}

    def names(self) -> list[str]:
        """The channels' names, in configuration order."""
        return list(self._notifiers)

    def get(self, name: str) -> Notifier | None:
        """The channel ``name``, if configured."""
        return self._notifiers.get(name)

    async def send(self, names: Sequence[str], n: Notification) -> dict[str, bool]:
        """Deliver ``n`` to each named channel concurrently; True where it was delivered."""
        return {r.channel: r.delivered for r in await self.deliver(names, n)}

    async def deliver(self, names: Sequence[str], n: Notification) -> list[DeliveryResult]:
        """Like :meth:`send`, with attempts and errors (an unknown name is a failure)."""
        unique = list(dict.fromkeys(names))
        results = await asyncio.gather(*(self._one(name, n) for name in unique),
                                       return_exceptions=True)
        out: list[DeliveryResult] = []
        for name, result in zip(unique, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result  # cancellation and interpreter exit go through
            if isinstance(result, Exception):
                logger.error("channel %s failed unexpectedly: %s", name,
                             type(result).__name__)
                result = DeliveryResult(name, False, 0, type(result).__name__)
            out.append(result)
        return out

    async def _one(self, name: str, n: Notification) -> DeliveryResult:
        notifier = self._notifiers.get(name)
        if notifier is None:
            logger.warning("notification %s: no channel named %s", n.kind, name)
            return DeliveryResult(name, False, 0, "unknown channel")
        breaker = self.breakers[name]
        attempts = 0

        async def attempt() -> None:
            nonlocal attempts
            async with breaker:  # raises CallNotPermittedError while the breaker is open
                attempts += 1
                await notifier.deliver(n)

        try:
            await self._retry.call(attempt)
        except CallNotPermittedError:
            logger.warning("notification %s: channel %s not attempted: its circuit breaker "
                           "is open (%d attempt(s) made)", n.kind, name, attempts)
            return DeliveryResult(name, False, attempts, "circuit breaker open")
        except DeliveryError as exc:
            logger.warning("notification %s: channel %s failed after %d attempt(s): %s",
                           n.kind, name, attempts, exc.problem)
            return DeliveryResult(name, False, attempts, exc.problem)
        logger.debug("notification %s delivered to %s", n.kind, name)
        return DeliveryResult(name, True, attempts)


def channel_settings(settings: Settings) -> list[AlertChannelSettings]:
    """The configured channels, then one ``webhook`` channel per ``intperf.webhooks`` URL.

    Without ``intperf.alerting.channels`` a ``log`` channel comes first (what the service
    always did). Webhook channels are named ``webhook``, ``webhook-2``, ...
    """
    configured = settings.intperf.alerting.channels
    out = list(configured) if configured is not None else [
        AlertChannelSettings(name="log", type="log")]
    taken = {c.name for c in out}
    for i, url in enumerate(settings.intperf.webhooks):
        name = "webhook" if i == 0 else f"webhook-{i + 1}"
        while name in taken:
            name += "-url"
        taken.add(name)
        out.append(AlertChannelSettings(name=name, type="webhook", url=url))
    return out


def _notifier(c: AlertChannelSettings, client_factory: ClientFactory | None,
              environ: Mapping[str, str]) -> Notifier:
    if c.type == "log":
        return LogNotifier(c.name)
    if c.type in ("webhook", "slack"):
        assert c.url is not None  # checked by the settings
        cls = SlackNotifier if c.type == "slack" else WebhookNotifier
        return cls(c.name, c.url, timeout=c.timeout, client_factory=client_factory)
    assert c.host is not None and c.sender is not None
    password = c.password
    if c.password_env:
        password = environ.get(c.password_env)
        if password is None:
            raise UsageError(f"channel {c.name}: environment variable {c.password_env} "
                             "is not set")
    return EmailNotifier(c.name, host=c.host, port=c.port, sender=c.sender, to=c.to,
                         username=c.username, password=password, starttls=c.starttls,
                         use_ssl=c.ssl, timeout=c.timeout)


def build_channels(settings: Settings, *, client_factory: ClientFactory | None = None,
                   sleep: Sleep = asyncio.sleep,
                   environ: Mapping[str, str] | None = None) -> Channels:
    """The service's channels from ``intperf.alerting`` and ``intperf.webhooks``."""
    env = os.environ if environ is None else environ
    alerting = settings.intperf.alerting
    return Channels([_notifier(c, client_factory, env) for c in channel_settings(settings)],
                    retries=alerting.retries, backoff=alerting.backoff, sleep=sleep)
