"""Retry, bulkhead, rate limiter, time limiter and composition, with injected clocks and sleeps."""

from __future__ import annotations

import asyncio

import pytest

from intperf.errors import (
    BulkheadFullError,
    CallNotPermittedError,
    CallTimeoutError,
    RequestNotPermittedError,
    StorageError,
)
from intperf.resilience import (
    Bulkhead,
    BulkheadConfig,
    CircuitBreaker,
    CircuitBreakerConfig,
    RateLimiter,
    RateLimiterConfig,
    Retry,
    RetryBudget,
    RetryConfig,
    RetryEvent,
    TimeLimiter,
    TimeLimiterConfig,
    decorate,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep_sync(self, s: float) -> None:
        self.slept.append(s)
        self.now += s

    async def sleep(self, s: float) -> None:
        self.sleep_sync(s)


def flaky(failures: int, exc: Exception) -> tuple[list[int], object]:
    calls = [0]

    def fn() -> str:
        calls[0] += 1
        if calls[0] <= failures:
            raise exc
        return "ok"

    return calls, fn


def test_retry_full_jitter_backoff_and_exhaustion() -> None:
    clock = Clock()
    events: list[RetryEvent] = []
    retry = Retry(
        "r",
        RetryConfig(max_attempts=4, initial_interval=1.0, multiplier=2.0, max_interval=3.0),
        sync_sleep=clock.sleep_sync,
        rng=lambda: 0.5,
        on_event=events.append,
    )
    calls, fn = flaky(10, ConnectionError("down"))
    with pytest.raises(ConnectionError):
        retry.call_sync(fn)  # type: ignore[arg-type]
    assert calls[0] == 4
    assert clock.slept == [0.5, 1.0, 1.5]  # 0.5 * min(3, 1, 2, 4)
    assert events[-1].kind.value == "EXHAUSTED"


def test_retry_respects_retriable_flags_and_predicates() -> None:
    clock = Clock()
    retry = Retry("r", sync_sleep=clock.sleep_sync, rng=lambda: 0.0)
    calls, fn = flaky(1, StorageError("locked"))
    assert retry.call_sync(fn) == "ok"  # type: ignore[arg-type]
    calls, fn = flaky(1, StorageError("bad url", retriable=False))
    with pytest.raises(StorageError):
        retry.call_sync(fn)  # type: ignore[arg-type]
    assert calls[0] == 1
    calls, fn = flaky(1, ValueError("bug"))
    with pytest.raises(ValueError):
        retry.call_sync(fn)  # type: ignore[arg-type]
    results = iter([None, None, 7])
    by_result = Retry(
        "r",
        RetryConfig(retry_on_result=lambda r: r is None),
        sync_sleep=clock.sleep_sync,
    )
    assert by_result.call_sync(lambda: next(results)) == 7


def test_retry_budget_stops_retries_not_first_attempts() -> None:
    budget = RetryBudget(max_tokens=4, token_ratio=0.5)
    clock = Clock()
    retry = Retry("r", RetryConfig(max_attempts=10), budget=budget, sync_sleep=clock.sleep_sync)
    calls, fn = flaky(100, ConnectionError())
    with pytest.raises(ConnectionError):
        retry.call_sync(fn)  # type: ignore[arg-type]
    assert calls[0] == 2  # 4 -> 3 retry, 3 -> 2 = half: stop
    calls2, fn2 = flaky(100, ConnectionError())
    with pytest.raises(ConnectionError):
        retry.call_sync(fn2)  # type: ignore[arg-type]
    assert calls2[0] == 1
    for _ in range(4):
        budget.on_success()
    assert budget.can_retry()


def test_retry_async_decorator() -> None:
    clock = Clock()
    retry = Retry("r", sleep=clock.sleep, rng=lambda: 1.0)
    calls = [0]

    @retry
    async def fetch() -> int:
        calls[0] += 1
        if calls[0] < 3:
            raise TimeoutError
        return 42

    assert asyncio.run(fetch()) == 42
    assert clock.slept == [0.5, 1.0]


def test_bulkhead_rejects_when_full_and_waits() -> None:
    async def run() -> None:
        bh = Bulkhead("b", BulkheadConfig(max_concurrent_calls=1))
        gate = asyncio.Event()

        async def hold() -> None:
            async with bh:
                await gate.wait()

        task = asyncio.ensure_future(hold())
        await asyncio.sleep(0)
        with pytest.raises(BulkheadFullError):
            await bh.acquire()
        waiting = Bulkhead("w", BulkheadConfig(max_concurrent_calls=1, max_wait_duration=60))
        await waiting.acquire()
        second = asyncio.ensure_future(waiting.acquire())
        await asyncio.sleep(0)
        assert not second.done()
        waiting.release()
        await second
        gate.set()
        await task
        assert bh.available_concurrent_calls == 1
        assert bh.rejected_calls == 1

    asyncio.run(run())
    sync = Bulkhead("s", BulkheadConfig(max_concurrent_calls=1))
    with sync, pytest.raises(BulkheadFullError), sync:
        pass


def test_rate_limiter_atomic_semantics() -> None:
    clock = Clock()
    rl = RateLimiter(
        "l",
        RateLimiterConfig(limit_for_period=2, limit_refresh_period=1.0, timeout_duration=1.5),
        clock=clock,
        sync_sleep=clock.sleep_sync,
    )
    assert rl.reserve() == 0.0
    assert rl.reserve() == 0.0
    clock.now = 0.25
    assert rl.reserve() == 0.75  # waits for the next cycle
    assert rl.reserve() == 0.75
    assert rl.reserve() is None  # would wait 1.75 s > 1.5 s: rejected, nothing reserved
    assert rl.available_permissions == -2
    clock.now = 1.0
    assert rl.available_permissions == 0
    clock.now = 5.0
    assert rl.available_permissions == 2  # no piling up beyond one period
    rl.acquire_sync(2)
    with pytest.raises(RequestNotPermittedError):
        rl.acquire_sync(5)
    rl.acquire_sync()
    assert clock.slept == [1.0]


def test_time_limiter_cancels_and_raises() -> None:
    tl = TimeLimiter("t", TimeLimiterConfig(timeout_duration=0.001))

    async def forever() -> None:
        await asyncio.Event().wait()

    async def own_timeout() -> None:
        raise TimeoutError("driver")

    with pytest.raises(CallTimeoutError):
        asyncio.run(tl.call(forever))
    with pytest.raises(TimeoutError) as info:
        asyncio.run(tl.call(own_timeout))
    assert not isinstance(info.value, CallTimeoutError)
    assert tl.timed_out_calls == 1


def test_compose_order_retry_outside_breaker() -> None:
    clock = Clock()
    breaker = CircuitBreaker(
        "c",
        CircuitBreakerConfig(sliding_window_size=2, minimum_number_of_calls=2),
        clock=clock,
    )
    retry = Retry("r", RetryConfig(max_attempts=5), sleep=clock.sleep, rng=lambda: 0.0)
    calls = [0]

    async def down() -> None:
        calls[0] += 1
        raise ConnectionError

    guarded = decorate(down, retry=retry, circuit_breaker=breaker, bulkhead=Bulkhead("b"))
    with pytest.raises(CallNotPermittedError):  # opened after 2 attempts; rejection not retried
        asyncio.run(guarded())
    assert calls[0] == 2
    with pytest.raises(TypeError):
        decorate(lambda: None, time_limiter=TimeLimiter("t"))
