"""The Redis (L2) side of the cache: values, the cross-process regeneration lock and
degradation. Every Redis failure is caught here: the cache goes on without L2, retries after
a growing pause, and says so once in the log when Redis goes away and once when it is back.

Key layout: the value of ``key`` in ``region`` is ``intperf:cache:<region>:{<key>}`` and its
regeneration lock the same name with ``:lock`` appended. The lock's name starts with the
value's, so in Redis Cluster both have the same hash tag (the text between the first ``{``
and the next ``}``) and one script can read the value and take the lock. When that tag is
empty (a key that is ``""`` or starts with ``}``, or braces in the region name) Redis Cluster
hashes each whole name instead: such keys take the pipelined path of two round trips."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from intperf.errors import IntperfError

if TYPE_CHECKING:  # redis is imported by whoever makes the client, not by importing us
    from redis.asyncio import Redis, RedisCluster

__all__ = ["LOCK_SUFFIX", "CacheBackendError", "RedisLayer", "hash_tag_shared",
           "redis_retriable"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Compare-and-delete: only the holder of the token releases the lock (Redis docs, "SET").
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)
#: The value if there is one (nothing written); else the lock taken (1) or held elsewhere (0).
_GET_OR_LOCK = (
    "local v = redis.call('get', KEYS[1]) if v then return v end "
    "if redis.call('set', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end return 0"
)
#: Store the value, then release the lock if the token still holds it.
_STORE_AND_RELEASE = (
    "redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) "
    "if redis.call('get', KEYS[2]) == ARGV[3] then redis.call('del', KEYS[2]) end return 1"
)
#: Appended to a value's name to make its lock's.
LOCK_SUFFIX = ":lock"


def hash_tag_shared(name: str) -> bool:
    """Whether Redis Cluster hashes ``name`` and ``name + LOCK_SUFFIX`` to the same slot: true
    when ``name`` has a non-empty hash tag (the slot then depends on the tag alone)."""
    start = name.find("{")
    end = name.find("}", start + 1) if start >= 0 else -1
    return end > start + 1


def _expected_failures() -> tuple[type[Exception], ...]:
    from redis import exceptions as e

    return (e.ConnectionError, e.TimeoutError, e.ClusterError, e.RedisClusterException,
            e.BusyLoadingError, OSError)


#: A gate per cluster client, shared by every region using it. redis-py's async cluster client
#: raises MaxConnectionsError at once (no waiting) when a node's pool (``max_connections``,
#: 100 by default) is in use: 1,000 concurrent first reads did that and degraded the cache.
_GATES: weakref.WeakKeyDictionary[Any, asyncio.Semaphore] = weakref.WeakKeyDictionary()
#: Connections of a node's pool left to pub/sub listeners (each holds one while subscribed).
_PUBSUB_RESERVE = 8


def _gate(client: Any) -> asyncio.Semaphore | None:
    """The in-flight limit of a cluster ``client`` (None for a single-node client, whose pool
    has no such limit)."""
    from redis.asyncio import RedisCluster

    if not isinstance(client, RedisCluster):
        return None
    gate = _GATES.get(client)
    if gate is None:
        limit = int(client.get_connection_kwargs().get("max_connections") or 100)
        gate = _GATES[client] = asyncio.Semaphore(max(1, limit - _PUBSUB_RESERVE))
    return gate


def redis_retriable(exc: BaseException) -> bool:
    """Whether another attempt may succeed: Redis connection errors and timeouts, or what the
    error's own ``retriable`` flag says (:func:`intperf.resilience.default_retry_on`)."""
    from redis import exceptions as e

    from intperf.resilience.retry import default_retry_on

    return isinstance(exc, e.ConnectionError | e.TimeoutError) or default_retry_on(exc)


class CacheBackendError(IntperfError):
    """Redis failed under a cache that was told to raise (``raise_on_backend_error=True``)."""

    retriable = True


