"""TTL tuning of intperf-managed caches, run by the service when
``performance.optimization.cache-optimization`` is on (docs/cache.md, "TTL tuning").

Every ``intperf.cache-tuning.interval``: for each region registered in Redis, read its cache
windows (the stream's cache topology), ask :class:`intperf.cache.tuning.TtlTuner`, publish each
change (:func:`intperf.cache.control.publish_ttl`) and record it in the audit log
(``cache.ttl.change``). Redis calls go through a breaker, retries and a time limit.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from intperf.cache.control import publish_ttl, read_region, registered_regions
from intperf.cache.l2 import redis_retriable
from intperf.cache.tuning import (
    RegionState,
    TtlChange,
    TtlDecision,
    TtlTuner,
    TunerConfig,
    WindowSample,
)
from intperf.resilience.outbound import OutboundGuards, OutboundPolicy
from intperf.store.cache_repository import TTL_CHANGE_ACTION, CacheAnalysisRepository

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

    from intperf.config import Settings
    from intperf.service.context import ServiceContext

__all__ = ["ACTOR", "CacheTuning", "start_cache_tuning", "stop_cache_tuning"]

log = logging.getLogger(__name__)
#: Who the audit log says made the change.
ACTOR = "intperf:cache-tuner"


def redis_client(settings: Settings) -> Redis | RedisCluster | None:
    """The client for ``intperf.cache-tuning.redis`` (or the first cluster node), or None."""
    from redis.asyncio import Redis, RedisCluster

    timeout = settings.spring.redis.timeout
    url = settings.intperf.cache_tuning.redis.strip()
    if url:
        return Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    nodes = [n.strip() for n in settings.spring.redis.cluster.nodes.split(",") if n.strip()]
    if not nodes:
        return None
    host, _, port = nodes[0].rpartition(":")
    return RedisCluster(host=host or nodes[0], port=int(port or 6379), socket_timeout=timeout,
                        socket_connect_timeout=timeout)


class CacheTuning:
    """The periodic tuner; :meth:`tick` is one pass (tests call it directly)."""

    def __init__(self, ctx: ServiceContext, client: Redis | RedisCluster, *,
                 clock: Callable[[], float] = time.time,
                 guards: OutboundGuards | None = None) -> None:
        cfg = ctx.settings.intperf.cache_tuning
        self.ctx = ctx
        self.client = client
        self.tuner = TtlTuner(TunerConfig(
            low_hit_rate=cfg.low_hit_rate, high_hit_rate=cfg.high_hit_rate,
            min_accesses=cfg.min_accesses, lookback_s=cfg.lookback, cooldown_s=cfg.cooldown))
        self.interval_s = cfg.interval
        self._clock = clock
        self._guards = guards or OutboundGuards("cache-tuning", OutboundPolicy(
            timeout_s=max(1.0, 2 * ctx.settings.spring.redis.timeout), retry_on=redis_retriable))
        self._repo = CacheAnalysisRepository(ctx.db)
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        """``performance.optimization.cache-optimization``."""
        return self.ctx.settings.performance.optimization.cache_optimization

    async def _redis(self, fn: Callable[[], Any]) -> Any:
        return await self._guards.call("control", fn)

    def _last_change(self, region: str) -> TtlChange | None:
        changes, _ = self._repo.ttl_changes(1, region=region)
        if not changes:
            return None
        c = changes[0]
        before = c.evidence.get("hit_rate")
        return TtlChange(c.at.timestamp(), 1 if c.new_ttl_s > c.old_ttl_s else -1,
                         float(before) if isinstance(before, int | float) else 0.0)

    async def region_state(self, region: str, now: float) -> RegionState | None:
        """What the tuner needs of ``region`` (None: not registered with bounds)."""
        control = await self._redis(lambda: read_region(self.client, region))
        if control.bounds is None or not control.base:
            return None
        since_ms = int((now - self.tuner.config.lookback_s) * 1000)
        rows = await self.ctx.read(self.ctx.stream_store.other_windows, "cache", region,
                                   since_ms=since_ms, limit=1000)
        windows = []
        for row in rows:
            try:
                windows.append(WindowSample.from_dict({**row.data, "start_ms": row.start_ms,
                                                       "end_ms": row.end_ms}))
            except (KeyError, TypeError, ValueError):
                log.warning("cache window %s/%d: unreadable, ignored", region, row.start_ms)
        last = await self.ctx.read(self._last_change, region)
        return RegionState(region, control.ttls, control.bounds, windows, last)

    async def tick(self) -> list[TtlDecision]:
        """One pass over the registered regions; the changes made (none when disabled)."""
        if not self.enabled:
            return []
        now = self._clock()
        made: list[TtlDecision] = []
        for region in await self._redis(lambda: registered_regions(self.client)):
            state = await self.region_state(region, now)
            if state is None:
                continue
            decisions, why = self.tuner.propose(state, now)
            log.debug("cache tuning %s: %s", region, why)
            for d in decisions:
                await self._guards.call("control", functools.partial(
                    publish_ttl, self.client, d.region, d.key_class, d.new_ttl_s))
                await asyncio.to_thread(self.ctx.audit.record, ACTOR, TTL_CHANGE_ACTION,
                                        f"{d.region}/{d.key_class}"[:200],
                                        {**d.to_dict(), "published": True})
                log.info("cache tuning %s/%s: TTL %.6g s -> %.6g s (%s)", d.region,
                         d.key_class or "(default)", d.old_ttl_s, d.new_ttl_s, d.reason)
                made.append(d)
        return made

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the next pass tries again
                log.warning("cache tuning pass failed: %s", exc)

    def start(self) -> None:
        """Run :meth:`tick` every interval until :meth:`stop`."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="intperf-cache-tuning")

    async def stop(self) -> None:
        """Stop the loop and close the client."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.client.aclose()


async def start_cache_tuning(ctx: ServiceContext) -> CacheTuning | None:
    """Start tuning when ``cache-optimization`` is on and a Redis is configured, else None."""
    if not ctx.settings.performance.optimization.cache_optimization:
        return None
    client = redis_client(ctx.settings)
    if client is None:
        log.warning("cache-optimization is on but neither intperf.cache-tuning.redis nor "
                    "spring.redis.cluster.nodes is set: TTLs are not tuned")
        return None
    tuning = CacheTuning(ctx, client)
    tuning.start()
    return tuning


async def stop_cache_tuning(tuning: CacheTuning | None) -> None:
    """Stop what :func:`start_cache_tuning` started (None: nothing)."""
    if tuning is not None:
        await tuning.stop()
