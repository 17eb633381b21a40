"""A rate limiter with Resilience4j ``AtomicRateLimiter`` semantics.

Time is cut into cycles of ``limit_refresh_period`` from the limiter's creation; each cycle
grants ``limit_for_period`` permissions (unused ones do not pile up beyond one period). A call
that would have to wait longer than ``timeout_duration`` is rejected without reserving; one that
fits reserves its permissions at once (the count may go negative) and sleeps until its cycle.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar, cast

from intperf.errors import RequestNotPermittedError

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class RateLimiterConfig:
    """Resilience4j defaults: 50 per period, 500 ns refresh period, 5 s timeout (seconds)."""

    limit_for_period: int = 50
    limit_refresh_period: float = 500e-9
    timeout_duration: float = 5.0

    def __post_init__(self) -> None:
        if self.limit_for_period < 1 or self.limit_refresh_period <= 0:
            raise ValueError("need limit_for_period >= 1 and limit_refresh_period > 0")
        if self.timeout_duration < 0:
            raise ValueError("timeout_duration must be >= 0")


class RateLimiter:
    """The pure ``reserve`` decides; ``acquire``/``acquire_sync`` only sleep."""

    def __init__(
        self,
        name: str,
        config: RateLimiterConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        sync_sleep: Callable[[float], None] = time.sleep,
        on_reject: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.config = config or RateLimiterConfig()
        self._clock = clock
        self._sleep = sleep
        self._sync_sleep = sync_sleep
        self._on_reject = on_reject
        self._start = clock()
        self._cycle = 0
        self._permissions = self.config.limit_for_period
        self.rejected_calls = 0

    def _refresh(self, elapsed: float) -> int:
        cfg = self.config
        cycle = math.floor(elapsed / cfg.limit_refresh_period)
        if cycle != self._cycle:
            accumulated = (cycle - self._cycle) * cfg.limit_for_period
            self._permissions = min(self._permissions + accumulated, cfg.limit_for_period)
            self._cycle = cycle
        return cycle

    @property
    def available_permissions(self) -> int:
        """Permissions left in the current cycle (negative when reserved ahead)."""
        self._refresh(self._clock() - self._start)
        return self._permissions

    def reserve(self, permits: int = 1, timeout: float | None = None) -> float | None:
        """Reserve ``permits``; the seconds to wait before using them, or None if rejected."""
        cfg = self.config
        elapsed = self._clock() - self._start
        cycle = self._refresh(elapsed)
        available = self._permissions
        if available >= permits:
            wait = 0.0
        else:
            to_next_cycle = (cycle + 1) * cfg.limit_refresh_period - elapsed
            at_next_cycle = available + cfg.limit_for_period
            full_cycles = -((at_next_cycle - permits) // cfg.limit_for_period)  # ceil division
            wait = max(0, full_cycles) * cfg.limit_refresh_period + to_next_cycle
        limit = cfg.timeout_duration if timeout is None else timeout
        if wait > limit:
            self.rejected_calls += 1
            if self._on_reject is not None:
                self._on_reject(self.name)
            return None
        self._permissions = available - permits
        return wait

    def _reserve_or_raise(self, permits: int) -> float:
        wait = self.reserve(permits)
        if wait is None:
            raise RequestNotPermittedError(f"rate limiter {self.name!r} does not permit more calls")
        return wait

    async def acquire(self, permits: int = 1) -> None:
        """Wait for ``permits``; raises ``RequestNotPermittedError`` past the timeout."""
        wait = self._reserve_or_raise(permits)
        if wait > 0:
            await self._sleep(wait)

    def acquire_sync(self, permits: int = 1) -> None:
        """Thread version of ``acquire``."""
        wait = self._reserve_or_raise(permits)
        if wait > 0:
            self._sync_sleep(wait)

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate a sync or async function (one permission per call)."""
        if inspect.iscoroutinefunction(fn):
            afn = cast(Callable[P, Awaitable[object]], fn)

            @functools.wraps(fn)
            async def aguarded(*args: P.args, **kwargs: P.kwargs) -> object:
                await self.acquire()
                return await afn(*args, **kwargs)

            return cast(Callable[P, R], aguarded)

        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            self.acquire_sync()
            return fn(*args, **kwargs)

        return guarded
