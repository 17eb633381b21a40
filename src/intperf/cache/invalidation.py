"""Invalidation across processes: each region publishes the keys it sets or deletes on
``intperf:cache:<region>:invalidate``; every other instance drops them from its L1. Our own
messages are recognised by an instance id and ignored. After losing the subscription the L1
is cleared, since invalidations may have been missed meanwhile. The same channel carries TTL
changes from the service (:mod:`intperf.cache.control`), handed to ``on_ttl``."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from intperf.cache.control import TTL_SENDER, parse_ttl_message
from intperf.cache.l1 import L1Cache

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

__all__ = ["Invalidator"]

log = logging.getLogger(__name__)

#: The key of a message that clears the whole L1.
ALL = "*"


class Invalidator:
    """Listens on a region's invalidation channel and applies it to an L1."""

    def __init__(self, client: Redis | RedisCluster, region: str, l1: L1Cache[str, Any], *,
                 retry_s: tuple[float, float] = (0.05, 2.0),
                 on_ttl: Callable[[str, float], None] | None = None,
                 on_subscribed: Callable[[], Awaitable[None]] | None = None) -> None:
        # on_subscribed runs after each *re*subscription (not the first).
        self._client = client
        self._l1 = l1
        self.channel = f"intperf:cache:{region}:invalidate"
        self.instance = uuid.uuid4().hex.encode("ascii")
        self._retry_min, self._retry_max = retry_s
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._on_ttl = on_ttl
        self._on_subscribed = on_subscribed
        self.received = 0

    def message(self, key: str) -> bytes:
        """The message that invalidates ``key`` elsewhere."""
        return self.instance + b"|" + key.encode("utf-8")

    async def start(self) -> None:
        """Start listening (returns at once; :meth:`wait_subscribed` waits for the server)."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name=f"intperf-{self.channel}")

    async def wait_subscribed(self, timeout_s: float = 5.0) -> bool:
        """True once subscribed (False after ``timeout_s``)."""
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def apply(self, data: bytes) -> None:
        """Apply one message from the channel (our own are ignored)."""
        sender, _, key = data.partition(b"|")
        if sender == self.instance:
            return
        if sender == TTL_SENDER:
            change = parse_ttl_message(key)
            if change is not None and self._on_ttl is not None:
                self._on_ttl(*change)
            return
        self.received += 1
        name = key.decode("utf-8", errors="replace")
        if name == ALL:
            self._l1.clear()
        else:
            self._l1.delete(name)

    async def _listen(self) -> None:
        pause = self._retry_min
        lost = False
        from redis.asyncio import RedisCluster

        while True:
            try:
                if isinstance(self._client, RedisCluster):
                    # A cluster client learns the slots on its first command; its pub/sub
                    # needs them first (KeyError on the channel's slot otherwise).
                    await self._client.initialize()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried below like a lost subscription
                if not lost:
                    log.warning("%s: cluster unreachable (%r), retrying", self.channel, exc)
                lost = True
                await asyncio.sleep(pause)
                pause = min(self._retry_max, pause * 2)
                continue
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                if lost:
                    self._l1.clear()  # invalidations may have been missed while away
                    log.warning("%s: resubscribed, L1 cleared", self.channel)
                    if self._on_subscribed is not None:
                        await self._on_subscribed()  # e.g. TTL changes missed while away
                self._subscribed.set()
                pause = self._retry_min
                while True:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg is not None and msg.get("type") == "message":
                        data = msg["data"]
                        self.apply(data if isinstance(data, bytes) else str(data).encode())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep listening whatever Redis does
                if not lost:
                    log.warning("%s: subscription lost (%r), retrying", self.channel, exc)
                lost = True
                self._subscribed.clear()
            finally:
                try:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                except Exception:  # noqa: BLE001 - the connection may be gone already
                    log.debug("%s: closing the subscription failed", self.channel)
            await asyncio.sleep(pause)
            pause = min(self._retry_max, pause * 2)
