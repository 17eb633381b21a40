"""Analyze a live Redis (read-only): INFO over an interval, a rate-limited SCAN sample with
TYPE/TTL/MEMORY USAGE/OBJECT in pipelines, SLOWLOG and CONFIG; single node or cluster.

The INFO interval runs *before* sampling so our own TYPE/TTL reads do not count as hits.
SCAN is rate-limited: after each batch we sleep so that at most ``scan_rate`` keys per second
are visited (each visited key costs one pipelined round of 3-4 cheap commands).

Every connection has socket timeouts; discovery is retried (a breaker per target, the retry
budget shared, see :mod:`intperf.resilience.outbound`), the analysis itself runs once under
the same breaker and a time limit of the interval, the sampling time and a margin.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from intperf.cache.analyzer.patterns import key_pattern
from intperf.cache.analyzer.report import RedisAnalysis, redact_redis_url
from intperf.cache.analyzer.rules import pattern_stats, recommend
from intperf.cache.analyzer.stats import KeySample, info_delta, ttl_histogram
from intperf.cache.l2 import redis_retriable
from intperf.errors import (
    CallNotPermittedError,
    CallTimeoutError,
    TargetError,
    TargetUnreachableError,
)
from intperf.resilience.outbound import OutboundGuards, OutboundPolicy

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["REDIS_GUARDS", "analyze_redis"]

log = logging.getLogger(__name__)

#: Guards of the analyzer's connections, a breaker per ``host:port``.
REDIS_GUARDS = OutboundGuards("redis-analyzer", OutboundPolicy(timeout_s=30.0,
                                                                retry_on=redis_retriable))

#: INFO counters summed across cluster primaries before the delta math.
_SUMMED = ("keyspace_hits", "keyspace_misses", "total_commands_processed", "evicted_keys",
           "expired_keys", "rejected_connections", "used_memory", "maxmemory",
           "connected_clients")


@dataclass(slots=True)
class _NodeResult:
    name: str
    start: dict[str, Any]
    end: dict[str, Any]
    keys: int = 0
    samples: list[KeySample] = field(default_factory=list)
    slowlog: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _keyspace_keys(info: Mapping[str, Any]) -> int:
    return sum(int(v.get("keys", 0)) for k, v in info.items()
               if k.startswith("db") and isinstance(v, dict))


async def _config(client: Redis, result: _NodeResult) -> None:
    from redis.exceptions import ResponseError

    try:
        raw = await client.config_get("maxmemory*")
        result.config = {_text(k): _text(v) for k, v in raw.items()}
    except ResponseError as exc:  # CONFIG disabled or renamed (managed Redis): INFO has them
        result.notes.append(f"{result.name}: CONFIG GET refused ({exc}); using INFO values")
        result.config = {"maxmemory": str(result.end.get("maxmemory", "")),
                         "maxmemory-policy": str(result.end.get("maxmemory_policy", ""))}


async def _sample(client: Redis, result: _NodeResult, *, sample: int, scan_count: int,
                  scan_rate: float, lfu: bool) -> None:
    cursor: int = 0
    while len(result.samples) < sample:
        began = time.monotonic()
        cursor, batch = await client.scan(cursor, count=scan_count)
        batch = batch[: sample - len(result.samples)]
        if batch:
            pipe = client.pipeline(transaction=False)
            for key in batch:
                pipe.object("freq" if lfu else "idletime", key)
                pipe.type(key)
                pipe.ttl(key)
                pipe.memory_usage(key)
            replies = await pipe.execute(raise_on_error=False)
            for i, key in enumerate(batch):
                obj, typ, ttl, mem = replies[4 * i: 4 * i + 4]
                if isinstance(typ, Exception) or _text(typ) == "none":
                    continue  # gone between SCAN and TYPE, or TYPE refused
                result.samples.append(KeySample(
                    key=_text(key), type=_text(typ), ttl_s=int(ttl) if isinstance(ttl, int)
                    else -2, memory_bytes=_int_or_none(mem),
                    idle_s=None if lfu else _int_or_none(obj),
                    freq=_int_or_none(obj) if lfu else None))
        if cursor == 0:
            break
        pause = len(batch) / scan_rate - (time.monotonic() - began) if scan_rate > 0 else 0
        if pause > 0:
            await asyncio.sleep(pause)


async def _slowlog(client: Redis, result: _NodeResult, entries: int) -> None:
    from redis.exceptions import ResponseError

    try:
        raw = await client.slowlog_get(entries)
    except ResponseError as exc:
        result.notes.append(f"{result.name}: SLOWLOG GET refused ({exc})")
        return
    for e in raw:
        command = e.get("command", b"")
        text = _text(command if not isinstance(command, list)
                     else b" ".join(c if isinstance(c, bytes) else str(c).encode()
                                    for c in command))
        # Arguments can hold values; keep the command and first argument (usually the key).
        result.slowlog.append({
            "node": result.name, "id": e.get("id"), "start_time": e.get("start_time"),
            "duration_us": e.get("duration"), "command": " ".join(text.split(" ")[:2])[:200]})


async def _analyze_node(client: Redis, name: str, *, interval_s: float, sample: int,
                        scan_count: int, scan_rate: float, slowlog: int) -> _NodeResult:
    start = await client.info("all")
    await asyncio.sleep(interval_s)
    end = await client.info("all")
    result = _NodeResult(name=name, start=dict(start), end=dict(end),
                         keys=_keyspace_keys(end))
    await _config(client, result)
    lfu = "lfu" in result.config.get("maxmemory-policy", "")
    await _slowlog(client, result, slowlog)  # before sampling, so our reads are not in it
    await _sample(client, result, sample=sample, scan_count=scan_count, scan_rate=scan_rate,
                  lfu=lfu)
    return result


def _combine(results: list[_NodeResult], interval_s: float) -> tuple[Any, dict[str, Any]]:
    def total(which: str) -> dict[str, Any]:
        snap: dict[str, Any] = {k: sum(float(getattr(r, which).get(k, 0) or 0) for r in results)
                                for k in _SUMMED}
        frags = [float(getattr(r, which).get("mem_fragmentation_ratio", 0) or 0)
                 for r in results]
        snap["mem_fragmentation_ratio"] = max(frags) if frags else None
        return snap

    per_node = {r.name: info_delta(r.start, r.end, interval_s) for r in results}
    return info_delta(total("start"), total("end"), interval_s), per_node


def _node_url(url: str, host: str, port: int) -> str:
    """``url`` pointing at one node (redis-py lets the URL's host win over keyword arguments)."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return urlunsplit((parts.scheme, f"{userinfo}@{address}" if userinfo else address,
                       parts.path, parts.query, parts.fragment))


