"""The multi-level cache-aside: L1 in process (W-TinyLFU), L2 Redis, loaders behind both.

Stampede protection at three levels: one regeneration per key in a process (single flight on
an asyncio task), one across processes (a Redis lock, SET NX PX + compare-and-delete), and
XFetch early refresh so hot keys are rebuilt before they expire. An L1 miss of
``get_or_load`` reads L2 and, when the value is absent, takes the lock in the same round trip
(a script), so a miss costs two round trips (that and the store) and an L2 hit one. Redis
failures degrade to L1 and the loader (see :mod:`intperf.cache.l2`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from intperf.cache.control import RegionControl, policy_ttls, register_region
from intperf.cache.invalidation import Invalidator
from intperf.cache.l1 import L1Cache, TinyLfuCache
from intperf.cache.l2 import RedisLayer
from intperf.cache.metrics import Outcome, RegionMetrics
from intperf.cache.policy import XFETCH_MAX_DRAW, Entry, TtlPolicy, should_refresh_early
from intperf.cache.serializers import JsonSerializer, Serializer
from intperf.cache.tuning import TtlBounds

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

__all__ = ["Cache", "Loader", "default_key_class"]

log = logging.getLogger(__name__)

Loader = Callable[[], Awaitable[Any]]


def default_key_class(key: str) -> str:
    """The class of ``key`` for TTLs: what comes before its first ``:`` (``user:42`` → user)."""
    return key.partition(":")[0]


class Cache:
    """A cache region. Use as ``async with Cache("users", redis=client) as cache``.

    The Redis client is the caller's (``redis.asyncio.Redis`` or ``RedisCluster``): the cache
    does not close it. Values in L1 are the loader's objects themselves, not copies: do not
    mutate them.
    """

    def __init__(
        self,
        region: str,
        *,
        l1: L1Cache[str, Entry] | None = None,
        l1_maxsize: int = 10_000,
        redis: Redis | RedisCluster | None = None,
        serializer: Serializer | None = None,
        ttl: TtlPolicy | None = None,
        ttl_bounds: TtlBounds | None = None,
        key_class: Callable[[str], str] = default_key_class,
        xfetch_beta: float = 1.0,
        lock_ttl_s: float = 10.0,
        lock_wait_s: float = 5.0,
        raise_on_backend_error: bool = False,
        invalidation: bool = True,
        metrics: RegionMetrics | None = None,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.region = region
        self.metrics = metrics or RegionMetrics(region)
        self.l1: L1Cache[str, Entry] = l1 if l1 is not None else TinyLfuCache(
            l1_maxsize, clock=clock)
        self.l2 = (RedisLayer(redis, region, raise_errors=raise_on_backend_error,
                              on_error=self.metrics.backend_error) if redis is not None else None)
        self.serializer: Serializer = serializer or JsonSerializer()
        self.ttl = ttl or TtlPolicy()
        self.ttl_bounds = ttl_bounds
        if ttl_bounds is not None:
            outside = {k: v for k, v in policy_ttls(self.ttl).items() if not ttl_bounds.contains(v)}
            if outside:
                raise ValueError(f"cache {region}: TTLs outside ttl_bounds: {outside}")
        self._key_class = key_class
        self._beta = xfetch_beta
        self._xfetch_horizon = max(0.0, xfetch_beta) * XFETCH_MAX_DRAW
        self._lock_ttl_s = lock_ttl_s
        self._lock_wait_s = lock_wait_s
        self._clock = clock
        self._rand = rand
        self._base_ttl = self.ttl  # what the code configured; registered as the base
        self._flights: dict[str, asyncio.Task[Entry]] = {}
        self._reads: dict[str, asyncio.Task[Entry | None]] = {}
        self._fills: dict[str, asyncio.Task[tuple[Entry, Outcome, float]]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        tunable = ttl_bounds is not None
        self.invalidator = (Invalidator(
            redis, region, self.l1, on_ttl=self.apply_ttl if tunable else None,
            on_subscribed=self._sync_ttls if tunable else None)
            if redis is not None and invalidation else None)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def start(self) -> None:
        """Start listening for invalidations from other processes; with ``ttl_bounds``,
        register the region for TTL tuning and take the TTLs the service set."""
        if self.invalidator is not None:
            await self.invalidator.start()
        if self.ttl_bounds is not None and self.l2 is not None:
            if self.invalidator is not None:  # a change published meanwhile is then heard
                await self.invalidator.wait_subscribed(1.0)
            await self._sync_ttls()

    def apply_ttl(self, key_class: str, ttl_s: float) -> None:
        """Use ``ttl_s`` (clamped to ``ttl_bounds``) for new entries of ``key_class`` ("" =
        the default TTL); entries already cached keep theirs. Ignored without bounds."""
        bounds = self.ttl_bounds
        if bounds is None or not ttl_s > 0:
            return
        ttl_s = bounds.clamp(ttl_s)
        old = policy_ttls(self.ttl).get(key_class, self.ttl.ttl_s)
        if key_class == "":
            self.ttl = dataclasses.replace(self.ttl, ttl_s=ttl_s)
        else:
            self.ttl = dataclasses.replace(self.ttl,
                                           per_class={**self.ttl.per_class, key_class: ttl_s})
        if old != ttl_s:
            log.info("cache %s: TTL of class %r %.6g s -> %.6g s", self.region,
                     key_class or "(default)", old, ttl_s)

    async def _sync_ttls(self) -> None:
        """Register this region's TTLs and bounds and apply the TTLs the service set."""
        if self.l2 is None or self.ttl_bounds is None:
            return
        client, bounds = self.l2.client, self.ttl_bounds
        base = self._base_ttl  # what the code configured, not what a change made of it
        control: RegionControl | None = await self.l2.call(
            lambda: register_region(client, self.region, base, bounds), None)
        if control is not None:
            for key_class, ttl_s in control.overrides.items():
                self.apply_ttl(key_class, ttl_s)

    async def close(self) -> None:
        """Stop background work (refreshes, warming, the listener). The client stays open."""
        tasks = [*self._background, *self._flights.values(), *self._fills.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.invalidator is not None:
            await self.invalidator.close()

    # -- public API -------------------------------------------------------------------------

    async def get(self, key: str) -> Any:
        """The cached value of ``key`` (fresh or stale-but-servable), or None."""
        entry = self.l1.get(key)  # the L1 hit: no coroutine call, no clock when untimed
        if entry is not None and not self.metrics.timed:
            self.metrics.counts.hits_l1 += 1
            return None if entry.negative else entry.value
        t0 = time.perf_counter()
        outcome: Outcome = "l1"
        if entry is None:
            entry, outcome = await self._lookup_l2(key)
        self.metrics.lookup(outcome, time.perf_counter() - t0)
        return None if entry is None or entry.negative else entry.value

    def get_l1(self, key: str) -> Any:
        """The value of ``key`` if this process's L1 holds it, else None; synchronous (no
        Redis, no loader). A hit counts as an L1 hit; a None answer counts nothing, so a
        following :meth:`get` or :meth:`get_or_load` counts the lookup once."""
        if self.metrics.timed:
            t0 = time.perf_counter()
            entry = self.l1.get(key)
            if entry is not None:
                self.metrics.lookup("l1", time.perf_counter() - t0)
        else:
            entry = self.l1.get(key)
            if entry is not None:
                self.metrics.counts.hits_l1 += 1
        return None if entry is None or entry.negative else entry.value

    async def set(self, key: str, value: Any, *, ttl_s: float | None = None) -> None:
        """Store ``value`` in L1 and L2 and drop it from the other processes' L1."""
        await self._store(key, self._entry(key, value, 0.0, ttl_s))
        await self._announce(key)

    async def delete(self, key: str) -> None:
        """Remove ``key`` from L1, L2 and the other processes' L1."""
        self.l1.delete(key)
        if self.l2 is not None:
            await self.l2.delete(key)
        await self._announce(key)

    async def get_or_load(self, key: str, loader: Loader) -> Any:
        """The value of ``key``, from L1, L2 or ``await loader()`` (None from the loader means
        "not found" and is cached ``negative_ttl_s``)."""
        timed = self.metrics.timed
        t0 = time.perf_counter() if timed else 0.0
        # The L1 hit is the hot path: no coroutine call before it.
        entry = self.l1.get(key)
        outcome: Outcome = "l1"
        if entry is None and self.l2 is not None:
            # L2's value, or the lock and the loader's value (shared by concurrent misses).
            filled, outcome, answered = await asyncio.shield(self._fill(key, loader))
            if outcome == "miss":  # loaded (here or by the lock's holder): fresh, as it is
                self.metrics.lookup("miss", max(0.0, answered - t0) if timed else 0.0)
                return None if filled.negative else filled.value
            entry = filled
        if entry is not None:
            now = self._clock()
            fresh_until = entry.fresh_until
            if now < fresh_until:
                # XFetch can only fire within delta * beta * 690.8 s of expiry (-ln of the
                # smallest rand() used); further away no draw is needed.
                if (fresh_until - now <= entry.delta_s * self._xfetch_horizon
                        and should_refresh_early(entry, now, self._beta, self._rand())):
                    self.metrics.counts.early_refreshes += 1
                    self._refresh(key, loader, fresh_until)
                if timed:
                    self.metrics.lookup(outcome, time.perf_counter() - t0)
                elif outcome == "l1":
                    self.metrics.counts.hits_l1 += 1
                else:
                    self.metrics.lookup(outcome, 0.0)
                return None if entry.negative else entry.value
            if now < entry.stale_until:
                self.metrics.counts.stale_served += 1
                self._refresh(key, loader, entry.fresh_until)
                self.metrics.lookup(outcome, time.perf_counter() - t0)
                return None if entry.negative else entry.value
        self.metrics.lookup("miss", time.perf_counter() - t0)
        entry = await asyncio.shield(self._flight(key, loader))
        return None if entry.negative else entry.value

    async def warm(self, keys: Iterable[str], loader: Callable[[str], Awaitable[Any]], *,
                   concurrency: int = 16) -> int:
        """Load ``keys`` that are not cached yet; the number loaded."""
        sem = asyncio.Semaphore(concurrency)
        loaded = 0

        async def one(k: str) -> None:
            nonlocal loaded
            async with sem:
                entry, _ = await self._lookup(k)
                if entry is None or self._clock() >= entry.fresh_until:
                    await self._flight(k, lambda: loader(k))
                    loaded += 1

        await asyncio.gather(*(one(k) for k in keys))
        return loaded

    def warm_every(self, interval_s: float, keys: Callable[[], Iterable[str]],
                   loader: Callable[[str], Awaitable[Any]]) -> asyncio.Task[None]:
        """Warm now and then every ``interval_s`` until :meth:`close`."""

        async def loop() -> None:
            while True:
                try:
                    await self.warm(keys(), loader)
                except Exception:
                    log.exception("cache %s: warming failed", self.region)
                await asyncio.sleep(interval_s)

        task = asyncio.create_task(loop(), name=f"intperf-cache-warm-{self.region}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # -- internals --------------------------------------------------------------------------

    def _entry(self, key: str, value: Any, delta_s: float, ttl_s: float | None) -> Entry:
        negative = value is None
        now = self._clock()
        ttl = ttl_s if ttl_s is not None else self.ttl.ttl_for(
            self._key_class(key), negative=negative, rand=self._rand)
        stale = 0.0 if negative else self.ttl.stale_s
        return Entry(value, delta_s, now + ttl, now + ttl + stale, negative)

    async def _lookup(self, key: str) -> tuple[Entry | None, Outcome]:
        entry = self.l1.get(key)
        if entry is not None:
            return entry, "l1"
        return await self._lookup_l2(key)

    async def _lookup_l2(self, key: str) -> tuple[Entry | None, Outcome]:
        if self.l2 is None:
            return None, "miss"
        # One Redis read per key at a time: concurrent misses share it (and the pool).
        read = self._reads.get(key)
        if read is None:
            read = asyncio.ensure_future(self._from_l2(key))
            self._reads[key] = read
            read.add_done_callback(lambda t: self._reads.pop(key, None))
        entry = await asyncio.shield(read)
        return (entry, "l2") if entry is not None else (None, "miss")

    def _fill(self, key: str, loader: Loader) -> asyncio.Task[tuple[Entry, Outcome, float]]:
        """The one L1-miss resolution of ``key`` in this process (started if none runs)."""
        task = self._fills.get(key)
        if task is None:
            task = asyncio.ensure_future(self._l2_or_load(key, loader))
            self._fills[key] = task
            task.add_done_callback(lambda t: self._fills.pop(key, None))
        return task

    async def _l2_or_load(self, key: str, loader: Loader) -> tuple[Entry, Outcome, float]:
        """L2's entry of ``key`` ("l2"), else the loader's ("miss"), with the time L2
        answered: one script reads the value or, when absent, takes the lock."""
        assert self.l2 is not None
        data, token = await self.l2.get_or_lock(key, self._lock_ttl_s)
        answered = time.perf_counter()
        if data is not None:
            entry = self._accept(key, data)
            if entry is not None:
                return entry, "l2", answered
        running = self._flights.get(key)  # e.g. a refresh whose L1 entry was evicted
        if running is not None:
            if token:
                await self.l2.release(key, token)
            return await asyncio.shield(running), "miss", answered
        return await asyncio.shield(self._flight(key, loader, lock=token)), "miss", answered

    async def _from_l2(self, key: str) -> Entry | None:
        if self.l2 is None:
            return None
        return self._accept(key, await self.l2.get(key))

    def _accept(self, key: str, data: bytes | None) -> Entry | None:
        """Decode what L2 held under ``key`` and copy it into L1; None if absent or dead."""
        if data is None:
            return None
        try:
            entry = Entry.from_wire(self.serializer.loads(data))
        except Exception:  # noqa: BLE001 - a bad value in Redis is a miss, not a failure
            log.warning("cache %s: undecodable value under %r, ignored", self.region, key)
            return None
        remaining = entry.stale_until - self._clock()
        if remaining <= 0:
            return None
        self.l1.set(key, entry, remaining)
        return entry

    async def _store(self, key: str, entry: Entry, token: str = "") -> None:
        remaining = entry.stale_until - self._clock()
        if remaining <= 0:
            if token and self.l2 is not None:
                await self.l2.release(key, token)
            return
        self.l1.set(key, entry, remaining)
        self.metrics.evictions(self.l1.stats().evictions)
        if self.l2 is not None:
            data = self.serializer.dumps(entry.to_wire())
            if token:
                await self.l2.store_and_release(key, data, remaining, token)
            else:
                await self.l2.set(key, data, remaining)

    async def _announce(self, key: str) -> None:
        if self.invalidator is not None and self.l2 is not None and self.l2.available:
            await self.l2.publish(self.invalidator.channel, self.invalidator.message(key))

    def _flight(self, key: str, loader: Loader, newer_than: float = 0.0,
                lock: str | None = None) -> asyncio.Task[Entry]:
        """The one regeneration of ``key`` in this process (started if none runs); an entry
        in L2 fresher than ``newer_than`` (another process's regeneration) also does.
        ``lock``: the token of a lock already taken ("" = go without), None = take it."""
        task = self._flights.get(key)
        if task is None:
            task = asyncio.ensure_future(self._regenerate(key, loader, newer_than, lock))
            self._flights[key] = task
            task.add_done_callback(lambda t: self._flight_done(key, t))
        return task

    def _flight_done(self, key: str, task: asyncio.Task[Entry]) -> None:
        if self._flights.get(key) is task:
            del self._flights[key]

    def _refresh(self, key: str, loader: Loader, newer_than: float) -> None:
        if key in self._flights:
            return
        task = self._flight(key, loader, newer_than)
        self._background.add(task)
        task.add_done_callback(self._refresh_done)

    def _refresh_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("cache %s: background refresh failed: %r", self.region,
                        task.exception())

    async def _regenerate(self, key: str, loader: Loader, newer_than: float,
                          lock: str | None) -> Entry:
        token = lock or ""
        if self.l2 is not None and lock is None:
            acquired = await self._lock_or_fresh(key, newer_than)
            if isinstance(acquired, Entry):
                return acquired
            token = acquired
        try:
            t0 = time.perf_counter()
            try:
                value = await loader()
            except Exception:
                self.metrics.load(time.perf_counter() - t0, failed=True)
                raise
            delta = time.perf_counter() - t0
            self.metrics.load(delta)
            entry = self._entry(key, value, delta, None)
            if not entry.negative or self.ttl.negative_ttl_s > 0:
                await self._store(key, entry, token)
                token = ""  # released with the store
            return entry
        finally:
            if token and self.l2 is not None:
                await self.l2.release(key, token)

    async def _lock_or_fresh(self, key: str, newer_than: float) -> Entry | str:
        """Take the cross-process lock of ``key`` (its token; "" when Redis is away), or wait
        for the holder's fresh value in L2 (the entry)."""
        assert self.l2 is not None
        deadline = time.monotonic() + self._lock_wait_s
        pause = 0.002
        while True:
            token, data = await self.l2.acquire(key, self._lock_ttl_s)
            # Double check: a holder may have stored and released just before.
            fresh = self._fresh(self._accept(key, data), newer_than)
            if token is not None:
                if token and fresh is not None:
                    await self.l2.release(key, token)
                    return fresh
                return token
            if fresh is not None:
                return fresh
            self.metrics.counts.lock_waits += 1
            if time.monotonic() >= deadline:
                log.warning("cache %s: gave up waiting for the lock of %r", self.region, key)
                return ""
            await asyncio.sleep(pause)
            pause = min(0.05, pause * 2)

    def _fresh(self, entry: Entry | None, newer_than: float) -> Entry | None:
        # An early refresh (XFetch) must not settle for the very entry it is replacing.
        if entry is None or entry.fresh_until <= newer_than:
            return None
        return entry if self._clock() < entry.fresh_until else None
