"""Breaker state shared through a real Redis on loopback (the session's redis_server)."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry as RedisRetry
from redis.backoff import NoBackoff

from intperf.resilience import CircuitBreaker, CircuitBreakerConfig, CircuitState
from intperf.resilience.shared import RedisBreakerStore

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_an_opening_in_one_process_opens_the_other(redis_server: Any) -> None:
    wall = Clock(1_700_000_000.0)
    cfg = CircuitBreakerConfig(
        sliding_window_size=2, minimum_number_of_calls=2, wait_duration_in_open_state=30
    )
    a = CircuitBreaker("shared-payments", cfg, clock=Clock(10.0))
    b = CircuitBreaker("shared-payments", cfg, clock=Clock(5000.0))  # another process's clock
    redis = Redis.from_url(redis_server.url)
    try:
        store_a = RedisBreakerStore(redis, wall=wall)
        store_b = RedisBreakerStore(redis, wall=wall)
        store_a.share(a)
        store_b.share(b)
        assert not await store_b.pull(b)
        a.on_error(0.1, OSError())
        a.on_error(0.1, OSError())
        assert a.state is CircuitState.OPEN
        await store_a.drain()
        wall.now += 10
        assert await store_b.pull(b)
        assert b.state is CircuitState.OPEN
        assert b.wait_remaining == pytest.approx(20)
        assert not b.try_acquire_permission()
        assert 0 < await redis.pttl(store_a.key(a)) <= 30_000
        a.transition_to_closed()
        await store_a.drain()
        assert await redis.get(store_a.key(a)) is None
        fresh = CircuitBreaker("shared-payments", cfg, clock=Clock(0.0))
        assert not await store_b.pull(fresh)
        assert store_a.errors == store_b.errors == 0
    finally:
        await redis.delete("intperf:breaker:shared-payments")
        await redis.aclose()


async def test_an_unreachable_redis_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    # no client-side retries: redis-py's default backoff would make this test take seconds
    redis = Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=RedisRetry(NoBackoff(), 0)
    )
    try:
        store = RedisBreakerStore(redis)
        breaker = CircuitBreaker("lonely")
        assert not await store.pull(breaker)
        breaker.transition_to_open()
        await store.publish(breaker)
        assert store.errors == 2
        assert "cannot publish to Redis" in caplog.text
    finally:
        await redis.aclose()
