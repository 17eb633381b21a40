"""Redis round trips and commands per lookup of ``get_or_load``, counted on the private
redis-server: round trips by a connection class that counts what it sends (a pipeline is one
send), commands by ``INFO commandstats`` (commands run inside a script count there too)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Connection, Redis

from intperf.cache import Cache, TtlPolicy
from intperf.cache.l2 import LOCK_SUFFIX

pytestmark = pytest.mark.integration


class CountingConnection(Connection):
    """Counts the round trips (sends) of every connection of a pool."""

    sends = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sends += 1
        await super().send_packed_command(command, check_health)


@pytest.fixture
async def counted(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, connection_class=CountingConnection)
    yield client
    await client.aclose()


async def commands(client: Redis) -> dict[str, int]:
    stats = await client.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


async def measure(client: Redis, op: Callable[[], Awaitable[Any]]) -> tuple[int, dict[str, int]]:
    """(round trips, commands by name) of ``op``; INFO itself is left out."""
    await client.config_resetstat()
    before = CountingConnection.sends
    await op()
    trips = CountingConnection.sends - before
    stats = await commands(client)
    stats.pop("config|resetstat", None)
    return trips, stats


def loader_returning(value: Any) -> tuple[list[int], Callable[[], Awaitable[Any]]]:
    calls: list[int] = []

    async def load() -> Any:
        calls.append(1)
        return value

    return calls, load


async def test_a_miss_costs_two_round_trips_and_an_l2_hit_one(counted: Redis) -> None:
    calls, load = loader_returning({"v": 1})
    async with Cache("rtt", redis=counted, invalidation=False) as a, \
            Cache("rtt", redis=counted, invalidation=False) as b:
        await a.get_or_load("warm", load)  # loads the scripts (NOSCRIPT once, then EVALSHA)

        trips, stats = await measure(counted, lambda: a.get_or_load("user:1", load))
        # One script reads the value and, absent, takes the lock; one stores and unlocks.
        assert trips == 2
        assert stats == {"evalsha": 2, "get": 2, "set": 2, "del": 1}
        assert calls == [1, 1]

        trips, stats = await measure(counted, lambda: b.get_or_load("user:1", load))
        assert trips == 1  # an L2 hit: the script finds the value and writes nothing
        assert stats == {"evalsha": 1, "get": 1}
        assert calls == [1, 1]
        assert b.metrics.counts.hits_l2 == 1

        trips, _ = await measure(counted, lambda: b.get_or_load("user:1", load))
        assert trips == 0  # an L1 hit
        assert await counted.exists(f"intperf:cache:rtt:{{user:1}}{LOCK_SUFFIX}") == 0


async def test_layout_of_values_and_locks(counted: Redis) -> None:
    gate = asyncio.Event()

    async def slow() -> str:
        await gate.wait()
        return "x"

    async with Cache("lay", redis=counted, invalidation=False) as cache:
        task = asyncio.create_task(cache.get_or_load("user:7", slow))
        for _ in range(200):  # the lock is taken before the loader runs
            if await counted.exists("intperf:cache:lay:{user:7}:lock"):
                break
            await asyncio.sleep(0.005)
        assert await counted.exists("intperf:cache:lay:{user:7}:lock") == 1
        gate.set()
        assert await task == "x"
        assert await counted.exists("intperf:cache:lay:{user:7}") == 1
        assert await counted.exists("intperf:cache:lay:{user:7}:lock") == 0


async def test_concurrent_misses_share_one_script_and_one_load(counted: Redis) -> None:
    calls, load = loader_returning("v")
    async with Cache("share", redis=counted, invalidation=False) as cache:
        await cache.get_or_load("warm", load)
        trips, stats = await measure(counted, lambda: asyncio.gather(
            *(cache.get_or_load("hot", load) for _ in range(100))))
        assert trips == 2 and stats["evalsha"] == 2
        assert len(calls) == 2
        assert cache.metrics.counts.misses == 101  # every caller's lookup is counted


async def test_stale_value_in_l2_is_served_while_one_refresh_runs(make_client: Any) -> None:
    calls, load = loader_returning("old")
    ttl = TtlPolicy(ttl_s=0.2, jitter=0, stale_s=30)
    async with Cache("swr", redis=make_client(), ttl=ttl, xfetch_beta=0,
                     invalidation=False) as a:
        assert await a.get_or_load("k", load) == "old"
    await asyncio.sleep(0.3)  # expired, within the stale window
    new_calls, new = loader_returning("new")
    async with Cache("swr", redis=make_client(), ttl=ttl, xfetch_beta=0,
                     invalidation=False) as b:
        got = await asyncio.gather(*(b.get_or_load("k", new) for _ in range(50)))
        assert set(got) == {"old"}  # from L2, at once
        assert b.metrics.counts.stale_served == 50 and b.metrics.counts.hits_l2 == 50
        for _ in range(500):
            if new_calls:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert new_calls == [1]  # one refresh, under the lock
        assert await b.get_or_load("k", new) == "new"
    assert calls == [1]


async def test_decode_responses_client(redis_url: str) -> None:
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        calls, load = loader_returning({"name": "ada"})
        async with Cache("dec", redis=client, invalidation=False) as a, \
                Cache("dec", redis=client, invalidation=False) as b:
            assert await a.get_or_load("u", load) == {"name": "ada"}
            assert await b.get_or_load("u", load) == {"name": "ada"}
            assert calls == [1] and b.metrics.counts.hits_l2 == 1
            assert a.l2 is not None and a.l2.errors == 0
    finally:
        await client.aclose()


async def test_a_miss_lookup_is_timed_without_the_load(make_client: Any) -> None:
    from prometheus_client import CollectorRegistry

    from intperf.cache import RegionMetrics

    async def slow() -> str:
        await asyncio.sleep(0.3)
        return "v"

    registry = CollectorRegistry()
    metrics = RegionMetrics("timed", registry=registry)
    async with Cache("timed", redis=make_client(), metrics=metrics, invalidation=False) as c:
        assert await c.get_or_load("k", slow) == "v"
    lookups = registry.get_sample_value("intperf_cache_lookup_seconds_sum", {"region": "timed"})
    loads = registry.get_sample_value("intperf_cache_load_seconds_sum", {"region": "timed"})
    assert lookups is not None and loads is not None
    assert metrics.counts.misses == 1
    assert lookups < 0.2 <= loads  # the lookup ends when L2 answers, the load is apart
