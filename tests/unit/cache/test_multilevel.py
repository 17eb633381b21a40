"""The multi-level cache without Redis: single flight, negative caching, stale serving,
XFetch, TTL jitter, serializers, decorators, sync wrapper and metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from intperf.cache import (
    Cache,
    JsonSerializer,
    MsgpackSerializer,
    PickleSerializer,
    RegionMetrics,
    SyncCache,
    TtlPolicy,
    cached,
    serializer,
)
from intperf.cache.policy import Entry, should_refresh_early


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_single_flight_1000_readers() -> None:
    calls = 0
    gate = asyncio.Event()

    async def loader() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return "v"

    cache = Cache("t", xfetch_beta=0)
    readers = [asyncio.create_task(cache.get_or_load("k", loader)) for _ in range(1000)]
    await asyncio.sleep(0)
    gate.set()
    assert set(await asyncio.gather(*readers)) == {"v"}
    assert calls == 1
    assert await cache.get_or_load("k", loader) == "v"
    assert calls == 1
    assert cache.metrics.counts.hits_l1 == 1


async def test_expiry_regenerates_once_per_expiry() -> None:
    clock = Clock()
    calls = 0

    async def loader() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.001)
        return calls

    cache = Cache("t", clock=clock, ttl=TtlPolicy(ttl_s=10, jitter=0), xfetch_beta=0)
    for expiry in range(1, 4):
        got = await asyncio.gather(*(cache.get_or_load("k", loader) for _ in range(1000)))
        assert set(got) == {expiry}
        clock.now += 10.0
    assert calls == 3


async def test_negative_caching() -> None:
    clock = Clock()
    calls = 0

    async def loader() -> None:
        nonlocal calls
        calls += 1

    cache = Cache("t", clock=clock, ttl=TtlPolicy(negative_ttl_s=5, jitter=0))
    assert await cache.get_or_load("missing", loader) is None
    assert await cache.get_or_load("missing", loader) is None
    assert calls == 1
    clock.now += 5
    await cache.get_or_load("missing", loader)
    assert calls == 2


async def test_stale_while_revalidate() -> None:
    clock = Clock()
    version = 0
    gate = asyncio.Event()

    async def loader() -> int:
        nonlocal version
        if version:
            await gate.wait()
        version += 1
        return version

    cache = Cache("t", clock=clock, ttl=TtlPolicy(ttl_s=10, jitter=0, stale_s=30), xfetch_beta=0)
    assert await cache.get_or_load("k", loader) == 1
    clock.now += 15  # expired but servable
    assert await cache.get_or_load("k", loader) == 1  # stale, refresh started
    assert cache.metrics.counts.stale_served == 1
    gate.set()
    for _ in range(100):
        await asyncio.sleep(0)
        if version == 2:
            break
    await asyncio.sleep(0)
    assert await cache.get_or_load("k", loader) == 2
    clock.now += 100  # beyond the stale window: a blocking load
    gate.set()
    assert await cache.get_or_load("k", loader) == 3
    await cache.close()


def test_xfetch_rule() -> None:
    e = Entry("v", delta_s=1.0, fresh_until=100.0, stale_until=100.0)
    assert not should_refresh_early(e, 90.0, 1.0, 0.5)  # 90 + 0.69 < 100
    assert should_refresh_early(e, 99.5, 1.0, 0.5)  # 99.5 + 0.69 >= 100
    assert should_refresh_early(e, 100.0, 0.0, 0.5)
    assert not should_refresh_early(e, 99.9, 0.0, 1e-9)


def test_ttl_policy_jitter_and_classes() -> None:
    p = TtlPolicy(ttl_s=100, per_class={"user": 10}, jitter=0.2, negative_ttl_s=3)
    assert p.ttl_for("user", rand=lambda: 0.0) == pytest.approx(8.0)
    assert p.ttl_for("user", rand=lambda: 1.0) == pytest.approx(12.0)
    assert p.ttl_for("other", rand=lambda: 0.5) == pytest.approx(100.0)
    assert p.ttl_for("user", negative=True, rand=lambda: 0.5) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="jitter"):
        TtlPolicy(jitter=1.5)


@pytest.mark.parametrize("s", [JsonSerializer(), MsgpackSerializer(),
                               PickleSerializer(allow_pickle=True)])
def test_serializers_round_trip(s: Any) -> None:
    value = ["x", 1, 2.5, None, True, {"a": [1, 2]}]
    assert s.loads(s.dumps(value)) == value


def test_pickle_needs_opt_in() -> None:
    with pytest.raises(ValueError, match="allow_pickle"):
        serializer("pickle")
    with pytest.raises(ValueError, match="unknown"):
        serializer("yaml")


async def test_decorator_and_explicit_api() -> None:
    calls: list[int] = []
    cache = Cache("t")

    @cached(cache, prefix="square")
    async def square(n: int) -> int:
        calls.append(n)
        return n * n

    assert await square(3) == 9
    assert await square(3) == 9
    assert calls == [3]
    assert await cache.get("square:3") == 9
    await cache.delete("square:3")
    assert await cache.get("square:3") is None
    await cache.set("x", {"a": 1})
    assert await cache.get("x") == {"a": 1}


async def test_loader_error_propagates_and_is_not_cached() -> None:
    cache = Cache("t")

    async def boom() -> int:
        raise RuntimeError("down")

    with pytest.raises(RuntimeError):
        await cache.get_or_load("k", boom)

    async def ok() -> int:
        return 1

    assert await cache.get_or_load("k", ok) == 1
    assert cache.metrics.counts.load_errors == 1


async def test_warm() -> None:
    cache = Cache("t")

    async def loader(key: str) -> str:
        return key.upper()

    assert await cache.warm(["a", "b", "c"], loader) == 3
    assert await cache.get("b") == "B"
    assert await cache.warm(["a", "d"], loader) == 1


def test_sync_wrapper() -> None:
    calls = 0

    def load() -> str:
        nonlocal calls
        calls += 1
        return "v"

    with SyncCache(lambda: Cache("t")) as cache:
        assert cache.get_or_load("k", load) == "v"
        assert cache.get_or_load("k", load) == "v"
        assert calls == 1
        cache.set("a", 1)
        assert cache.get("a") == 1
        cache.delete("a")
        assert cache.get("a") is None

        @cache.cached(prefix="add")
        def add(a: int, b: int) -> int:
            return a + b

        assert add(1, 2) == 3
        assert cache.get("add:1:2") == 3


class FakeEmitter:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, event: dict[str, Any]) -> bool:
        self.events.append(event)
        return True


async def test_metrics_prometheus_and_events() -> None:
    registry = CollectorRegistry()
    emitter = FakeEmitter()
    metrics = RegionMetrics("users", registry=registry, emitter=emitter,  # type: ignore[arg-type]
                            service="svc", sample_rate=1.0)
    cache = Cache("users", metrics=metrics)

    async def loader() -> int:
        return 1

    await cache.get_or_load("k", loader)
    await cache.get_or_load("k", loader)
    assert registry.get_sample_value(
        "intperf_cache_lookups_total", {"region": "users", "outcome": "l1"}) == 1
    assert registry.get_sample_value(
        "intperf_cache_lookups_total", {"region": "users", "outcome": "miss"}) == 1
    assert registry.get_sample_value("intperf_cache_load_seconds_count", {"region": "users"}) == 1
    kinds = {(e["kind"], e["region"], e["hit"]) for e in emitter.events}
    assert kinds == {("CACHE_ACCESS", "users", True), ("CACHE_ACCESS", "users", False)}
    assert all(e["service"] == "svc" and "latency_ms" in e and "event_time" in e
               for e in emitter.events)


async def test_events_validate_against_the_stream_model() -> None:
    from intperf.stream.events import EVENT_ADAPTER

    emitter = FakeEmitter()
    metrics = RegionMetrics("r", emitter=emitter, sample_rate=1.0)  # type: ignore[arg-type]
    metrics.lookup("l2", 0.002)
    event = EVENT_ADAPTER.validate_python(emitter.events[0])
    assert event.kind == "CACHE_ACCESS"
    assert event.hit is True  # type: ignore[union-attr]
    assert event.latency_ms == pytest.approx(2.0)  # type: ignore[union-attr]


async def test_warm_every_runs_until_close() -> None:
    cache = Cache("t")
    rounds = 0
    done = asyncio.Event()

    def keys() -> list[str]:
        nonlocal rounds
        rounds += 1
        if rounds >= 2:
            done.set()
        return ["a"]

    async def loader(key: str) -> str:
        return key

    task = cache.warm_every(0.01, keys, loader)
    await asyncio.wait_for(done.wait(), 5)
    assert await cache.get("a") == "a"
    await cache.close()
    assert task.done()


async def test_hit_paths_count_exactly_timed_or_not() -> None:
    async def loader() -> int:
        return 7

    registry = CollectorRegistry()
    for cache in (Cache("plain"), Cache("timed", metrics=RegionMetrics("timed",
                                                                       registry=registry))):
        assert cache.get_l1("k") is None  # not a lookup: the next get counts it
        assert await cache.get("k") is None  # a miss
        assert await cache.get_or_load("k", loader) == 7  # a miss, loaded
        assert cache.get_l1("k") == 7
        assert await cache.get("k") == 7
        assert await cache.get_or_load("k", loader) == 7
        c = cache.metrics.counts
        assert (c.hits_l1, c.hits_l2, c.misses, c.loads) == (3, 0, 2, 1)
    assert registry.get_sample_value(
        "intperf_cache_lookups_total", {"region": "timed", "outcome": "l1"}) == 3
    assert registry.get_sample_value("intperf_cache_lookup_seconds_count",
                                     {"region": "timed"}) == 5


async def test_xfetch_draws_only_near_expiry() -> None:
    clock = Clock()
    draws: list[float] = []

    def rand() -> float:
        draws.append(1e-300)  # the smallest draw: refreshes whenever the rule can
        return 1e-300

    cache = Cache("x", clock=clock, rand=rand, ttl=TtlPolicy(ttl_s=1000, jitter=0))

    async def loader() -> int:
        return 1  # delta: its real (perf_counter) duration, a few microseconds

    await cache.get_or_load("k", loader)
    delta = cache.l1.get("k").delta_s  # type: ignore[union-attr]
    n = len(draws)
    await cache.get_or_load("k", loader)  # 1000 s from expiry: no draw, no refresh
    assert len(draws) == n and cache.metrics.counts.early_refreshes == 0
    clock.now += 1000 - delta * 690.0  # within reach of the smallest draw
    await cache.get_or_load("k", loader)
    assert len(draws) == n + 1 and cache.metrics.counts.early_refreshes == 1
    await cache.close()
