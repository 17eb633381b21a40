"""The cache's L2, invalidation and TTL control, and the analyzer, on a real 3-node Redis
Cluster (private, on loopback; ``redis_cluster`` in this folder's conftest)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
import redis
from redis.asyncio import RedisCluster

from intperf.cache import Cache, TtlPolicy
from intperf.cache.analyzer.analyze import analyze_redis
from intperf.cache.control import publish_ttl, read_region, registered_regions
from intperf.cache.tuning import TtlBounds

pytestmark = pytest.mark.integration


@pytest.fixture
async def make_cluster(cluster_url: str) -> AsyncIterator[Callable[[], RedisCluster]]:
    clients: list[RedisCluster] = []

    def make() -> RedisCluster:
        client = RedisCluster.from_url(cluster_url, socket_timeout=2.0,
                                       socket_connect_timeout=1.0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_values_locks_and_invalidation_across_instances(
        make_cluster: Callable[[], RedisCluster]) -> None:
    loads: list[str] = []

    def loader(key: str) -> Callable[[], asyncio.Future[str]]:
        async def load() -> str:
            loads.append(key)
            await asyncio.sleep(0.05)
            return f"v-{key}"
        return load  # type: ignore[return-value]

    # A generous lock wait: on a loaded machine 500 regenerations may queue for seconds.
    async with Cache("cl", redis=make_cluster(), lock_wait_s=60) as a, \
            Cache("cl", redis=make_cluster(), lock_wait_s=60) as b:
        assert a.invalidator is not None and b.invalidator is not None
        assert await a.invalidator.wait_subscribed(10) and await b.invalidator.wait_subscribed(10)
        keys = [f"user:{i}" for i in range(500)]  # spread over the three nodes' slots
        # 1,000 concurrent first reads from both instances (more than a node's pool of 100
        # connections): one load per key (lock across them) and no Redis error.
        got = await asyncio.gather(*(c.get_or_load(k, loader(k)) for k in keys for c in (a, b)))
        assert got == [f"v-{k}" for k in keys for _ in (0, 1)]
        assert a.l2 is not None and b.l2 is not None
        assert (a.l2.errors, b.l2.errors) == (0, 0)
        assert sorted(loads) == sorted(keys)
        # L2 shared: a fresh instance reads without loading.
        async with Cache("cl", redis=make_cluster(), invalidation=False) as c:
            assert await c.get("user:3") == "v-user:3"
            assert c.metrics.counts.hits_l2 == 1
        # Invalidation reaches the other instance's L1.
        await a.set("user:5", "new")
        await until(lambda: b.l1.get("user:5") is None)
        assert await b.get("user:5") == "new"
        await b.delete("user:6")
        await until(lambda: a.l1.get("user:6") is None)
        assert await a.get("user:6") is None


async def test_ttl_control_on_a_cluster(make_cluster: Callable[[], RedisCluster]) -> None:
    bounds = TtlBounds(10, 1000, 0.25)
    policy = TtlPolicy(ttl_s=100, per_class={"user": 40}, jitter=0.0)
    control = make_cluster()
    async with Cache("tcl", redis=make_cluster(), ttl=policy, ttl_bounds=bounds) as a:
        assert "tcl" in await registered_regions(control)
        assert (await read_region(control, "tcl")).ttls == {"": 100.0, "user": 40.0}
        await publish_ttl(control, "tcl", "user", 50.0)
        await until(lambda: a.ttl.per_class["user"] == 50.0)


def test_the_analyzer_covers_every_primary(cluster_url: str, redis_cluster: object) -> None:
    with redis.RedisCluster.from_url(cluster_url) as client:
        for i in range(300):
            client.set(f"order:{i}", "x", ex=600)
        for i in range(30):
            client.set(f"session:{i}", "y")
    report = asyncio.run(analyze_redis(cluster_url, interval_s=0.2, sample=1000))
    doc = report.to_dict()
    assert doc["cluster"] is True and len(doc["nodes"]) == 3
    assert doc["keyspace"]["keys"] == 330
    patterns = {p["pattern"]: p for p in doc["patterns"]}
    assert patterns["order:*"]["keys"] == 300 and patterns["session:*"]["no_ttl"] == 30
    assert set(doc["node_info"]) == set(doc["nodes"])


async def test_keys_without_a_hash_tag_take_the_pipelined_path(
        make_cluster: Callable[[], RedisCluster]) -> None:
    """A key whose tag would be empty ("" or starting with "}") hashes its value and its lock
    to different slots: it must not go through a two-key script (CROSSSLOT), and still load
    once across instances."""
    loads: list[str] = []

    def loader(key: str) -> Callable[[], asyncio.Future[str]]:
        async def load() -> str:
            loads.append(key)
            await asyncio.sleep(0.02)
            return f"v{key}"
        return load  # type: ignore[return-value]

    odd = ["", "}x", "}", "user:1"]
    async with Cache("odd", redis=make_cluster(), invalidation=False) as a, \
            Cache("odd", redis=make_cluster(), invalidation=False) as b:
        assert a.l2 is not None and b.l2 is not None
        assert [a.l2.scripted(a.l2.name(k)) for k in odd] == [False, False, False, True]
        got = await asyncio.gather(*(c.get_or_load(k, loader(k)) for k in odd for c in (a, b)))
        assert got == [f"v{k}" for k in odd for _ in (0, 1)]
        assert sorted(loads) == sorted(odd)
        assert (a.l2.errors, b.l2.errors) == (0, 0)
        async with Cache("odd", redis=make_cluster(), invalidation=False) as c:
            assert [await c.get(k) for k in odd] == [f"v{k}" for k in odd]
