"""``intperf stream`` as a process against a real Kafka-protocol broker: status lines, a
SIGKILL (no final checkpoint) and a restart that replays from the checkpoint, SIGTERM that
exits 0; and a broker that is not there (exit 3, naming the bootstrap servers)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from intperf.store import Database
from intperf.store.tables import RunRow, RunSecondRow
from intperf.stream.bus_kafka import KafkaBus

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BASE_MS = 1_790_000_000_000
DEADLINE_S = 45.0


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@contextmanager
def stream_process(args: list[str], env: dict[str, str], log: Path) -> Iterator[
        subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "intperf", "stream", *args],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def counts(db_path: Path, services: set[str]) -> dict[tuple[str, int], int]:
    if not db_path.exists():
        return {}
    out: dict[tuple[str, int], int] = {}
    with Database(f"sqlite:///{db_path}") as db, db.session() as s:
        try:
            rows = list(s.execute(select(RunRow.options, RunRow.started_at, RunSecondRow.second,
                                         RunSecondRow.data)
                                  .join(RunRow, RunRow.id == RunSecondRow.run_id)))
        except Exception:  # the process has not migrated the database yet
            return {}
        for options, started, second, data in rows:
            if options.get("service") in services:
                n = sum(w["ok"] + sum(w["errors"].values()) for w in data["requests"].values())
                out[(options["service"], int(started.timestamp() * 1000) + second * 1000)] = n
    return out


async def wait_for(cond: Any, what: str, deadline_s: float = DEADLINE_S) -> None:
    """Poll ``cond`` (a database read) every 0.2 s until true or the deadline."""
    try:
        async with asyncio.timeout(deadline_s):
            while True:
                if cond():
                    return
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def event(service: str, t_ms: int) -> bytes:
    return json.dumps({"kind": "API_RESPONSE", "service": service, "event_time": t_ms,
                       "response_time_ms": 3.0}).encode()


async def test_sigkill_then_restart_replays_and_sigterm_exits_cleanly(
    kafka_broker: str, tmp_path: Path,
) -> None:
    topic, group = unique("events"), unique("g")
    db_path = tmp_path / "stream.db"
    env = {**os.environ,
           "INTPERF_INTPERF__STREAM__TOPIC": topic,
           "INTPERF_INTPERF__STREAM__DEAD_LETTER_TOPIC": f"{topic}-dlq",
           "INTPERF_INTPERF__STREAM__SLOW_QUERIES_TOPIC": f"{topic}-slow",
           "INTPERF_INTPERF__STREAM__WINDOW": "1s",
           "INTPERF_INTPERF__STREAM__GRACE": "0s",
           "INTPERF_INTPERF__STREAM__IDLE_TIMEOUT": "1h",
           "INTPERF_INTPERF__STREAM__COMMIT_INTERVAL": "0.2s"}
    args = ["--bus", "kafka", "--bootstrap-servers", kafka_broker, "--group", group,
            "--storage-url", f"sqlite:///{db_path}", "--status-interval", "0.5"]
    services = [unique("svc") for _ in range(4)]
    first = [(s, BASE_MS + i * 10) for i in range(300) for s in services]
    second = [(s, BASE_MS + 5_000 + i * 10) for i in range(300) for s in services]
    closing = [(s, BASE_MS + 60_000) for s in services]
    expected: dict[tuple[str, int], int] = {}
    for s, t in first + second:
        expected[(s, t // 1000 * 1000)] = expected.get((s, t // 1000 * 1000), 0) + 1
    log = tmp_path / "stream.log"
    async with KafkaBus([kafka_broker], client_id="cli-test") as bus:
        await bus.ensure_topic(topic, 4)
        with stream_process(args, env, log) as proc:
            await bus.publish_many(topic, [(s.encode(), event(s, t)) for s, t in first])
            await bus.flush()
            await wait_for(lambda: len(counts(db_path, set(services))) >= 8,
                           "windows of the first batch")
            proc.send_signal(signal.SIGKILL)  # no final checkpoint, no leaving the group
            proc.wait(10)
        await bus.publish_many(topic, [(s.encode(), event(s, t)) for s, t in second + closing])
        await bus.flush()
        with stream_process(args, env, log) as proc:
            await wait_for(lambda: counts(db_path, set(services)) == expected,
                           "every window, exactly once")
            proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(proc.wait, 30)
            assert proc.returncode == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert "records/s" in text and "windows stored" in text, text[-2000:]
    assert "final checkpoint stored" in text, text[-2000:]


def test_a_broker_that_is_not_there_exits_3_naming_it(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = subprocess.run([sys.executable, "-m", "intperf", "stream", "--bootstrap-servers",
                        f"127.0.0.1:{port}", "--storage-url",
                        f"sqlite:///{tmp_path / 'x.db'}"],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 3, r.stderr[-2000:]
    assert f"Kafka at 127.0.0.1:{port}" in r.stderr
    assert "cannot reach Kafka" in r.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "intperf", "stream", "--bus", "memory",
                        "--bootstrap-servers", "127.0.0.1:9092"],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2
    assert "--bootstrap-servers needs --bus kafka" in r.stderr
