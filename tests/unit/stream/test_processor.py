"""The stream processor on the memory bus with SQLite: exact windows, restart from the
checkpoint, dead letters, a database that goes away. A small topology of the tests' own
(per-service tumbling windows) stands in for the reference topologies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from intperf.errors import StorageError
from intperf.loadtest.results import SecondWindow
from intperf.store import Database
from intperf.store.stream_repository import StreamProgress, StreamRepository
from intperf.store.tables import RunRow, RunSecondRow
from intperf.stream import EventBatch
from intperf.stream.bus_memory import MemoryBus
from intperf.stream.codec import encode
from intperf.stream.events import ApiResponseEvent
from intperf.stream.processor import ProcessorConfig, StreamProcessor
from intperf.stream.processor_store import Backoff
from intperf.stream.topologies import StreamAlert, Topology, TopologyConfig, build_topologies

TOPIC = "events"
GROUP = "g"
WINDOW_MS = 1_000
BASE_MS = 1_790_000_000_000  # a fixed day: window starts are stable
DEADLINE_S = 10.0


TOPOLOGY = TopologyConfig(window_ms=WINDOW_MS, grace_ms=0, idle_timeout_ms=10**9,
                          alert_min_requests=1, p99_threshold_ms=900.0)


def topologies() -> list[Topology]:
    return build_topologies(TOPOLOGY)


def event(service: str, t_ms: int, ms: float) -> bytes:
    return json.dumps({"kind": "API_RESPONSE", "service": service, "event_time": t_ms,
                       "response_time_ms": ms}).encode()


def stored_counts(db: Database) -> dict[tuple[str, int], int]:
    """(service, window start ms) -> requests stored."""
    out: dict[tuple[str, int], int] = {}
    with db.session() as s:
        rows = s.execute(select(RunRow.options, RunRow.started_at, RunSecondRow.second,
                                RunSecondRow.data).join(RunRow, RunRow.id == RunSecondRow.run_id))
        for options, started, second, data in rows:
            day_ms = int(started.timestamp() * 1000)
            w = SecondWindow.from_dict(data)
            out[(options["service"], day_ms + second * 1000)] = sum(
                r.requests for r in w.requests.values())
    return out


def expected_counts(events: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    out: dict[tuple[str, int], int] = {}
    for service, t in events:
        key = (service, t // WINDOW_MS * WINDOW_MS)
        out[key] = out.get(key, 0) + 1
    return out


async def wait_for(cond: Callable[[], bool], deadline_s: float = DEADLINE_S) -> None:
    """Poll ``cond`` (a database or counter read) every 0.02 s until true or the deadline."""
    async with asyncio.timeout(deadline_s):
        while True:
            if cond():
                return
            await asyncio.sleep(0.02)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    d = Database(f"sqlite:///{tmp_path / 'stream.db'}")
    d.migrate()
    return d


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    async with MemoryBus() as b:
        await b.ensure_topic(TOPIC, 2)
        await b.ensure_topic("dlq", 1)
        yield b


def processor(bus: MemoryBus, store: Any, alerts: list[Any] | None = None,
              **kw: Any) -> StreamProcessor:
    async def on_alert(a: StreamAlert) -> None:
        if alerts is not None:
            alerts.append(a)

    cfg = ProcessorConfig(poll_timeout_s=0.05, commit_interval_s=0.05,
                          backoff=Backoff(0.05, 0.2), **kw)
    return StreamProcessor(bus, store, topics=[TOPIC], group=GROUP,
                           topologies=topologies,
                           on_alert=on_alert, config=cfg)


async def test_windows_are_exact_and_committed_after_storing(bus: MemoryBus,
                                                             db: Database) -> None:
    repo = StreamRepository(db)
    events = [(s, BASE_MS + i * 37) for i in range(300) for s in ("cart", "search")]
    await bus.publish_many(TOPIC, [(s.encode(), event(s, t, 5.0)) for s, t in events])
    alerts: list[Any] = []
    p = processor(bus, repo, alerts)
    await p.start()
    # one late event per service needs stream time past its window: push time forward
    await bus.publish_many(TOPIC, [(s.encode(), event(s, BASE_MS + 20_000, 1000.0))
                                   for s in ("cart", "search")])
    await bus.publish_many(TOPIC, [(s.encode(), event(s, BASE_MS, 1.0))
                                   for s in ("cart", "search")])
    await bus.publish_many(TOPIC, [(s.encode(), event(s, BASE_MS + 40_000, 1.0))
                                   for s in ("cart", "search")])
    expected = expected_counts(events)
    expected.update({(s, BASE_MS + 20_000): 1 for s in ("cart", "search")})
    await wait_for(lambda: stored_counts(db) == expected)
    await wait_for(lambda: p.stats().lag == 0 and p.stats().late_events == 2)
    await p.stop()
    stats = p.stats()
    assert stats.records == stats.events == 606
    assert stats.dead_letters == 0
    assert len(repo.late_events()) == 2
    assert sorted(a.key for a in alerts) == ["cart", "search"]  # the 1000 ms windows
    assert {a.kind for a in alerts} == {"response-time-p99"}
    committed = bus.committed(GROUP)
    assert sum(committed.values()) == 606
    cps = repo.checkpoints(GROUP)
    assert {tp: c.next_offset for tp, c in cps.items()} == committed
    # open windows (the +40 s events) stay in the checkpoint
    states = [c.state["topologies"]["response-time"]["windows"]["state"] for c in cps.values()]
    assert sum(len(s) for s in states) == 2


async def test_restart_after_a_crash_replays_from_the_checkpoint(bus: MemoryBus,
                                                                 db: Database) -> None:
    repo = StreamRepository(db)
    first = [(s, BASE_MS + i * 50) for i in range(200) for s in ("a", "b", "c")]
    await bus.publish_many(TOPIC, [(s.encode(), event(s, t, 2.0)) for s, t in first])
    p1 = processor(bus, repo)
    await p1.start()
    await wait_for(lambda: p1.stats().stores > 0 and p1.stats().lag == 0)
    task = p1.task
    assert task is not None
    second = [(s, BASE_MS + 10_000 + i * 50) for i in range(200) for s in ("a", "b", "c")]
    await bus.publish_many(TOPIC, [(s.encode(), event(s, t, 2.0)) for s, t in second])
    await wait_for(lambda: p1.stats().records > 600)
    task.cancel()  # a crash: no final checkpoint; whatever was not stored is replayed
    with pytest.raises(asyncio.CancelledError):
        await task
    p2 = processor(bus, repo)
    await p2.start()
    await bus.publish_many(TOPIC, [(s.encode(), event(s, BASE_MS + 60_000, 1.0))
                                   for s in ("a", "b", "c")])
    expected = expected_counts(first + second)
    await wait_for(lambda: stored_counts(db) == expected)
    await p2.stop()
    assert not repo.late_events()


async def test_malformed_records_become_dead_letters(bus: MemoryBus, db: Database) -> None:
    repo = StreamRepository(db)
    good = ApiResponseEvent.model_validate({"kind": "API_RESPONSE", "service": "x",
                                            "event_time": BASE_MS, "response_time_ms": 3.0})
    frame = encode(EventBatch.from_events([good, good]))
    ndjson = event("x", BASE_MS, 1.0) + b"\n{\"kind\": \"API_RESPONSE\"}\n" + \
        event("x", BASE_MS + 1, 1.0)
    await bus.publish_many(TOPIC, [
        (b"x", b"not json at all"),
        (b"x", b"\x00\x01binary"),
        (b"x", frame[:-3]),  # truncated frame
        (b"x", frame),
        (b"x", ndjson),
        (b"x", b"[" + event("x", BASE_MS, 1.0) + b", 42]"),
        (b"x", b""),
    ])
    p = StreamProcessor(bus, repo, topics=[TOPIC], group=GROUP,
                        topologies=topologies,
                        dead_letter_topic="dlq",
                        config=ProcessorConfig(poll_timeout_s=0.05, commit_interval_s=0.05))
    await p.start()
    await wait_for(lambda: repo.counts()["dead_letters"] == 6)
    await p.stop()
    dead = {d.reason: d for d in repo.dead_letters()}
    reasons = " | ".join(dead)
    assert "not an event record" in reasons
    assert "malformed event frame" in reasons
    assert "line 1: service: Field required" in reasons
    assert "element 1: expected a JSON object" in reasons
    assert "empty record" in reasons
    binary = next(d for d in dead.values() if d.payload.startswith("base64:"))
    assert binary.source.startswith(f"{TOPIC}/")
    assert p.stats().events == 5  # 2 in the frame, 2 NDJSON lines, 1 array element
    # dead letters were also published (JSON envelopes) to the dead-letter topic
    consumer = bus.consumer(["dlq"], "reader")
    async with consumer:
        got = await consumer.poll(100, 1.0)
    envelopes = [json.loads(m.value) for m in got]
    assert len(envelopes) == 6
    assert {e["reason"] for e in envelopes} == set(dead)


class FlakyStore:
    """A StreamRepository whose database 'goes away' while ``down`` is set."""

    def __init__(self, repo: StreamRepository) -> None:
        self.repo = repo
        self.down = False
        self.failures = 0

    def store_progress(self, group_id: str, progress: StreamProgress) -> None:
        if self.down:
            self.failures += 1
            raise StorageError("storage sqlite:///x: database is unreachable")
        self.repo.store_progress(group_id, progress)

    def checkpoints(self, group_id: str) -> Any:
        return self.repo.checkpoints(group_id)


async def test_database_gone_pauses_without_committing_then_resumes(bus: MemoryBus,
                                                                    db: Database) -> None:
    store = FlakyStore(StreamRepository(db))
    p = processor(bus, store)
    await p.start()
    events = [("s", BASE_MS + i) for i in range(100)]
    await bus.publish_many(TOPIC, [(b"s", event(s, t, 1.0)) for s, t in events])
    await wait_for(lambda: sum(bus.committed(GROUP).values()) == 100)
    store.down = True
    more = [("s", BASE_MS + 5_000 + i) for i in range(100)]
    await bus.publish_many(TOPIC, [(b"s", event(s, t, 1.0)) for s, t in more])
    await wait_for(lambda: store.failures >= 3)
    stats = p.stats()
    assert stats.storage_down_since_ms is not None
    assert sum(bus.committed(GROUP).values()) == 100  # nothing committed while down
    assert stats.records == 200
    await bus.publish(TOPIC, event("s", BASE_MS + 30_000, 1.0), b"s")
    assert p.stats().records == 200  # paused: nothing more is read
    store.down = False
    await wait_for(lambda: sum(bus.committed(GROUP).values()) == 201)
    await wait_for(lambda: stored_counts(db) == expected_counts(events + more))
    assert p.stats().storage_down_since_ms is None
    await p.stop()



async def test_slow_queries_get_plan_hints_off_the_loop_and_are_published(
        bus: MemoryBus, db: Database) -> None:
    import threading

    await bus.ensure_topic("slow", 1)
    repo = StreamRepository(db)
    calls: list[tuple[str, str, str]] = []

    def plan_hint(service: str, normalized: str) -> str | None:
        calls.append((service, normalized, threading.current_thread().name))
        return "no index on orders(customer_id)"

    query = {"kind": "DATABASE_QUERY", "service": "orders", "event_time": BASE_MS,
             "query": "SELECT * FROM orders WHERE customer_id = 42", "execution_time_ms": 900.0}
    await bus.publish_many(TOPIC, [(b"orders", json.dumps(query).encode())] * 3)
    p = StreamProcessor(bus, repo, topics=[TOPIC], group=GROUP, topologies=topologies,
                        plan_hint=plan_hint, slow_queries_topic="slow",
                        config=ProcessorConfig(poll_timeout_s=0.05, commit_interval_s=0.05))
    await p.start()
    await wait_for(lambda: len(repo.slow_queries()) == 3)
    await p.stop()
    stored = repo.slow_queries()
    assert all(q.advice[-1] == "no index on orders(customer_id)" for q in stored)
    assert {c[1] for c in calls} == {stored[0].normalized}
    assert all(c[2] != threading.main_thread().name for c in calls)
    async with bus.consumer(["slow"], "reader") as reader:
        got = await reader.poll(10, 1.0)
    assert [json.loads(m.value)["advice"][-1] for m in got] == [
        "no index on orders(customer_id)"] * 3
