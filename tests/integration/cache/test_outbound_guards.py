"""The service's outbound calls to analyzed Redis and PostgreSQL servers: a server stopped or
frozen midway ends the call with a clear error in bounded time, and a breaker per target stops
hammering a dead one."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from intperf.cache.analyzer.analyze import analyze_redis
from intperf.dbopt.connection import connect_target
from intperf.errors import TargetDatabaseError, TargetUnreachableError
from intperf.resilience import CircuitState
from intperf.resilience.outbound import OutboundGuards, OutboundPolicy

pytestmark = pytest.mark.integration


async def _no_wait(_s: float) -> None:
    await asyncio.sleep(0)


def guards(name: str) -> OutboundGuards:
    from intperf.cache.l2 import redis_retriable

    return OutboundGuards(name, OutboundPolicy(retry_on=redis_retriable), sleep=_no_wait,
                          sync_sleep=lambda _s: None)


async def test_redis_stopped_midway_ends_the_analysis(redis_server: Any, redis_url: str) -> None:
    g = guards("stopped")
    url = redis_url.replace("redis://", "redis://:pw-x@")
    task = asyncio.create_task(analyze_redis(url, interval_s=1.0, timeout_s=1.0, guards=g))
    await asyncio.sleep(0.3)  # inside the INFO interval
    redis_server.stop()
    t0 = time.monotonic()
    with pytest.raises(TargetUnreachableError, match="unreachable") as err:
        await asyncio.wait_for(task, 20)
    assert time.monotonic() - t0 < 15
    assert "pw-x" not in str(err.value) and ":***@" in str(err.value)


async def test_a_frozen_redis_times_out(redis_server: Any, redis_url: str) -> None:
    g = guards("frozen")
    redis_server.process.send_signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        with pytest.raises(TargetUnreachableError):
            await asyncio.wait_for(analyze_redis(redis_url, interval_s=0.1, timeout_s=0.3,
                                                 guards=g), 20)
        assert time.monotonic() - t0 < 10
    finally:
        redis_server.process.send_signal(signal.SIGCONT)


async def test_the_breaker_opens_on_a_dead_redis_and_recovers() -> None:
    g = guards("dead")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"redis://127.0.0.1:{port}/0"
    with pytest.raises(TargetUnreachableError, match="unreachable"):
        await analyze_redis(url, interval_s=0.1, timeout_s=0.5, guards=g)
    with pytest.raises(TargetUnreachableError):
        await analyze_redis(url, interval_s=0.1, timeout_s=0.5, guards=g)
    assert g.states()[f"127.0.0.1:{port}"] is CircuitState.OPEN
    t0 = time.monotonic()
    with pytest.raises(TargetUnreachableError, match="circuit breaker open"):
        await analyze_redis(url, interval_s=0.1, timeout_s=0.5, guards=g)
    assert time.monotonic() - t0 < 0.1  # refused without touching the network


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts and never says a word (a frozen PostgreSQL)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    server.close()


def test_a_frozen_postgres_fails_in_bounded_time_then_the_breaker_opens(
        silent_server: int) -> None:
    g = OutboundGuards("pg", sync_sleep=lambda _s: None)
    dsn = f"postgresql://u:pg-secret@127.0.0.1:{silent_server}/db?sslmode=disable"
    t0 = time.monotonic()
    with pytest.raises(TargetDatabaseError, match="cannot connect") as err, \
            connect_target(dsn, connect_timeout_s=1, guards=g):
        pass
    assert time.monotonic() - t0 < 8  # 3 attempts of 1 s
    assert "pg-secret" not in str(err.value) and err.value.retriable
    with pytest.raises(TargetDatabaseError, match="circuit breaker open") as err, \
            connect_target(dsn, connect_timeout_s=1, guards=g):
        pass
    assert not err.value.retriable
    assert g.states()[f"127.0.0.1:{silent_server}/db"] is CircuitState.OPEN


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture
def private_postgres() -> Iterator[tuple[str, Callable[[], None]]]:
    """A throwaway PostgreSQL 15 of this test alone (the session's is shared): its DSN and a
    function that stops it at once (``pg_ctl stop -m immediate``)."""
    bindir = Path("/usr/lib/postgresql/15/bin")
    if not (bindir / "initdb").exists():
        pytest.skip("PostgreSQL 15 binaries are not installed")
    base = Path(tempfile.mkdtemp(prefix="intperf-pg-stop-", dir="/tmp"))
    base.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data = base / "data"
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                                 "-A", "trust", "--no-sync", "--no-instructions"]),
                   capture_output=True, check=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pg_ctl = str(bindir / "pg_ctl")
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-o",
                                 opts, "start"]), capture_output=True, check=True)

    def stop() -> None:
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True, check=False)

    try:
        yield f"postgresql://postgres:pw-pg@127.0.0.1:{port}/postgres?sslmode=disable", stop
    finally:
        stop()
        shutil.rmtree(base, ignore_errors=True)


def test_postgres_stopped_midway_ends_the_statement_and_refuses_reconnects(
        private_postgres: tuple[str, Callable[[], None]]) -> None:
    dsn, stop = private_postgres
    g = OutboundGuards("pg-stop", sync_sleep=lambda _s: None)
    errors: list[BaseException] = []

    def long_statement() -> None:
        try:
            with connect_target(dsn, statement_timeout_ms=60_000, guards=g) as conn:
                conn.execute("SELECT pg_sleep(30)")
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    worker = threading.Thread(target=long_statement)
    worker.start()
    time.sleep(0.5)  # the statement is running
    t0 = time.monotonic()
    stop()
    worker.join(10)
    assert not worker.is_alive(), "the statement outlived its server"
    assert time.monotonic() - t0 < 10
    (err,) = errors
    assert isinstance(err, TargetDatabaseError) and "pw-pg" not in str(err)
    assert err.retriable  # the session is gone: worth another try later
    t0 = time.monotonic()
    with pytest.raises(TargetDatabaseError, match="cannot connect"), connect_target(
            dsn, guards=g):
        pass
    assert time.monotonic() - t0 < 5  # refused at once, three attempts
