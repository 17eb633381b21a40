"""The Kafka bus against a real Kafka-protocol broker (Tansu): partitioning, groups and
rebalances, at-least-once redelivery, restart from committed offsets, broker failures.

Tansu pauses each group join or rebalance for about half the session timeout; the consumers
here use 6 s (Kafka's minimum), so each takes ~3 s. Waits are conditions with deadlines.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest

from intperf.errors import BusError
from intperf.stream.bus import Message, TopicPartition, make_bus, partition_for_key
from intperf.stream.bus_kafka import KafkaBus
from intperf.stream.bus_kafka_consumer import KafkaConsumer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 4
DEADLINE_S = 30.0  # for any one condition; a rebalance takes ~3 s


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


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


async def poll_until(consumers: Sequence[KafkaConsumer], done: Callable[[], bool],
                     got: dict[KafkaConsumer, list[Message]] | None = None,
                     deadline_s: float = DEADLINE_S) -> None:
    """Poll every consumer (concurrently) until ``done()``; records are added to ``got``."""
    async with asyncio.timeout(deadline_s):
        while not done():
            batches = await asyncio.gather(*(c.poll(500, 0.2) for c in consumers))
            if got is not None:
                for c, batch in zip(consumers, batches, strict=True):
                    got.setdefault(c, []).extend(batch)


def all_partitions(topic: str) -> set[TopicPartition]:
    return {(topic, p) for p in range(PARTITIONS)}


async def test_keyed_records_round_trip_on_java_partitions(bus: KafkaBus, topic: str) -> None:
    keys = [b"checkout", b"search", b"cart", b"login", b"payment", b"profile"]
    await bus.publish_many(topic, [(k, b"%s-%d" % (k, i)) for i in range(50) for k in keys])
    await bus.publish(topic, b"keyless")
    await bus.flush()
    got: dict[KafkaConsumer, list[Message]] = {}
    async with bus.consumer([topic], unique("g")) as c:
        await poll_until([c], lambda: len(got.get(c, [])) >= 301, got)
    records = got[c]
    assert len(records) == 301
    for m in records:
        if m.key is not None:  # librdkafka's murmur2 partitioner == Java's == ours
            assert m.partition == partition_for_key(m.key, PARTITIONS), m
    for k in keys:  # per-key (so per-partition) order is kept
        assert [m.value for m in records if m.key == k] == [b"%s-%d" % (k, i) for i in range(50)]
    assert all(m.timestamp_ms > 1_600_000_000_000 for m in records)


async def test_two_members_share_partitions_and_rebalance_when_one_leaves(
    bus: KafkaBus, topic: str,
) -> None:
    group = unique("g")
    events: list[str] = []

    def member(name: str) -> KafkaConsumer:
        async def on_assign(tps: set[TopicPartition]) -> None:
            events.append(f"{name}+{sorted(p for _, p in tps)}")

        async def on_revoke(tps: set[TopicPartition]) -> None:
            events.append(f"{name}-{sorted(p for _, p in tps)}")

        return bus.consumer([topic], group, on_assign=on_assign, on_revoke=on_revoke)

    a, b = member("a"), member("b")
    try:
        await a.start()
        await poll_until([a], lambda: a.assignment() == all_partitions(topic))
        await b.start()
        await poll_until([a, b], lambda: len(a.assignment()) == 2 == len(b.assignment()))
        assert a.assignment() | b.assignment() == all_partitions(topic)
        await bus.publish_many(topic, [(b"k%d" % i, b"v") for i in range(200)])
        await bus.flush()
        got: dict[KafkaConsumer, list[Message]] = {}
        await poll_until([a, b], lambda: sum(map(len, got.values())) >= 200, got)
        for c in (a, b):  # each reads only its own partitions
            assert {(m.topic, m.partition) for m in got[c]} <= c.assignment()
        await a.close()  # leaves: its on_revoke runs, then b takes everything
        await poll_until([b], lambda: b.assignment() == all_partitions(topic))
    finally:
        await a.close()
        await b.close()
    # Eager rebalances with Kafka's range assignor (which member gets the lower range depends
    # on the broker-made member ids): revoke everything, then assign.
    assert events[:2] == ["a+[0, 1, 2, 3]", "a-[0, 1, 2, 3]"]
    halves = sorted(events[2:4])
    assert halves in (["a+[0, 1]", "b+[2, 3]"], ["a+[2, 3]", "b+[0, 1]"])
    a_half, b_half = (h[2:] for h in halves)
    assert events[4:] == [f"a-{a_half}", f"b-{b_half}", "b+[0, 1, 2, 3]", "b-[0, 1, 2, 3]"]


async def test_records_not_committed_are_redelivered_to_the_next_member(
    bus: KafkaBus, topic: str,
) -> None:
    group = unique("g")
    await bus.publish_many(topic, [(b"k%d" % i, b"%d" % i) for i in range(100)])
    await bus.flush()
    first: dict[KafkaConsumer, list[Message]] = {}
    c1 = bus.consumer([topic], group)
    async with c1:
        await poll_until([c1], lambda: len(first.get(c1, [])) >= 100, first)
        by_tp: dict[TopicPartition, list[Message]] = {}
        for m in first[c1]:
            by_tp.setdefault((m.topic, m.partition), []).append(m)
        # Commit half of each partition; the rest was read but never committed (a crash).
        committed = {tp: msgs[len(msgs) // 2].offset for tp, msgs in by_tp.items()}
        await c1.commit(committed)
    expected = {(m.partition, m.offset) for m in first[c1]
                if m.offset >= committed[(m.topic, m.partition)]}
    second: dict[KafkaConsumer, list[Message]] = {}
    c2 = bus.consumer([topic], group)
    async with c2:
        await poll_until([c2], lambda: len(second.get(c2, [])) >= len(expected), second)
    assert {(m.partition, m.offset) for m in second[c2]} == expected


async def test_restart_resumes_from_committed_offsets_and_seek_rereads(
    bus: KafkaBus, topic: str,
) -> None:
    group = unique("g")
    await bus.publish_many(topic, [(b"same-key", b"%d" % i) for i in range(20)])
    await bus.flush()
    tp = (topic, partition_for_key(b"same-key", PARTITIONS))
    got: dict[KafkaConsumer, list[Message]] = {}

    async def checkpoint(tps: set[TopicPartition]) -> None:  # runs inside close()
        await c1.commit({tp: 12})

    c1 = bus.consumer([topic], group, on_revoke=checkpoint)
    async with c1:
        await poll_until([c1], lambda: len(got.get(c1, [])) >= 20, got)
        await c1.seek(tp, 15)  # outside a callback: re-read from 15
        await poll_until([c1], lambda: len(got[c1]) >= 25, got)
        assert [m.value for m in got[c1][20:]] == [b"15", b"16", b"17", b"18", b"19"]

    # A restarted member resumes at the offset committed in on_revoke ...
    c2 = bus.consumer([topic], group)
    async with c2:
        await poll_until([c2], lambda: len(got.get(c2, [])) >= 8, got)
    assert [m.offset for m in got[c2]] == list(range(12, 20))

    # ... unless its on_assign seeks to a checkpoint of its own (the processor's restore).
    async def restore(tps: set[TopicPartition]) -> None:
        await c3.seek(tp, 5)

    c3 = bus.consumer([topic], group, on_assign=restore)
    async with c3:
        await poll_until([c3], lambda: len(got.get(c3, [])) >= 15, got)
    assert [m.offset for m in got[c3]] == list(range(5, 20))


async def test_commit_of_a_partition_not_owned_is_refused(bus: KafkaBus, topic: str) -> None:
    async with bus.consumer([topic], unique("g")) as c:
        await poll_until([c], lambda: bool(c.assignment()))
        with pytest.raises(BusError, match=r"not assigned to this consumer") as err:
            await c.commit({("other-topic", 0): 1})
        assert err.value.retriable is False


async def test_publish_to_an_unknown_topic_is_refused(bus: KafkaBus) -> None:
    with pytest.raises(BusError, match="unknown topic") as err:
        await bus.publish(unique("missing"), b"x")
    assert err.value.retriable is False


async def test_nothing_listening_is_a_retriable_bus_error() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bus = make_bus("kafka", bootstrap_servers=f"127.0.0.1:{port}")
    assert isinstance(bus, KafkaBus)
    bus.connect_timeout_s = 2.0
    with pytest.raises(BusError, match=rf"cannot reach Kafka.*127\.0\.0\.1:{port}") as err:
        async with bus:
            pass
    assert err.value.retriable is True


async def test_broker_gone_mid_run_is_a_retriable_bus_error(
    tansu_launcher: Callable[[], Any],
) -> None:
    with tansu_launcher() as (address, process):  # a private broker: this test kills it
        async with KafkaBus([address], session_timeout_s=6.0, connect_timeout_s=3.0) as b:
            name = unique("events")
            await b.ensure_topic(name, 1)
            async with b.consumer([name], unique("g")) as c:
                await b.publish(name, b"before")
                await b.flush()
                await poll_until([c], lambda: bool(c.assignment()))
                process.kill()
                process.wait()
                await b.publish(name, b"after")
                with pytest.raises(BusError, match="not yet delivered") as flush_err:
                    await b.flush()
                assert flush_err.value.retriable is True
                with pytest.raises(BusError, match="unreachable") as poll_err:
                    await poll_until([c], lambda: False, deadline_s=DEADLINE_S)
                assert poll_err.value.retriable is True
            await b.close(flush=False)  # "after" can never be delivered now
