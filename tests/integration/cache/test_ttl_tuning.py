"""TTL tuning against the session's redis-server: caches register, the service-side tuner
publishes a change, every running instance applies it to later writes, an instance started
later reads it, and the change is in the audit log. With the switch off nothing changes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pytest
from redis.asyncio import Redis

from intperf.cache import Cache, TtlPolicy
from intperf.cache.control import read_region, region_key
from intperf.cache.tuning import TtlBounds
from intperf.config import Settings
from intperf.service.cache_tuning import CacheTuning, start_cache_tuning
from intperf.store import AuditRepository, Database, StreamRepository
from intperf.store.cache_repository import CacheAnalysisRepository
from intperf.store.stream_repository import OtherWindow, StreamProgress

pytestmark = pytest.mark.integration

P = ParamSpec("P")
T = TypeVar("T")
BOUNDS = TtlBounds(10, 1000, 0.25)
POLICY = TtlPolicy(ttl_s=100, per_class={"user": 40}, jitter=0.0)


@dataclass
class FakeContext:
    """The part of ServiceContext the tuner uses."""

    settings: Settings
    db: Database
    stream_store: StreamRepository
    audit: AuditRepository

    async def read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return fn(*args, **kwargs)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'intperf.db'}")
    database.migrate()
    yield database
    database.close()


def context(db: Database, redis_url: str, *, enabled: bool) -> FakeContext:
    settings = Settings.model_validate({
        "performance": {"optimization": {"cache-optimization": enabled}},
        "intperf": {"cache-tuning": {"redis": redis_url, "cooldown": "0s"}}})
    return FakeContext(settings, db, StreamRepository(db), AuditRepository(db))


def store_windows(db: Database, region: str, hit_rate: float, n: int = 3) -> None:
    end = int(time.time() * 1000) - 1000
    others = []
    for i in range(n):
        e = end - 60_000 * i
        others.append(OtherWindow("cache", region, e - 60_000, e, {
            "region": region, "start_ms": e - 60_000, "end_ms": e, "count": 1000,
            "hits": int(1000 * hit_rate), "misses": 1000 - int(1000 * hit_rate),
            "hit_rate": hit_rate, "storm": False}))
    StreamRepository(db).store_progress("g", StreamProgress(others=others))


@pytest.fixture
async def tuner_client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, socket_timeout=1.0)
    yield client
    await client.aclose()


async def until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_two_instances_apply_the_ttl_the_service_sets(
        redis_url: str, make_client: Callable[[], Redis], db: Database,
        tuner_client: Redis) -> None:
    a = Cache("tuned", redis=make_client(), ttl=POLICY, ttl_bounds=BOUNDS)
    b = Cache("tuned", redis=make_client(), ttl=POLICY, ttl_bounds=BOUNDS)
    async with a, b:
        control = await read_region(tuner_client, "tuned")
        assert control.bounds == BOUNDS and control.ttls == {"": 100.0, "user": 40.0}
        store_windows(db, "tuned", 0.5)
        tuning = CacheTuning(context(db, redis_url, enabled=True), tuner_client)  # type: ignore[arg-type]
        made = await tuning.tick()
        assert {(d.key_class, d.new_ttl_s) for d in made} == {("", 125.0), ("user", 50.0)}
        for cache in (a, b):
            await until(lambda c=cache: c.ttl.ttl_s == 125.0 and c.ttl.per_class["user"] == 50.0)
        # Later writes use the new TTL (jitter 0): fresh for 50 s, not 40.
        await b.set("user:1", {"n": 1})
        entry = b.l1.get("user:1")
        assert entry is not None and entry.fresh_until - time.time() == pytest.approx(50, abs=1)
        # An instance started later takes the TTL stored with the region.
        async with Cache("tuned", redis=make_client(), ttl=POLICY, ttl_bounds=BOUNDS) as c:
            assert c.ttl.ttl_s == 125.0 and c.ttl.per_class["user"] == 50.0
        # Audited, and exposed as TTL changes; the base stays what the code configured.
        changes, total = CacheAnalysisRepository(db).ttl_changes(region="tuned")
        assert total == 2 and {ch.new_ttl_s for ch in changes} == {125.0, 50.0}
        assert all(ch.published and ch.actor == "intperf:cache-tuner" for ch in changes)
        assert changes[0].evidence["hit_rate"] == 0.5
        control = await read_region(tuner_client, "tuned")
        assert control.base == {"": 100.0, "user": 40.0}
        # The windows before the change are no evidence for the next pass.
        assert await tuning.tick() == []


async def test_a_change_out_of_bounds_is_clamped_by_the_cache(
        make_client: Callable[[], Redis]) -> None:
    async with Cache("clamped", redis=make_client(), ttl=POLICY, ttl_bounds=BOUNDS) as a:
        a.apply_ttl("", 5000.0)
        assert a.ttl.ttl_s == 1000.0
    with pytest.raises(ValueError, match="outside ttl_bounds"):
        Cache("bad", ttl=TtlPolicy(ttl_s=5), ttl_bounds=BOUNDS)


async def test_switch_off_changes_nothing(redis_url: str, make_client: Callable[[], Redis],
                                          db: Database, tuner_client: Redis) -> None:
    async with Cache("off", redis=make_client(), ttl=POLICY, ttl_bounds=BOUNDS) as a:
        store_windows(db, "off", 0.2)
        ctx: Any = context(db, redis_url, enabled=False)
        assert await start_cache_tuning(ctx) is None
        assert await CacheTuning(ctx, tuner_client).tick() == []
        await asyncio.sleep(0.1)
        assert a.ttl == POLICY
        raw = await tuner_client.hgetall(region_key("off"))
        assert not [k for k in raw if k.startswith(b"ttl:")]
        assert CacheAnalysisRepository(db).ttl_changes()[1] == 0


async def test_the_service_tunes_when_switched_on(
        redis_url: str, make_client: Callable[[], Redis], tmp_path: Path) -> None:
    from ..live_service import run_service

    storage = f"sqlite:///{tmp_path / 'svc.db'}"
    with Database(storage) as database:
        database.migrate()
        store_windows(database, "svc-tuned", 0.4)
    env = {"INTPERF_PERFORMANCE__OPTIMIZATION__CACHE_OPTIMIZATION": "true",
           "INTPERF_INTPERF__CACHE_TUNING__REDIS": redis_url,
           "INTPERF_INTPERF__CACHE_TUNING__INTERVAL": "0.2s"}
    async with Cache("svc-tuned", redis=make_client(), ttl=POLICY, ttl_bounds=BOUNDS) as a:
        with run_service()(storage, tmp_path, "sqlite", extra_env=env) as svc:
            # Both changes (two messages: the default TTL's and the user class's) applied.
            await until(lambda: a.ttl.ttl_s == 125.0 and a.ttl.per_class["user"] == 50.0,
                        timeout_s=15)
            with svc.client("viewer") as c:
                body = c.get("/api/v1/cache/ttl-changes", params={"region": "svc-tuned"}).json()
        assert body["enabled"] is True and body["total"] == 2
        assert {(i["keyClass"], i["oldTtlSeconds"], i["newTtlSeconds"]) for i in body["items"]} \
            == {("", 100.0, 125.0), ("user", 40.0, 50.0)}
        assert body["items"][0]["reason"].startswith("hit rate 40.0% below 85%")
        assert a.ttl.per_class["user"] == 50.0
