"""Optional breaker state shared between processes through Redis (redis-py asyncio).

What is shared is the decision to open, not the metrics: when one process's breaker opens it
writes ``{"until": wall-clock end of the wait, "attempts": n}`` under
``intperf:breaker:<name>`` with an expiry at that time; other processes ``pull`` it and open
for the remaining wait. Closing deletes the key. Redis is advisory: an unreachable Redis is
logged and each process keeps deciding alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from intperf.resilience.breaker import (
    BreakerEvent,
    BreakerEventKind,
    CircuitBreaker,
    CircuitState,
    EventListener,
)

logger = logging.getLogger(__name__)


class RedisBreakerStore:
    """Publishes OPEN decisions of breakers to Redis and applies those of other processes."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "intperf:breaker:",
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self.prefix = prefix
        self._wall = wall
        self._adopting: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.errors = 0

    def key(self, breaker: CircuitBreaker) -> str:
        """The Redis key of ``breaker``."""
        return self.prefix + breaker.name

    async def publish(self, breaker: CircuitBreaker) -> None:
        """Write ``breaker``'s OPEN decision (or delete it when CLOSED)."""
        state = breaker.state
        try:
            if state is CircuitState.OPEN:
                wait = breaker.wait_remaining
                value = json.dumps({"until": self._wall() + wait, "attempts": breaker.attempts})
                await self._redis.set(self.key(breaker), value, px=max(1, math.ceil(wait * 1000)))
            elif state is CircuitState.CLOSED:
                await self._redis.delete(self.key(breaker))
        except (RedisError, OSError) as exc:
            self.errors += 1
            logger.warning(
                "breaker %s: cannot publish to Redis: %s", breaker.name, type(exc).__name__
            )

    async def pull(self, breaker: CircuitBreaker) -> bool:
        """Open ``breaker`` if another process opened it and the wait is not over; True if so."""
        try:
            raw = await self._redis.get(self.key(breaker))
        except (RedisError, OSError) as exc:
            self.errors += 1
            logger.warning("breaker %s: cannot read Redis: %s", breaker.name, type(exc).__name__)
            return False
        if raw is None:
            return False
        try:
            shared = json.loads(raw)
            remaining = float(shared["until"]) - self._wall()
            attempts = int(shared["attempts"])
        except (ValueError, KeyError, TypeError):
            logger.warning("breaker %s: ignoring a malformed shared state", breaker.name)
            return False
        if remaining <= 0 or breaker.state is not CircuitState.CLOSED:
            return False
        self._adopting.add(breaker.name)
        try:
            breaker.open_for(remaining, attempts)
        finally:
            self._adopting.discard(breaker.name)
        return True

    def listener(self, breaker: CircuitBreaker) -> EventListener:
        """A listener for ``breaker`` that publishes its transitions from the running loop."""

        def on_event(event: BreakerEvent) -> None:
            if event.kind is not BreakerEventKind.STATE_TRANSITION:
                return
            if event.breaker in self._adopting:
                return  # another process's decision: already in Redis
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                logger.debug("breaker %s: no event loop, transition not shared", breaker.name)
                return
            task = loop.create_task(self.publish(breaker))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return on_event

    def share(self, breaker: CircuitBreaker) -> None:
        """Publish ``breaker``'s transitions from now on."""
        breaker.add_listener(self.listener(breaker))

    async def drain(self) -> None:
        """Wait for the publications in flight (before closing the Redis client)."""
        if self._tasks:
            await asyncio.gather(*self._tasks)
