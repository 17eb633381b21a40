"""The multi-level cache against a real Redis: L2 between instances, invalidation, stampede
(in and across instances), Redis stopped and restarted mid-test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from intperf.cache import Cache, CacheBackendError, MsgpackSerializer, TtlPolicy

pytestmark = pytest.mark.integration

MakeClient = Callable[[], Redis]


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.02)


async def test_l2_round_trip_between_instances(make_client: MakeClient) -> None:
    async with Cache("rt", redis=make_client(), serializer=MsgpackSerializer()) as a, \
            Cache("rt", redis=make_client(), serializer=MsgpackSerializer()) as b:
        await a.set("user:1", {"name": "ada", "tags": [1, 2]})
        assert await b.get("user:1") == {"name": "ada", "tags": [1, 2]}
        assert b.metrics.counts.hits_l2 == 1
        assert await b.get("user:1") == {"name": "ada", "tags": [1, 2]}
        assert b.metrics.counts.hits_l1 == 1

        async def never() -> Any:
            raise AssertionError("loader must not run: the value is in L2")

        assert (await b.get_or_load("user:1", never))["name"] == "ada"


async def test_invalidation_reaches_the_other_instance(make_client: MakeClient) -> None:
    async with Cache("inv", redis=make_client()) as a, Cache("inv", redis=make_client()) as b:
        assert a.invalidator is not None and b.invalidator is not None
        assert await a.invalidator.wait_subscribed()
        assert await b.invalidator.wait_subscribed()
        await a.set("k", 1)
        assert await b.get("k") == 1  # now in b's L1
        await a.set("k", 2)

        async def b_sees_2() -> bool:
            return await b.get("k") == 2

        await eventually(b_sees_2)
        assert b.invalidator.received >= 1
        assert a.invalidator.received == 0  # its own messages are ignored
        await b.delete("k")

        async def a_dropped() -> bool:
            return await a.get("k") is None

        await eventually(a_dropped)


def counting_loader(delay_s: float = 0.05) -> tuple[list[int], Callable[[], Awaitable[int]]]:
    calls: list[int] = []

    async def loader() -> int:
        calls.append(1)
        await asyncio.sleep(delay_s)
        return len(calls)

    return calls, loader


async def test_stampede_one_process(make_client: MakeClient) -> None:
    calls, loader = counting_loader()
    ttl = TtlPolicy(ttl_s=0.5, jitter=0)
    async with Cache("st1", redis=make_client(), ttl=ttl, xfetch_beta=0) as cache:
        for expiry in (1, 2):
            got = await asyncio.gather(*(cache.get_or_load("hot", loader) for _ in range(1000)))
            assert set(got) == {expiry}
            assert len(calls) == expiry

            async def expired() -> bool:
                entry = cache.l1.get("hot")
                return entry is None or time.time() >= entry.fresh_until

            await eventually(expired)


async def test_stampede_two_instances_share_the_lock(make_client: MakeClient) -> None:
    calls, loader = counting_loader(0.1)
    ttl = TtlPolicy(ttl_s=0.5, jitter=0)
    async with Cache("st2", redis=make_client(), ttl=ttl, xfetch_beta=0) as a, \
            Cache("st2", redis=make_client(), ttl=ttl, xfetch_beta=0) as b:
        for expiry in (1, 2):
            readers = [c.get_or_load("hot", loader) for c in (a, b) for _ in range(500)]
            got = await asyncio.gather(*readers)
            assert set(got) == {expiry}
            assert len(calls) == expiry
            assert a.metrics.counts.lock_waits + b.metrics.counts.lock_waits >= 1

            async def expired() -> bool:
                entries = [e for e in (a.l1.get("hot"), b.l1.get("hot")) if e is not None]
                return all(time.time() >= e.fresh_until for e in entries)

            await eventually(expired)


async def test_redis_stopped_and_restarted(make_client: MakeClient, redis_server: Any) -> None:
    calls, loader = counting_loader(0.0)
    async with Cache("down", redis=make_client()) as cache:
        assert cache.l2 is not None and cache.invalidator is not None
        await cache.set("kept", "v")
        redis_server.stop()
        try:
            # Served from L1, and misses go to the loader: nothing raises.
            assert await cache.get("kept") == "v"
            assert await cache.get_or_load("new", loader) == 1
            assert calls == [1]
            await cache.set("other", "x")
            await cache.delete("other")
            assert await cache.get("absent") is None
            assert not cache.l2.up
            assert cache.metrics.counts.backend_errors >= 1
        finally:
            redis_server.start()

        async def recovered() -> bool:
            await cache.set("after", "back")
            return cache.l2 is not None and cache.l2.up

        await eventually(recovered)
        async with Cache("down", redis=make_client()) as other:
            assert await other.get("after") == "back"  # went through L2
            assert other.metrics.counts.hits_l2 == 1
        assert await cache.invalidator.wait_subscribed(15.0)


async def test_raise_when_configured(make_client: MakeClient, redis_server: Any) -> None:
    async with Cache("raise", redis=make_client(), raise_on_backend_error=True,
                     invalidation=False) as cache:
        redis_server.stop()
        try:
            with pytest.raises(CacheBackendError) as info:
                await cache.get("k")
            assert info.value.retriable
        finally:
            redis_server.start()


async def test_xfetch_refreshes_before_expiry_with_redis(make_client: MakeClient) -> None:
    """An early refresh must load even though L2 still holds the (fresh) entry it replaces."""
    calls, loader = counting_loader(0.01)
    # rand() = 1e-300: delta * -ln(rand) >= 0.01 * 690 s > the 5 s TTL, so every hit asks
    # for an early refresh.
    async with Cache("xf", redis=make_client(), ttl=TtlPolicy(ttl_s=5, jitter=0),
                     xfetch_beta=1.0, rand=lambda: 1e-300) as cache:
        assert await cache.get_or_load("k", loader) == 1
        assert await cache.get_or_load("k", loader) == 1  # served, refresh started

        async def refreshed() -> bool:
            return len(calls) >= 2 and await cache.get("k") == 2

        await eventually(refreshed)
        assert cache.metrics.counts.early_refreshes >= 1