async def _nodes(url: str, timeout_s: float) -> tuple[bool, list[tuple[str, int]]]:
    from redis.asyncio import Redis, RedisCluster

    probe = Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        info = await probe.info("cluster")
    finally:
        await probe.aclose()
    if not info.get("cluster_enabled"):
        return False, []
    cluster = RedisCluster.from_url(url, socket_timeout=timeout_s,
                                    socket_connect_timeout=timeout_s)
    try:
        await cluster.initialize()
        return True, [(str(n.host), int(n.port)) for n in cluster.get_primaries()]
    finally:
        await cluster.aclose()


def _target(url: str) -> str:
    try:
        parts = urlsplit(url)
        port = parts.port or 6379
    except ValueError:
        return "?"
    return f"{parts.hostname}:{port}"


async def analyze_redis(url: str, *, interval_s: float = 5.0, sample: int = 10_000,
                        scan_count: int = 100, scan_rate: float = 5_000.0, top: int = 10,
                        slowlog: int = 32, timeout_s: float = 5.0,
                        guards: OutboundGuards | None = None) -> RedisAnalysis:
    """Analyze the Redis at ``url`` (read-only); :class:`TargetError` naming the redacted URL.

    ``timeout_s`` bounds every socket operation; the whole analysis is bounded too, so a Redis
    that stops answering midway ends it with :class:`TargetUnreachableError`, never a hang.
    """
    from redis.asyncio import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import RedisError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    shown = redact_redis_url(url)
    guards = guards or REDIS_GUARDS
    target = _target(url)
    # SCAN visits at most scan_rate keys/s, each key a pipelined round: time for that and
    # the rest (INFO twice, CONFIG, SLOWLOG) with a margin of socket timeouts.
    budget = interval_s + sample / max(scan_rate, 1.0) * 2 + 6 * timeout_s

    async def run() -> tuple[bool, list[_NodeResult]]:
        cluster, primaries = await guards.call(
            target, lambda: _nodes(url, timeout_s), timeout_s=4 * timeout_s)
        clients: list[tuple[str, Redis]] = []

        def client(node_url: str) -> Redis:
            return Redis.from_url(node_url, socket_timeout=timeout_s,
                                  socket_connect_timeout=timeout_s)

        if cluster:
            for host, port in primaries:
                clients.append((f"{host}:{port}", client(_node_url(url, host, port))))
        else:
            clients.append(("single", client(url)))
        try:
            per_share = max(1, sample // len(clients))

            async def nodes() -> list[_NodeResult]:
                return list(await asyncio.gather(*(
                    _analyze_node(c, n, interval_s=interval_s, sample=per_share,
                                  scan_count=scan_count, scan_rate=scan_rate, slowlog=slowlog)
                    for n, c in clients)))

            return cluster, await guards.call(target, nodes, timeout_s=budget, retry=False)
        finally:
            for _, c in clients:
                await c.aclose()

    try:
        cluster, results = await run()
    except CallNotPermittedError as exc:
        wait = guards.breaker(target).wait_remaining
        raise TargetUnreachableError(
            f"Redis {shown} failed repeatedly; not trying again for {wait:.0f} s "
            "(circuit breaker open)") from exc
    except CallTimeoutError as exc:
        raise TargetUnreachableError(f"Redis {shown} did not answer in time: {exc}") from exc
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise TargetUnreachableError(f"Redis {shown} is unreachable: {exc}") from exc
    except RedisError as exc:
        raise TargetError(f"Redis {shown} failed: {exc}") from exc
    return _report(shown, cluster, results, interval_s, top)


def _report(shown: str, cluster: bool, results: list[_NodeResult], interval_s: float,
            top: int) -> RedisAnalysis:
    info, per_node = _combine(results, interval_s)
    config = results[0].config
    policy = config.get("maxmemory-policy") or None
    mm = config.get("maxmemory", "")
    maxmemory = int(mm) if mm.isdigit() else None
    samples = [s for r in results for s in r.samples]
    notes = [n for r in results for n in r.notes]
    lfu = policy is not None and "lfu" in policy
    if not lfu:
        notes.append(f"hot keys need an LFU maxmemory-policy (OBJECT FREQ); policy is "
                     f"{policy or 'unknown'}, so idle times were sampled instead")
    if cluster:
        notes.append("cluster: every primary was sampled (not covered by the test suite)")
    patterns = pattern_stats(samples, {s.key: key_pattern(s.key) for s in samples})
    return RedisAnalysis(
        url=shown, cluster=cluster, nodes=[r.name for r in results], info=info,
        node_info=per_node if cluster else {}, policy=policy, maxmemory=maxmemory,
        sampled=len(samples), keyspace_keys=sum(r.keys for r in results), patterns=patterns,
        ttl_histogram=ttl_histogram(s.ttl_s for s in samples),
        big_keys=sorted((s for s in samples if s.memory_bytes), key=lambda s: -(
            s.memory_bytes or 0))[:top],
        hot_keys=sorted((s for s in samples if s.freq), key=lambda s: -(s.freq or 0))[:top]
        if lfu else None,
        slowlog=sorted((e for r in results for e in r.slowlog),
                       key=lambda e: -(e.get("duration_us") or 0))[:top * 3],
        recommendations=recommend(info, policy, maxmemory, patterns), notes=notes)
