"""Retry with exponential backoff and full jitter, predicates, and a shared retry budget.

Backoff: ``sleep = uniform(0, min(max_interval, initial_interval * multiplier**(attempt-1)))``
("Exponential Backoff And Jitter", AWS Architecture Blog, 2015). The budget is gRPC's retry
throttling (gRFC A6): a token bucket shared by every call, drained by failures and refilled by
successes, that stops retries (not first attempts) when half empty.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import inspect
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar, cast

P = ParamSpec("P")
R = TypeVar("R")

_TRANSIENT: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)


def default_retry_on(exc: BaseException) -> bool:
    """An error's own ``retriable`` flag if it has one, else connection errors and timeouts."""
    flag = getattr(exc, "retriable", None)
    if flag is not None:
        return bool(flag)
    return isinstance(exc, _TRANSIENT)


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """Attempts and backoff (seconds); ``max_attempts`` counts the first call (Resilience4j)."""

    max_attempts: int = 3
    initial_interval: float = 0.5
    multiplier: float = 2.0
    max_interval: float = 30.0
    retry_on_exception: Callable[[BaseException], bool] = default_retry_on
    retry_on_result: Callable[[object], bool] | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.initial_interval < 0 or self.multiplier < 1 or self.max_interval < 0:
            raise ValueError("need initial_interval >= 0, multiplier >= 1, max_interval >= 0")

    def backoff_cap(self, attempt: int) -> float:
        """The upper bound of the jittered wait after the ``attempt``-th failure (1-based)."""
        return min(self.max_interval, self.initial_interval * self.multiplier ** (attempt - 1))


class RetryBudget:
    """gRPC retry throttling: ``max_tokens`` (default 10), ``token_ratio`` refill per success.

    Share one budget across calls to a dependency so a storm of failures cannot multiply the
    load by ``max_attempts``.
    """

    __slots__ = ("max_tokens", "token_ratio", "tokens")

    def __init__(self, max_tokens: float = 10.0, token_ratio: float = 0.1) -> None:
        if max_tokens <= 0 or token_ratio <= 0:
            raise ValueError("max_tokens and token_ratio must be > 0")
        self.max_tokens = max_tokens
        self.token_ratio = token_ratio
        self.tokens = max_tokens

    def on_success(self) -> None:
        """A call succeeded: refill ``token_ratio``."""
        self.tokens = min(self.max_tokens, self.tokens + self.token_ratio)

    def on_failure(self) -> None:
        """A call failed: drain one token."""
        self.tokens = max(0.0, self.tokens - 1)

    def can_retry(self) -> bool:
        """Retries are allowed while more than half the tokens remain."""
        return self.tokens > self.max_tokens / 2


class RetryEventKind(enum.Enum):
    """What a retry event reports."""

    RETRY = "RETRY"
    EXHAUSTED = "EXHAUSTED"
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """A retry about to wait ``wait`` seconds, or the end of retrying."""

    retry: str
    kind: RetryEventKind
    attempt: int
    wait: float
    error: BaseException | None


class Retry:
    """Retries a call; the decision is pure (``next_wait``), the loops only sleep."""

    def __init__(
        self,
        name: str,
        config: RetryConfig | None = None,
        *,
        budget: RetryBudget | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        sync_sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        on_event: Callable[[RetryEvent], None] | None = None,
    ) -> None:
        self.name = name
        self.config = config or RetryConfig()
        self.budget = budget
        self._sleep = sleep
        self._sync_sleep = sync_sleep
        self._rng = rng
        self._on_event = on_event

    def _emit(
        self, kind: RetryEventKind, attempt: int, wait: float, exc: BaseException | None
    ) -> None:
        if self._on_event is not None:
            self._on_event(RetryEvent(self.name, kind, attempt, wait, exc))

    def next_wait(
        self, attempt: int, exc: BaseException | None, result: object = None
    ) -> float | None:
        """Seconds to wait before another attempt after ``attempt`` failed, or None to stop.

        ``exc`` is the error raised, or None when the call returned ``result``.
        """
        cfg = self.config
        budget = self.budget
        if exc is None:
            if cfg.retry_on_result is None or not cfg.retry_on_result(result):
                if budget is not None:
                    budget.on_success()
                return None
        elif not cfg.retry_on_exception(exc):
            return None
        if budget is not None:
            budget.on_failure()
        if attempt >= cfg.max_attempts:
            self._emit(RetryEventKind.EXHAUSTED, attempt, 0.0, exc)
            return None
        if budget is not None and not budget.can_retry():
            self._emit(RetryEventKind.BUDGET_EXHAUSTED, attempt, 0.0, exc)
            return None
        wait = self._rng() * cfg.backoff_cap(attempt)
        self._emit(RetryEventKind.RETRY, attempt, wait, exc)
        return wait

    async def call(self, fn: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs) -> R:
        """Await ``fn(*args, **kwargs)`` until it succeeds or retrying stops."""
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await fn(*args, **kwargs)
            except Exception as exc:
                wait = self.next_wait(attempt, exc)
                if wait is None:
                    raise
            else:
                wait = self.next_wait(attempt, None, result)
                if wait is None:
                    return result
            await self._sleep(wait)

    def call_sync(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``fn(*args, **kwargs)`` until it succeeds or retrying stops."""
        attempt = 0
        while True:
            attempt += 1
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                wait = self.next_wait(attempt, exc)
                if wait is None:
                    raise
            else:
                wait = self.next_wait(attempt, None, result)
                if wait is None:
                    return result
            self._sync_sleep(wait)

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate a sync or async function."""
        if inspect.iscoroutinefunction(fn):
            afn = cast(Callable[P, Awaitable[object]], fn)

            @functools.wraps(fn)
            async def aguarded(*args: P.args, **kwargs: P.kwargs) -> object:
                return await self.call(afn, *args, **kwargs)

            return cast(Callable[P, R], aguarded)

        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            return self.call_sync(fn, *args, **kwargs)

        return guarded
