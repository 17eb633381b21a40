"""Circuit breaker: Resilience4j's rules on examples, with an injected clock."""

from __future__ import annotations

import asyncio

import pytest

from intperf.errors import CallNotPermittedError, FeederExhaustedError
from intperf.resilience import (
    BreakerEvent,
    BreakerEventKind,
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitState,
    SlidingWindowType,
    exponential_interval,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, **kw: object) -> CircuitBreaker:
    defaults: dict[str, object] = {"sliding_window_size": 4, "minimum_number_of_calls": 4}
    defaults.update(kw)
    return CircuitBreaker("b", CircuitBreakerConfig(**defaults), clock=clock)  # type: ignore[arg-type]


def test_defaults_are_resilience4j() -> None:
    cfg = CircuitBreakerConfig()
    assert cfg.failure_rate_threshold == 50
    assert cfg.slow_call_rate_threshold == 100
    assert cfg.slow_call_duration_threshold == 60
    assert cfg.permitted_number_of_calls_in_half_open_state == 10
    assert cfg.max_wait_duration_in_half_open_state == 0
    assert cfg.sliding_window_type is SlidingWindowType.COUNT_BASED
    assert cfg.sliding_window_size == 100
    assert cfg.minimum_number_of_calls == 100
    assert cfg.wait_duration_in_open_state == 60
    assert cfg.automatic_transition_from_open_to_half_open_enabled is False


def test_rates_only_once_minimum_calls_reached() -> None:
    clock = Clock()
    b = make(clock)
    for _ in range(3):
        assert b.try_acquire_permission()
        b.on_error(0.01, RuntimeError())
    assert b.state is CircuitState.CLOSED
    assert b.failure_rate == -1
    b.on_success(0.01)  # 3 of 4 failed = 75 % >= 50 %
    assert b.state is CircuitState.OPEN


def test_open_rejects_then_half_open_after_wait_then_closes() -> None:
    clock = Clock()
    events: list[BreakerEvent] = []
    b = make(clock, permitted_number_of_calls_in_half_open_state=2, wait_duration_in_open_state=10)
    b.add_listener(events.append)
    b.transition_to_open()
    with pytest.raises(CallNotPermittedError):
        b.acquire_permission()
    assert b.not_permitted_calls == 1
    clock.now += 10
    assert b.state is CircuitState.OPEN  # no automatic transition by default
    assert b.try_acquire_permission()
    assert b.state is CircuitState.HALF_OPEN
    assert b.try_acquire_permission()
    assert not b.try_acquire_permission()  # only two permitted
    b.on_success(0.1)
    assert b.state is CircuitState.HALF_OPEN  # evaluates after the permitted calls
    b.on_success(0.1)
    assert b.state is CircuitState.CLOSED
    kinds = [(e.kind, e.to_state) for e in events]
    assert (BreakerEventKind.STATE_TRANSITION, CircuitState.HALF_OPEN) in kinds
    assert (BreakerEventKind.NOT_PERMITTED, CircuitState.OPEN) in kinds


def test_half_open_failure_reopens_with_exponential_wait() -> None:
    clock = Clock()
    b = make(
        clock,
        permitted_number_of_calls_in_half_open_state=1,
        wait_interval_function_in_open_state=exponential_interval(10, 2),
    )
    b.transition_to_open()
    assert b.retry_after == clock.now + 10
    clock.now += 10
    assert b.try_acquire_permission()
    b.on_error(0.1, OSError())
    assert b.state is CircuitState.OPEN
    assert b.retry_after == clock.now + 20


def test_slow_calls_open_the_breaker() -> None:
    clock = Clock()
    b = make(clock, slow_call_duration_threshold=1.0, slow_call_rate_threshold=50)
    for d in (2.0, 2.0, 0.1, 0.1):
        b.on_success(d)
    assert b.state is CircuitState.OPEN
    assert b.slow_call_rate == 50


def test_exception_classification() -> None:
    clock = Clock()
    b = make(clock, record_exceptions=(OSError,), ignore_exceptions=(ConnectionResetError,))
    b.on_error(0.1, ValueError())  # not recorded: a success
    b.on_error(0.1, ConnectionResetError())  # ignored
    snap = b.snapshot()
    assert (snap.total_calls, snap.failed_calls) == (1, 0)
    b.on_error(0.1, OSError())
    assert b.snapshot().failed_calls == 1
    plain = make(clock)
    plain.on_error(0.1, FeederExhaustedError())  # counts_as_failure=False: ignored by default
    assert plain.snapshot().total_calls == 0


def test_time_based_window_forgets_old_seconds() -> None:
    clock = Clock()
    b = make(clock, sliding_window_type=SlidingWindowType.TIME_BASED, minimum_number_of_calls=2)
    b.on_error(0.1, OSError())
    clock.now += 5  # the window is 4 s: that failure is gone
    b.on_success(0.1)
    b.on_success(0.1)
    assert b.snapshot().failed_calls == 0
    b.on_error(0.1, OSError())
    b.on_error(0.1, OSError())
    assert b.state is CircuitState.OPEN


def test_automatic_transition_and_max_wait_in_half_open() -> None:
    clock = Clock()
    b = make(
        clock,
        automatic_transition_from_open_to_half_open_enabled=True,
        wait_duration_in_open_state=5,
        max_wait_duration_in_half_open_state=3,
    )
    b.transition_to_open()
    clock.now += 5
    assert b.state is CircuitState.HALF_OPEN
    clock.now += 3
    assert b.state is CircuitState.OPEN


def test_special_states() -> None:
    clock = Clock()
    b = make(clock)
    b.transition_to_disabled()
    for _ in range(10):
        assert b.try_acquire_permission()
        b.on_error(0.1, OSError())
    assert b.state is CircuitState.DISABLED
    b.transition_to_metrics_only()
    for _ in range(10):
        b.on_error(0.1, OSError())
    assert b.state is CircuitState.METRICS_ONLY
    assert b.failure_rate == 100
    b.transition_to_forced_open()
    assert not b.try_acquire_permission()
    b.reset()
    assert b.state is CircuitState.CLOSED
    assert b.not_permitted_calls == 0


def test_decorators_and_context_managers() -> None:
    clock = Clock()
    b = make(clock, minimum_number_of_calls=2, sliding_window_size=2)

    @b
    def ok(x: int) -> int:
        return x + 1

    @b
    async def boom() -> None:
        raise OSError("down")

    assert ok(1) == 2
    with pytest.raises(OSError):
        asyncio.run(boom())
    assert b.state is CircuitState.OPEN
    with pytest.raises(CallNotPermittedError):
        ok(1)

    c = make(clock, minimum_number_of_calls=1, sliding_window_size=1)

    async def use() -> None:
        async with c:
            clock.now += 0.5
        with pytest.raises(KeyError):
            async with c:
                raise KeyError("x")

    asyncio.run(use())
    assert c.state is CircuitState.OPEN
    with pytest.raises(CallNotPermittedError), c:
        pass


def test_cancellation_releases_half_open_permit() -> None:
    clock = Clock()
    b = make(clock, permitted_number_of_calls_in_half_open_state=1)
    b.transition_to_half_open()

    async def slow() -> None:
        async with b:
            await asyncio.sleep(3600)

    async def run() -> None:
        task = asyncio.ensure_future(slow())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert b.try_acquire_permission()


def test_record_result_predicate() -> None:
    clock = Clock()
    b = make(clock, minimum_number_of_calls=1, record_result=lambda r: r is None)

    @b
    def lookup() -> None:
        return None

    lookup()
    assert b.state is CircuitState.OPEN
