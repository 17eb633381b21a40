"""``analyze_redis`` and ``intperf cache analyze`` against the session's private redis-server."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from intperf.cache.analyzer.analyze import analyze_redis
from intperf.errors import TargetUnreachableError

pytestmark = pytest.mark.integration


@pytest.fixture
async def loaded(redis_url: str, make_client: Callable[[], Redis]) -> AsyncIterator[Redis]:
    client = make_client()
    pipe = client.pipeline(transaction=False)
    for i in range(40):
        pipe.set(f"user:{i}:profile", "x" * 20)
        pipe.set(f"session:{i:08x}deadbeef", "y", ex=600)
    pipe.hset("report:2024", mapping={f"f{i}": "v" * 100 for i in range(2000)})
    await pipe.execute()
    saved = await client.config_get("slowlog-log-slower-than")
    policy = await client.config_get("maxmemory-policy")
    await client.config_set("maxmemory-policy", "volatile-lru")
    await client.config_set("slowlog-log-slower-than", 0)
    await client.slowlog_reset()
    yield client
    await client.config_set("slowlog-log-slower-than", saved["slowlog-log-slower-than"] or 10000)
    await client.config_set("maxmemory-policy", policy["maxmemory-policy"] or "noeviction")


async def _traffic(client: Redis, stop: asyncio.Event) -> tuple[int, int]:
    hits = misses = 0
    while not stop.is_set():
        for i in range(3):  # 3 hits, 1 miss: hit ratio 0.75
            await client.get(f"user:{i}:profile")
        await client.get("user:missing:profile")
        hits, misses = hits + 3, misses + 1
        await asyncio.sleep(0.002)
    return hits, misses


async def test_analyze_single_node(redis_url: str, loaded: Redis,
                                   make_client: Callable[[], Redis]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(_traffic(make_client(), stop))
    await asyncio.sleep(0.05)
    report = await analyze_redis(redis_url.replace("//", "//:pw@"), interval_s=1.0,
                                 scan_rate=10_000)
    stop.set()
    await task
    data = report.to_dict()
    assert data["url"].startswith("redis://:***@")
    groups = {p["pattern"]: p for p in data["patterns"]}
    assert groups["user:*:profile"]["keys"] == 40
    assert groups["user:*:profile"]["no_ttl"] == 40
    assert groups["session:*"]["no_ttl"] == 0
    assert data["keyspace"]["keys_without_ttl"] == 41
    assert data["keyspace"]["ttl_histogram"]["10m-1h"] == 40 or \
        data["keyspace"]["ttl_histogram"]["1m-10m"] == 40
    assert data["info"]["hit_ratio"] == pytest.approx(0.75, abs=0.05)
    assert data["big_keys"][0]["key"] == "report:2024"
    assert data["slowlog"], "slowlog-log-slower-than 0 logs every command"
    assert data["hot_keys"] is None
    categories = {r["category"] for r in data["recommendations"]}
    assert "ttl.missing-under-volatile" in categories
    rec = next(r for r in data["recommendations"]
               if r["category"] == "ttl.missing-under-volatile")
    assert rec["evidence"]["keys_without_ttl"] == 41


async def test_unreachable_is_target_error() -> None:
    with pytest.raises(TargetUnreachableError) as info:
        await analyze_redis("redis://:hunter2@127.0.0.1:1/0", interval_s=0.1)
    assert "hunter2" not in str(info.value)
    assert info.value.exit_code == 3


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "intperf", "cache", "analyze", *args],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "NO_COLOR": "1"})


async def test_cli_json_and_exit_codes(redis_url: str, loaded: Redis) -> None:
    done = await asyncio.to_thread(_cli, "--redis", redis_url, "--json", "--interval", "0.2s")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert {p["pattern"] for p in data["patterns"]} >= {"user:*:profile", "report:*"}
    down = await asyncio.to_thread(_cli, "--redis", "redis://:hunter2@127.0.0.1:1/0",
                                   "--interval", "0.1s")
    assert down.returncode == 3
    assert "hunter2" not in down.stderr and "127.0.0.1:1" in down.stderr
    bad = await asyncio.to_thread(_cli, "--redis", redis_url, "--interval", "soon")
    assert bad.returncode == 2
    human = await asyncio.to_thread(_cli, "--redis", redis_url, "--interval", "0.1s")
    assert human.returncode == 0 and "user:*:profile" in human.stdout


async def test_hot_keys_under_lfu(redis_url: str, loaded: Redis) -> None:
    await loaded.config_set("maxmemory-policy", "allkeys-lfu")
    for _ in range(200):
        await loaded.get("user:7:profile")
    report = await analyze_redis(redis_url, interval_s=0.1)
    assert report.hot_keys is not None
    assert report.hot_keys[0].key == "user:7:profile"
    assert "ttl.missing-under-volatile" not in {r.category for r in report.recommendations}


@pytest.fixture
def config_less_redis(redis_server: Any) -> Iterator[str]:
    """A second private redis-server with CONFIG renamed away (as managed Redis does)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([redis_server.binary, "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--rename-command", "CONFIG",
                             ""], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait(10)


async def test_config_disabled_is_noted(config_less_redis: str) -> None:
    for _ in range(100):
        try:
            report = await analyze_redis(config_less_redis, interval_s=0.05)
            break
        except TargetUnreachableError:
            await asyncio.sleep(0.05)
    else:
        pytest.fail("redis-server did not start")
    assert any("CONFIG GET refused" in n for n in report.notes)
    assert report.policy == "noeviction"
    assert report.maxmemory == 0
