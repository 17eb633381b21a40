"""The stream processor against a real Kafka-protocol broker (Tansu): exact windows, late and
out-of-order events, dead letters on the dead-letter topic, two processors through a
rebalance, a crash and restart, and a PostgreSQL that goes away mid-run.

Stored windows are compared with a single-processor computation: the same topology fed every
partition's records in order, in this process. Tansu pauses each group join or rebalance for
about half the session timeout (6 s here); waits are conditions with deadlines.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from intperf.errors import StorageError
from intperf.store import Database
from intperf.store.stream_repository import StreamRepository
from intperf.store.tables import RunRow, RunSecondRow
from intperf.stream.bus import Message, partition_for_key
from intperf.stream.bus_kafka import KafkaBus
from intperf.stream.processor import ProcessorConfig, StreamProcessor
from intperf.stream.processor_decode import decode_records
from intperf.stream.processor_store import Backoff
from intperf.stream.topologies import Output, Topology, TopologyConfig, build_topologies

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 4
WINDOW_MS = 1_000
GRACE_MS = 500
BASE_MS = 1_790_000_000_000
DEADLINE_S = 30.0


# Idle flush off: stored windows must not depend on how long the test pauses.
TOPOLOGY = TopologyConfig(window_ms=WINDOW_MS, grace_ms=GRACE_MS, idle_timeout_ms=10**9)


def topologies() -> list[Topology]:
    return build_topologies(TOPOLOGY)


# --- helpers ---------------------------------------------------------------------------------
def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def services_on_every_partition(per_partition: int) -> list[str]:
    """Unique service names, ``per_partition`` of them keyed to each partition."""
    out: dict[int, list[str]] = {p: [] for p in range(PARTITIONS)}
    while any(len(v) < per_partition for v in out.values()):
        name = unique("svc")
        bucket = out[partition_for_key(name.encode(), PARTITIONS)]
        if len(bucket) < per_partition:
            bucket.append(name)
    return [s for v in out.values() for s in v]


def api_event(service: str, t_ms: int, ms: float) -> bytes:
    return json.dumps({"kind": "API_RESPONSE", "service": service, "event_time": t_ms,
                       "response_time_ms": ms}).encode()


Records = list[tuple[bytes, bytes]]


def reference(records: Records) -> tuple[dict[tuple[str, int], Any], int]:
    """Windows (service, start) -> stored requests dict and the late count, computed by one
    topology per partition fed the records in publish order."""
    topo: dict[int, list[Topology]] = {}
    windows: dict[tuple[str, int], Any] = {}
    late = 0
    for i, (key, value) in enumerate(records):
        p = partition_for_key(key, PARTITIONS)
        out = Output()
        batch = decode_records([Message("t", p, i, key, value, BASE_MS)],
                               max_future_ms=None).batch
        for t in topo.setdefault(p, topologies()):
            t.process(batch, out)
        for w in out.windows:
            windows[(w.service, w.start_ms)] = w.window.to_dict()["requests"]
        late += len(out.late)
    return windows, late


def stored(db: Database, services: set[str]) -> dict[tuple[str, int], Any]:
    out: dict[tuple[str, int], Any] = {}
    with db.session() as s:
        rows = s.execute(select(RunRow.options, RunRow.started_at, RunSecondRow.second,
                                RunSecondRow.data).join(RunRow, RunRow.id == RunSecondRow.run_id))
        for options, started, second, data in rows:
            if options.get("service") in services:
                day_ms = int(started.timestamp() * 1000)
                out[(options["service"], day_ms + second * 1000)] = data["requests"]
    return out


async def wait_for(cond: Callable[[], bool], deadline_s: float = DEADLINE_S) -> None:
    """Poll ``cond`` (a database or counter read) every 0.05 s until true or the deadline."""
    async with asyncio.timeout(deadline_s):
        while True:
            if cond():
                return
            await asyncio.sleep(0.05)


@pytest.fixture
async def bus(kafka_broker: str) -> AsyncIterator[KafkaBus]:
    async with KafkaBus([kafka_broker], client_id="intperf-test", session_timeout_s=6.0,
                        connect_timeout_s=5.0) as b:
        yield b


@pytest.fixture
async def topic(bus: KafkaBus) -> str:
    name = unique("events")
    await bus.ensure_topic(name, PARTITIONS)
    return name


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'stream.db'}")
    db.migrate()
    return db


def make_processor(bus: KafkaBus, store: Any, topic: str, group: str, *,
                   dlq: str | None = None) -> StreamProcessor:
    cfg = ProcessorConfig(commit_interval_s=0.2, backoff=Backoff(0.1, 0.5), stop_timeout_s=20)
    return StreamProcessor(bus, store, topics=[topic], group=group,
                           topologies=topologies,
                           dead_letter_topic=dlq, config=cfg)


def workload(services: list[str], start_ms: int, n: int, step_ms: int = 7) -> Records:
    return [(s.encode(), api_event(s, start_ms + i * step_ms, 1.0 + (i * 13) % 97))
            for i in range(n) for s in services]


def closing(services: list[str], t_ms: int) -> Records:
    """One event per service far ahead: every earlier window closes."""
    return [(s.encode(), api_event(s, t_ms, 1.0)) for s in services]


async def publish(bus: KafkaBus, topic: str, records: Records) -> None:
    await bus.publish_many(topic, records)
    await bus.flush()


# --- tests -----------------------------------------------------------------------------------
async def test_exact_windows_with_late_and_out_of_order_events(
    bus: KafkaBus, topic: str, sqlite_db: Database,
) -> None:
    services = [unique("svc") for _ in range(6)]
    records = workload(services, BASE_MS, 300)
    # out of order within the grace period: counted in their (still open) windows
    records += [(s.encode(), api_event(s, BASE_MS + 300 * 7 - 400, 50.0)) for s in services]
    records += closing(services, BASE_MS + 10_000)
    # late: their windows closed when stream time passed end + grace
    records += [(s.encode(), api_event(s, BASE_MS + 1_000, 5.0)) for s in services]
    records += closing(services, BASE_MS + 20_000)
    expected, late = reference(records)
    assert late == len(services)
    repo = StreamRepository(sqlite_db)
    p = make_processor(bus, repo, topic, unique("g"))
    await p.start()
    await publish(bus, topic, records)
    await wait_for(lambda: stored(sqlite_db, set(services)) == expected)
    await wait_for(lambda: len(repo.late_events()) == late)
    await p.stop()
    assert p.stats().records == len(records)
    assert {e.key for e in repo.late_events()} == set(services)


async def test_malformed_records_go_to_the_dead_letter_topic(
    bus: KafkaBus, topic: str, sqlite_db: Database,
) -> None:
    dlq = unique("dlq")
    await bus.ensure_topic(dlq, 1)
    repo = StreamRepository(sqlite_db)
    bad = [b"{not json", b"\xff\xfe", b'{"kind": "API_RESPONSE", "service": "x"}',
           b"IPEV\x01\x00\x00\x00truncated"]
    p = make_processor(bus, repo, topic, unique("g"), dlq=dlq)
    await p.start()
    await publish(bus, topic, [(b"x", v) for v in bad] + [(b"x", api_event("x", BASE_MS, 1.0))])
    await wait_for(lambda: p.stats().dead_letters == 4)
    await wait_for(lambda: repo.counts()["dead_letters"] >= 4)
    await p.stop()
    got: list[Message] = []
    async with bus.consumer([dlq], unique("reader")) as reader:
        async with asyncio.timeout(DEADLINE_S):
            while len(got) < 4:
                got += await reader.poll(100, 0.2)
    envelopes = [json.loads(m.value) for m in got]
    assert {e["source"].rsplit("/", 1)[0] for e in envelopes} == {
        f"{topic}/{partition_for_key(b'x', PARTITIONS)}"}
    reasons = sorted(e["reason"] for e in envelopes)
    assert any("invalid JSON" in r or "Invalid JSON" in r for r in reasons), reasons
    assert any("event_time: Field required" in r for r in reasons), reasons
    assert any("malformed event frame" in r for r in reasons), reasons
    assert any(e["payload"].startswith("base64:") for e in envelopes)


async def test_two_processors_through_a_rebalance_store_each_window_once(
    bus: KafkaBus, topic: str, sqlite_db: Database,
) -> None:
    services = services_on_every_partition(2)
    group = unique("g")
    repo = StreamRepository(sqlite_db)
    first = workload(services, BASE_MS, 200)
    second = workload(services, BASE_MS + 2_000, 200)
    third = workload(services, BASE_MS + 4_000, 200) + closing(services, BASE_MS + 30_000)
    expected, _ = reference(first + second + third)
    a = make_processor(bus, repo, topic, group)
    b = make_processor(bus, repo, topic, group)
    await a.start()
    await wait_for(lambda: len(a.stats().partitions) == PARTITIONS)
    await publish(bus, topic, first)
    await wait_for(lambda: a.stats().records == len(first))
    await b.start()
    await wait_for(lambda: len(b.stats().partitions) > 0
                   and len(a.stats().partitions) + len(b.stats().partitions) == PARTITIONS)
    await publish(bus, topic, second)
    await wait_for(lambda: a.stats().records + b.stats().records >= len(first + second))
    await a.stop()  # b takes every partition from a's final checkpoints
    await wait_for(lambda: len(b.stats().partitions) == PARTITIONS)
    await publish(bus, topic, third)
    await wait_for(lambda: stored(sqlite_db, set(services)) == expected)
    await b.stop()
    assert a.stats().records + b.stats().records == len(first + second + third)
    assert b.stats().records > len(third)  # b also owned partitions while a ran


async def test_a_crashed_processor_is_replayed_from_its_checkpoint(
    bus: KafkaBus, topic: str, sqlite_db: Database,
) -> None:
    services = [unique("svc") for _ in range(4)]
    group = unique("g")
    repo = StreamRepository(sqlite_db)
    before = workload(services, BASE_MS, 300)
    after = workload(services, BASE_MS + 3_000, 300) + closing(services, BASE_MS + 30_000)
    expected, _ = reference(before + after)
    a = make_processor(bus, repo, topic, group)
    await a.start()
    await publish(bus, topic, before)
    await wait_for(lambda: a.stats().records == len(before) and a.stats().commits > 0)
    await publish(bus, topic, after[:600])
    await wait_for(lambda: a.stats().records > len(before))
    task = a.task
    assert task is not None
    task.cancel()  # a crash: no final checkpoint, nothing more committed
    with pytest.raises(asyncio.CancelledError):
        await task
    b = make_processor(bus, repo, topic, group)
    await b.start()
    await publish(bus, topic, after[600:])
    await wait_for(lambda: stored(sqlite_db, set(services)) == expected)
    await b.stop()
    assert not repo.late_events()


class TcpProxy:
    """Loopback TCP proxy to PostgreSQL on its own thread and loop (the test's loop runs
    synchronous database calls) that can drop every connection and refuse new ones."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def up(self) -> None:
        self._call(self._up())

    def down(self) -> None:
        self._call(self._down())

    def close(self) -> None:
        self._call(self._down())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _up(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            w.close()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_postgres_gone_mid_run_pauses_without_commit_and_resumes(
    bus: KafkaBus, topic: str, postgres_url: str,
) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.up()
    db = Database(url.set(host="127.0.0.1", port=proxy.port))
    db.migrate()
    services = [unique("svc") for _ in range(4)]
    group = unique("g")
    repo = StreamRepository(db)
    before = workload(services, BASE_MS, 200)
    during = workload(services, BASE_MS + 3_000, 200)
    after = closing(services, BASE_MS + 30_000)
    expected, _ = reference(before + during + after)
    p = make_processor(bus, repo, topic, group)
    try:
        await p.start()
        await publish(bus, topic, before)
        await wait_for(lambda: p.stats().records == len(before) and p.stats().commits > 0)
        commits = p.stats().commits
        proxy.down()
        await publish(bus, topic, during)
        await wait_for(lambda: p.stats().store_failures >= 2)
        assert p.stats().storage_down_since_ms is not None
        assert p.stats().commits == commits  # nothing committed while the database is away
        with pytest.raises(StorageError):
            repo.checkpoints(group)
        proxy.up()
        await publish(bus, topic, after)
        await wait_for(lambda: stored(db, set(services)) == expected)
        assert p.stats().storage_down_since_ms is None
        assert p.stats().commits > commits
    finally:
        await p.stop()
        db.close()
        proxy.close()
