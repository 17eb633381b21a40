"""Redis for the cache tests: the session's private server, running and empty."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
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


class RedisClusterNodes:
    """Three private ``redis-server --cluster-enabled yes`` on loopback, joined with
    ``redis-cli --cluster create`` (no replicas)."""

    def __init__(self, server: str, cli: str, base: Path) -> None:
        self.server, self.cli, self.base = server, cli, base
        self.ports: list[int] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """A URL of one node (clients discover the others)."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> None:
        while len(self.ports) < 3:
            port = _free_port_pair()
            if port not in self.ports:
                self.ports.append(port)
        for port in self.ports:
            d = self.base / str(port)
            d.mkdir(parents=True, exist_ok=True)
            self.processes.append(subprocess.Popen(
                [self.server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled",
                 "yes", "--cluster-config-file", str(d / "nodes.conf"), "--dir", str(d),
                 "--save", "", "--appendonly", "no", "--cluster-node-timeout", "2000"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in self.ports:
            _wait_pong(port)
        res = subprocess.run(
            [self.cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, timeout=60, check=False)
        if res.returncode != 0:
            self.stop()
            pytest.fail(f"redis-cli --cluster create failed: {res.stdout[-500:]}"
                        f"{res.stderr[-500:]}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = []
            for port in self.ports:
                with redis.Redis(port=port, host="127.0.0.1", socket_timeout=1) as c:
                    states.append(c.cluster("info").get("cluster_state"))  # type: ignore[no-untyped-call]
            if all(s == "ok" for s in states):
                return
            time.sleep(0.1)
        self.stop()
        pytest.fail("the Redis cluster did not reach cluster_state:ok")

    def flush(self) -> None:
        for port in self.ports:
            with redis.Redis(port=port, host="127.0.0.1", socket_timeout=1) as c:
                c.flushall()

    def stop(self) -> None:
        for p in self.processes:
            p.kill()
            p.wait(10)
        self.processes = []


def _free_port_pair() -> int:
    """A port free with its cluster bus port (+10000)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind(("127.0.0.1", port + 10000))
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _wait_pong(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                return
        time.sleep(0.02)
    pytest.fail(f"cluster node on port {port} did not start")


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    """A private 3-node Redis Cluster for the session; skips without redis-cli."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        pytest.skip("redis-server and redis-cli are needed for the cluster tests "
                    "(Debian package redis-tools / redis-server)")
    nodes = RedisClusterNodes(server, cli, tmp_path_factory.mktemp("redis-cluster"))
    nodes.start()
    try:
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture
def cluster_url(redis_cluster: RedisClusterNodes) -> str:
    redis_cluster.flush()
    return redis_cluster.url
