"""A time limiter for async calls (Resilience4j ``TimeLimiter``, cancelling the running call).

Async only, by design: a sync call cannot be cancelled, and running it in a thread to abandon
it would cost a thread hop per call and leave the work running. Bound sync I/O with its own
timeout (socket, driver) instead.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from intperf.errors import CallTimeoutError

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class TimeLimiterConfig:
    """Resilience4j default: 1 s."""

    timeout_duration: float = 1.0

    def __post_init__(self) -> None:
        if self.timeout_duration <= 0:
            raise ValueError("timeout_duration must be > 0")


class TimeLimiter:
    """Cancels a call that runs past ``timeout_duration`` and raises ``CallTimeoutError``."""

    def __init__(
        self,
        name: str,
        config: TimeLimiterConfig | None = None,
        *,
        on_timeout: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.config = config or TimeLimiterConfig()
        self._on_timeout = on_timeout
        self.timed_out_calls = 0

    async def call(self, fn: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs) -> R:
        """Await ``fn(*args, **kwargs)`` within the timeout."""
        deadline = asyncio.timeout(self.config.timeout_duration)
        try:
            async with deadline:
                return await fn(*args, **kwargs)
        except TimeoutError as exc:
            if not deadline.expired():
                raise  # the call's own timeout, not ours
            self.timed_out_calls += 1
            if self._on_timeout is not None:
                self._on_timeout(self.name)
            raise CallTimeoutError(
                f"{self.name!r} did not complete within {self.config.timeout_duration} s"
            ) from exc

    def __call__(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        """Decorate an async function."""

        @functools.wraps(fn)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            return await self.call(fn, *args, **kwargs)

        return guarded
