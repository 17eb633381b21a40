"""Redis for the cache tests: the session's private server, running and empty."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
from redis.asyncio import Redis


@pytest.fixture
def redis_url(redis_server: Any) -> str:
    if redis_server.process is None:  # a previous test stopped it
        redis_server.start()
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    url: str = redis_server.url
    return url


@pytest.fixture
async def make_client(redis_url: str) -> AsyncIterator[Callable[[], Redis]]:
    clients: list[Redis] = []

    def make() -> Redis:
        client = Redis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=0.5)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
