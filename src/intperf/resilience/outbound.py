"""Guards for the service's own outbound calls: a circuit breaker per target, retries with a
shared budget, a time limit per attempt (async), composed in the documented order
(``Retry(CircuitBreaker(TimeLimiter(fn)))``, see :mod:`intperf.resilience.compose`)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from intperf.resilience.breaker import CircuitBreaker, CircuitState
from intperf.resilience.config import CircuitBreakerConfig
from intperf.resilience.retry import Retry, RetryBudget, RetryConfig, default_retry_on
from intperf.resilience.time_limiter import TimeLimiter, TimeLimiterConfig

__all__ = ["OutboundGuards", "OutboundPolicy"]

R = TypeVar("R")


def _breaker_config() -> CircuitBreakerConfig:
    # Small windows: the service calls a target a few times a minute, not thousands.
    return CircuitBreakerConfig(sliding_window_size=10, minimum_number_of_calls=4,
                                failure_rate_threshold=50.0, wait_duration_in_open_state=30.0,
                                permitted_number_of_calls_in_half_open_state=1)


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """Timeouts, retries and breaker of one kind of outbound call."""

    timeout_s: float = 30.0
    """Per attempt (async calls only; sync calls rely on their driver's timeouts)."""
    max_attempts: int = 3
    initial_interval_s: float = 0.2
    max_interval_s: float = 2.0
    retry_on: Callable[[BaseException], bool] = default_retry_on
    """Which errors are worth another attempt (default: their ``retriable`` flag, else
    connection errors and timeouts)."""
    breaker: CircuitBreakerConfig = field(default_factory=_breaker_config)
    max_targets: int = 1024
    """Breakers kept (least recently used forgotten beyond)."""


class OutboundGuards:
    """A circuit breaker per target (``host:port`` or the like), one retry budget for all."""

    def __init__(self, name: str, policy: OutboundPolicy | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 sync_sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self.policy = policy or OutboundPolicy()
        self.budget = RetryBudget()
        self._clock = clock
        self._breakers: OrderedDict[str, CircuitBreaker] = OrderedDict()
        self._lock = threading.Lock()
        p = self.policy
        self._retry = Retry(name, RetryConfig(max_attempts=p.max_attempts,
                                              initial_interval=p.initial_interval_s,
                                              max_interval=p.max_interval_s,
                                              retry_on_exception=p.retry_on),
                            budget=self.budget, sleep=sleep, sync_sleep=sync_sleep)
        self._limiter = TimeLimiter(name, TimeLimiterConfig(p.timeout_s))

    def breaker(self, target: str) -> CircuitBreaker:
        """The breaker of ``target`` (made on first use)."""
        breaker = self._breakers.get(target)
        if breaker is None:
            breaker = CircuitBreaker(f"{self.name}:{target}", self.policy.breaker,
                                     clock=self._clock)
            self._breakers[target] = breaker
            while len(self._breakers) > self.policy.max_targets:
                self._breakers.popitem(last=False)
        else:
            self._breakers.move_to_end(target)
        return breaker

    def states(self) -> dict[str, CircuitState]:
        """The state of every known target's breaker."""
        return {t: b.state for t, b in self._breakers.items()}

    async def call(self, target: str, fn: Callable[[], Awaitable[R]], *,
                   timeout_s: float | None = None, retry: bool = True) -> R:
        """``await fn()`` guarded; raises what the last attempt raised, ``CallTimeoutError``
        when an attempt ran too long, ``CallNotPermittedError`` while the breaker is open.
        ``retry=False`` makes one attempt (for calls too long or costly to repeat)."""
        breaker = self.breaker(target)
        limiter = self._limiter if timeout_s is None else TimeLimiter(
            self.name, TimeLimiterConfig(timeout_s))

        async def attempt() -> R:
            async with breaker:
                return await limiter.call(fn)

        return await (self._retry.call(attempt) if retry else attempt())

    def call_sync(self, target: str, fn: Callable[[], R]) -> R:
        """``fn()`` guarded by the breaker and retries (bound its time with its own timeouts).

        Thread-safe: worker threads share the breakers (a lock around their bookkeeping, not
        around ``fn``)."""
        with self._lock:
            breaker = self.breaker(target)
        clock = self._clock

        def attempt() -> R:
            with self._lock:
                breaker.acquire_permission()
            start = clock()
            try:
                result = fn()
            except Exception as exc:
                with self._lock:
                    breaker.on_error(clock() - start, exc)
                raise
            except BaseException:
                with self._lock:
                    breaker.release_permission()
                raise
            with self._lock:
                breaker.on_success(clock() - start)
            return result

        return self._retry.call_sync(attempt)
