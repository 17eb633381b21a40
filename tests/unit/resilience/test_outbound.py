"""OutboundGuards: retries what is retriable, a breaker per target, a time limit per attempt,
one attempt on request, thread-safe sync calls."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest

from intperf.errors import CallNotPermittedError, CallTimeoutError, TargetDatabaseError
from intperf.resilience import CircuitState, OutboundGuards, OutboundPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _no_wait(_s: float) -> None:
    return None


def guards(clock: Clock | None = None, **policy: float) -> OutboundGuards:
    return OutboundGuards("t", OutboundPolicy(**policy),  # type: ignore[arg-type]
                          clock=clock or Clock(), sleep=_no_wait, sync_sleep=lambda _s: None)


async def test_retries_retriable_errors_and_opens_per_target() -> None:
    clock = Clock()
    g = guards(clock)
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("refused")

    with pytest.raises(ConnectionError):
        await g.call("a", down)
    assert calls == 3
    with pytest.raises(CallNotPermittedError):  # the 4th failure opens; no 5th attempt
        await g.call("a", down)
    assert calls == 4
    assert g.states() == {"a": CircuitState.OPEN}

    async def up() -> str:
        return "ok"

    assert await g.call("b", up) == "ok"  # another target is not affected
    clock.now += 30.0  # the wait in open: one trial call closes it again
    assert await g.call("a", up) == "ok"
    assert g.states()["a"] is CircuitState.CLOSED


async def test_not_retriable_errors_are_raised_at_once() -> None:
    g = guards()
    calls = 0

    async def refused() -> None:
        nonlocal calls
        calls += 1
        raise TargetDatabaseError("bad password", retriable=False)

    with pytest.raises(TargetDatabaseError):
        await g.call("a", refused)
    assert calls == 1


async def test_time_limit_per_attempt_and_one_attempt_on_request() -> None:
    g = guards(timeout_s=0.05)
    calls = 0

    async def hangs() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(10)

    with pytest.raises(CallTimeoutError):
        await g.call("a", hangs, retry=False)
    assert calls == 1
    with pytest.raises(CallTimeoutError):
        await g.call("b", hangs, timeout_s=0.01)
    assert calls == 4  # CallTimeoutError is retriable


def test_sync_calls_share_breakers_between_threads() -> None:
    g = guards(max_attempts=1)

    def fails() -> None:
        raise ConnectionError("refused")

    def worker() -> None:
        for _ in range(50):
            with contextlib.suppress(ConnectionError, CallNotPermittedError):
                g.call_sync("db", fails)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    b = g.breaker("db")
    assert b.state is CircuitState.OPEN
    assert b.failed_calls == 4 and b.not_permitted_calls == 196