class RedisLayer:
    """Redis access for one region, with backoff while Redis is away."""

    def __init__(
        self,
        client: Redis | RedisCluster,
        region: str,
        *,
        raise_errors: bool = False,
        backoff_s: tuple[float, float] = (0.05, 5.0),
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self._gate = _gate(client)
        self._cluster = self._gate is not None
        self._expected = _expected_failures()
        self.prefix = f"intperf:cache:{region}:"
        self._release_script = client.register_script(_RELEASE)
        self._get_or_lock_script = client.register_script(_GET_OR_LOCK)
        self._store_script = client.register_script(_STORE_AND_RELEASE)
        self._raise = raise_errors
        self._backoff_min, self._backoff_max = backoff_s
        self._backoff = 0.0
        self._retry_at = 0.0
        self._clock = clock
        self._on_error = on_error
        self.up = True
        self.errors = 0

    @property
    def available(self) -> bool:
        """False while we are waiting out a backoff after a failure."""
        return self.up or self._clock() >= self._retry_at

    async def call(self, op: Callable[[], Awaitable[T]], default: T) -> T:
        """``await op()`` under this layer's degradation rules (``default`` when Redis is
        away, or :class:`CacheBackendError` when told to raise)."""
        return await self._call(op, default)

    async def _call(self, op: Callable[[], Awaitable[T]], default: T) -> T:
        if not self.available:
            if self._raise:
                raise CacheBackendError("Redis is unavailable (backing off)")
            return default
        try:
            if self._gate is None:
                result = await op()
            else:
                async with self._gate:
                    result = await op()
        except Exception as exc:  # any client failure degrades, never reaches
            # the caller (redis-py's cluster client can fail with e.g. AttributeError).
            if not isinstance(exc, self._expected):
                log.debug("cache %s: unexpected Redis client error", self.prefix, exc_info=True)
            self.errors += 1
            if self._on_error is not None:
                self._on_error()
            self._backoff = min(self._backoff_max, max(self._backoff_min, self._backoff * 2))
            self._retry_at = self._clock() + self._backoff
            if self.up:
                log.warning("cache %s: Redis unavailable, serving from L1 and loaders: %s",
                            self.prefix, exc)
            self.up = False
            if self._raise:
                raise CacheBackendError(f"Redis failed: {exc}") from exc
            return default
        if not self.up:
            log.warning("cache %s: Redis is back", self.prefix)
            self.up = True
            self._backoff = 0.0
        return result

    def name(self, key: str) -> str:
        """The Redis key holding the value of ``key`` (its lock: this + ``LOCK_SUFFIX``)."""
        return f"{self.prefix}{{{key}}}"

    def scripted(self, name: str) -> bool:
        """Whether a value ``name`` and its lock can go in one script (always on one node)."""
        return not self._cluster or hash_tag_shared(name)

    async def get(self, key: str) -> bytes | None:
        """The raw bytes under ``key``, or None (also when Redis is away)."""
        name = self.name(key)
        data: bytes | str | None = await self._call(lambda: self.client.get(name), None)
        return data.encode("utf-8") if isinstance(data, str) else data

    async def set(self, key: str, data: bytes, ttl_s: float) -> bool:
        """Store ``data`` for ``ttl_s``; False when Redis is away."""
        px = max(1, int(ttl_s * 1000))
        name = self.name(key)
        ok = await self._call(lambda: self.client.set(name, data, px=px), None)
        return bool(ok)

    async def delete(self, key: str) -> bool:
        """Delete ``key``; False when Redis is away or it was absent."""
        name = self.name(key)
        n: Any = await self._call(lambda: self.client.delete(name), 0)
        return bool(n)

    async def get_or_lock(self, key: str, ttl_s: float) -> tuple[bytes | None, str | None]:
        """The raw bytes under ``key``, or else its regeneration lock (SET NX PX), in one
        round trip (a Lua script): ``(data, None)`` when there is a value (nothing is
        written), ``(None, token)`` when the lock was taken, ``(None, None)`` when another
        process holds it, ``(None, "")`` when Redis is away (the caller regenerates alone).
        Keys that cannot share a cluster slot with their lock only read: ``(data, None)``."""
        name = self.name(key)
        if not self.scripted(name):
            return await self.get(key), None
        token = secrets.token_hex(16)
        px = max(1, int(ttl_s * 1000))
        script = self._get_or_lock_script
        got: Any = await self._call(
            lambda: script(keys=(name, name + LOCK_SUFFIX), args=(token, px)), None)
        if got is None:  # Redis is away (the script itself never answers nil)
            return None, ""
        if isinstance(got, bytes | str):  # str from a decode_responses client
            return (got.encode("utf-8") if isinstance(got, str) else got), None
        return None, (token if got == 1 else None)

    async def acquire(self, key: str, ttl_s: float) -> tuple[str | None, bytes | None]:
        """Take the regeneration lock of ``key`` (SET NX PX) and read ``key``, in one round
        trip. The token is None when another process holds the lock, "" when Redis is away
        (the caller regenerates alone)."""
        token = secrets.token_hex(16)
        px = max(1, int(ttl_s * 1000))
        name = self.name(key)

        async def both() -> tuple[str | None, bytes | None]:
            pipe = self.client.pipeline(transaction=False)
            pipe.set(name + LOCK_SUFFIX, token, nx=True, px=px)
            pipe.get(name)
            ok, data = await pipe.execute()
            raw = data.encode("utf-8") if isinstance(data, str) else data
            return (token if ok else None), raw

        return await self._call(both, ("", None))

    async def store_and_release(self, key: str, data: bytes, ttl_s: float, token: str) -> None:
        """Store ``data`` and release the lock ``token`` holds, in one round trip (a script,
        or a pipeline for keys whose lock is in another cluster slot)."""
        px = max(1, int(ttl_s * 1000))
        name = self.name(key)
        lock = name + LOCK_SUFFIX
        if self.scripted(name):
            script = self._store_script
            await self._call(lambda: script(keys=(name, lock), args=(data, px, token)), None)
            return

        async def both() -> None:
            pipe = self.client.pipeline(transaction=False)
            pipe.set(name, data, px=px)
            pipe.eval(_RELEASE, 1, lock, token)
            await pipe.execute()

        await self._call(both, None)

    async def release(self, key: str, token: str) -> None:
        """Release the lock of ``key`` if ``token`` still holds it (Lua compare-and-delete)."""
        if token:
            lock = self.name(key) + LOCK_SUFFIX
            script = self._release_script
            await self._call(lambda: script(keys=(lock,), args=(token,)), None)

    async def publish(self, channel: str, message: bytes) -> None:
        """Publish ``message`` on ``channel`` (lost when Redis is away)."""
        await self._call(lambda: self.client.publish(channel, message), None)
