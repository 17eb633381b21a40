"""The in-process bus: partitions, polling, backpressure, retention, groups, at-least-once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from intperf.errors import BusError
from intperf.stream.bus import Message, TopicPartition, partition_for_key
from intperf.stream.bus_memory import MemoryBus, MemoryConsumer, range_assignment

T = "events"


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    async with MemoryBus() as b:
        await b.ensure_topic(T, 4)
        yield b


async def drain(c: MemoryConsumer, n: int, timeout_s: float = 2.0) -> list[Message]:
    """Poll until ``n`` records arrived (fails after ``timeout_s``)."""
    out: list[Message] = []
    async with asyncio.timeout(timeout_s):
        while len(out) < n:
            out += await c.poll(1000, timeout_s)
    return out


async def test_keyed_records_land_on_murmur2_partitions_in_order(bus: MemoryBus) -> None:
    keys = [b"checkout", b"search", b"cart", b"login"]
    await bus.publish_many(T, [(k, b"%d" % i) for i in range(5) for k in keys])
    await bus.publish(T, b"last", key=b"cart")
    async with bus.consumer([T], "g") as c:
        got = await drain(c, 21)
    for m in got:
        assert m.partition == partition_for_key(m.key or b"", 4)
    by_key: dict[bytes, list[bytes]] = {}
    for m in got:
        by_key.setdefault(m.key or b"", []).append(m.value)
    assert by_key[b"cart"] == [b"0", b"1", b"2", b"3", b"4", b"last"]
    offsets = {(m.partition, m.offset) for m in got}
    assert len(offsets) == 21  # every record once, offsets unique per partition


async def test_keyless_records_are_spread_over_partitions(bus: MemoryBus) -> None:
    await bus.publish_many(T, [(None, b"x")] * 8)
    assert bus.end_offsets(T) == [2, 2, 2, 2]


async def test_poll_wakes_as_soon_as_a_record_arrives(bus: MemoryBus) -> None:
    async with bus.consumer([T], "g") as c:
        assert await c.poll(10, 0) == []  # joins, takes the partitions
        loop = asyncio.get_running_loop()
        started = loop.time()
        waiting = asyncio.create_task(c.poll(10, 30.0))
        await asyncio.sleep(0)  # let the poll start waiting
        await bus.publish(T, b"hello", key=b"k")
        got = await waiting
        assert [m.value for m in got] == [b"hello"]
        assert loop.time() - started < 5.0  # not the 30 s timeout


async def test_poll_returns_empty_after_its_timeout(bus: MemoryBus) -> None:
    async with bus.consumer([T], "g") as c:
        assert await c.poll(10, 0.01) == []


async def test_poll_respects_max_records_and_resumes_where_it_stopped(bus: MemoryBus) -> None:
    await bus.publish_many(T, [(b"k", b"%d" % i) for i in range(10)])
    async with bus.consumer([T], "g") as c:
        first = await c.poll(4, 1)
        rest = await drain(c, 6)
    assert [m.value for m in first + rest] == [b"%d" % i for i in range(10)]


async def test_publish_to_an_unknown_topic_is_refused() -> None:
    async with MemoryBus() as b:
        with pytest.raises(BusError, match="unknown topic 'nope'") as err:
            await b.publish("nope", b"x")
        assert err.value.retriable is False


async def test_ensure_topic_is_idempotent_and_validates(bus: MemoryBus) -> None:
    await bus.ensure_topic(T, 8)  # exists: unchanged
    assert len(bus.end_offsets(T)) == 4
    with pytest.raises(BusError, match="at least 1"):
        await bus.ensure_topic("other", 0)


async def test_a_full_partition_makes_publish_wait_until_a_commit_frees_room() -> None:
    async with MemoryBus(max_backlog=3) as b:
        await b.ensure_topic(T, 1)
        async with b.consumer([T], "g") as c:
            await b.publish_many(T, [(None, b"1"), (None, b"2"), (None, b"3")])
            blocked = asyncio.create_task(b.publish(T, b"4"))
            await asyncio.sleep(0)
            assert not blocked.done()  # backpressure, not a drop
            got = await drain(c, 3)
            assert not blocked.done()  # read is not enough: committed is what frees room
            await c.commit({(T, 0): got[-1].offset + 1})
            await asyncio.wait_for(blocked, 2)
            assert [m.value for m in await drain(c, 1)] == [b"4"]
            # The committed records are gone; the rest is kept.
            assert b.end_offsets(T) == [4]


async def test_publish_gives_up_after_max_block_with_a_retriable_error() -> None:
    async with MemoryBus(max_backlog=1, max_block_s=0.05) as b:
        await b.ensure_topic(T, 1)
        await b.publish(T, b"1")
        with pytest.raises(BusError, match="max backlog 1") as err:
            await b.publish(T, b"2")
        assert err.value.retriable is True


async def test_retention_waits_for_every_group_that_reads_the_topic() -> None:
    async with MemoryBus(max_backlog=2, max_block_s=0.05) as b:
        await b.ensure_topic(T, 1)
        async with b.consumer([T], "fast") as fast, b.consumer([T], "slow") as slow:
            await b.publish_many(T, [(None, b"1"), (None, b"2")])
            await drain(fast, 2)
            await fast.commit({(T, 0): 2})
            with pytest.raises(BusError):  # "slow" has not committed: still full
                await b.publish(T, b"3")
            await drain(slow, 2)
            await slow.commit({(T, 0): 2})
            await b.publish(T, b"3")


async def test_seek_rereads_from_an_offset_and_clamps_to_what_is_retained(bus: MemoryBus) -> None:
    await bus.publish_many(T, [(b"k", b"%d" % i) for i in range(5)])
    p = partition_for_key(b"k", 4)
    async with bus.consumer([T], "g") as c:
        await drain(c, 5)
        await c.seek((T, p), 3)
        assert [m.value for m in await drain(c, 2)] == [b"3", b"4"]
        await c.commit({(T, p): 2})
        await c.seek((T, p), 0)  # below the retention start of a single group: starts at 2
        assert [m.value for m in await drain(c, 3)] == [b"2", b"3", b"4"]
        with pytest.raises(BusError, match="not assigned"):
            await c.seek(("other", 0), 0)


async def test_commit_outside_the_partition_is_refused(bus: MemoryBus) -> None:
    async with bus.consumer([T], "g") as c:
        await c.poll(1, 0)
        with pytest.raises(BusError, match=r"outside 0\.\.0"):
            await c.commit({(T, 0): 5})


async def test_a_group_member_gets_every_partition_and_callbacks_run_in_order(
    bus: MemoryBus,
) -> None:
    calls: list[tuple[str, set[TopicPartition]]] = []

    async def on_assign(tps: set[TopicPartition]) -> None:
        calls.append(("assign", tps))

    async def on_revoke(tps: set[TopicPartition]) -> None:
        calls.append(("revoke", tps))

    c = bus.consumer([T], "g", on_assign=on_assign, on_revoke=on_revoke)
    async with c:
        assert c.assignment() == set()  # partitions arrive with the first poll
        await c.poll(1, 0)
        assert c.assignment() == {(T, p) for p in range(4)}
    assert calls == [("assign", {(T, p) for p in range(4)}),
                     ("revoke", {(T, p) for p in range(4)})]


async def test_two_members_share_partitions_and_a_leaver_triggers_a_rebalance(
    bus: MemoryBus,
) -> None:
    log: list[str] = []

    def callbacks(name: str) -> dict[str, object]:
        async def on_assign(tps: set[TopicPartition]) -> None:
            log.append(f"{name}+{sorted(p for _, p in tps)}")

        async def on_revoke(tps: set[TopicPartition]) -> None:
            log.append(f"{name}-{sorted(p for _, p in tps)}")

        return {"on_assign": on_assign, "on_revoke": on_revoke}

    a = bus.consumer([T], "g", **callbacks("a"))  # type: ignore[arg-type]
    b = bus.consumer([T], "g", **callbacks("b"))  # type: ignore[arg-type]
    await a.start()
    await a.poll(1, 0)
    await b.start()
    # b cannot get partitions before a has revoked them: it waits in poll while a polls.
    await asyncio.gather(a.poll(1, 0.5), b.poll(1, 0.5))
    assert a.assignment() == {(T, 0), (T, 1)}  # range: sorted member ids, contiguous ranges
    assert b.assignment() == {(T, 2), (T, 3)}
    assert log[:2] == ["a+[0, 1, 2, 3]", "a-[0, 1, 2, 3]"]
    assert sorted(log[2:]) == ["a+[0, 1]", "b+[2, 3]"]
    await a.close()
    await b.poll(1, 0.5)
    assert b.assignment() == {(T, p) for p in range(4)}
    assert log[-3:] == ["a-[0, 1]", "b-[2, 3]", "b+[0, 1, 2, 3]"]
    await b.close()


async def test_uncommitted_records_are_redelivered_to_the_next_owner(bus: MemoryBus) -> None:
    await bus.publish_many(T, [(b"k%d" % i, b"%d" % i) for i in range(40)])
    first = bus.consumer([T], "g")
    async with first:
        got = await drain(first, 40)
        # Commit only the first half of each partition, then stop without committing more.
        per_tp: dict[TopicPartition, list[Message]] = {}
        for m in got:
            per_tp.setdefault((m.topic, m.partition), []).append(m)
        committed = {tp: msgs[len(msgs) // 2].offset for tp, msgs in per_tp.items()}
        await first.commit(committed)
    expected = {(m.partition, m.offset) for m in got if m.offset >= committed[(T, m.partition)]}
    async with bus.consumer([T], "g") as second:
        again = await drain(second, len(expected))
    assert {(m.partition, m.offset) for m in again} == expected


async def test_commit_after_losing_the_partition_is_refused(bus: MemoryBus) -> None:
    a = bus.consumer([T], "g")
    await a.start()
    await a.poll(1, 0)
    b = bus.consumer([T], "g")
    await b.start()
    await asyncio.gather(a.poll(1, 0.2), b.poll(1, 0.2))
    with pytest.raises(BusError, match=r"events\[3\]: not assigned") as err:
        await a.commit({(T, 3): 0})
    assert err.value.retriable is False
    await a.close()
    await b.close()


async def test_a_member_that_stops_polling_is_evicted_and_rejoins_later() -> None:
    async with MemoryBus(rebalance_timeout_s=0.05) as b:
        await b.ensure_topic(T, 2)
        stuck = b.consumer([T], "g")
        await stuck.start()
        await stuck.poll(1, 0)
        assert stuck.assignment() == {(T, 0), (T, 1)}
        async with b.consumer([T], "g") as fresh:
            # `stuck` never polls: after the rebalance timeout `fresh` gets everything.
            await fresh.poll(1, 1.0)
            assert fresh.assignment() == {(T, 0), (T, 1)}
            assert stuck.assignment() == set()
            with pytest.raises(BusError, match="not assigned"):
                await stuck.commit({(T, 0): 0})
            await asyncio.gather(stuck.poll(1, 0.5), fresh.poll(1, 0.5))  # rejoin
            assert stuck.assignment() | fresh.assignment() == {(T, 0), (T, 1)}
            assert not stuck.assignment() & fresh.assignment()
        await stuck.close()


async def test_a_topic_created_later_is_assigned_to_its_subscribers() -> None:
    async with MemoryBus() as b, b.consumer(["late"], "g") as c:
        assert await c.poll(1, 0) == []
        await b.ensure_topic("late", 2)
        await b.publish("late", b"x")
        got = await drain(c, 1)
        assert got[0].topic == "late"


async def test_a_closed_bus_refuses_work(bus: MemoryBus) -> None:
    c = bus.consumer([T], "g")
    await c.start()
    await bus.close()
    with pytest.raises(BusError, match="closed"):
        await c.poll(1, 0)
    with pytest.raises(BusError, match="closed"):
        await bus.publish(T, b"x")


async def test_using_a_consumer_outside_its_context_is_refused(bus: MemoryBus) -> None:
    c = bus.consumer([T], "g")
    with pytest.raises(BusError, match="async with"):
        await c.poll(1, 0)


def test_range_assignment_is_kafkas_range_assignor() -> None:
    bus = MemoryBus()
    a, b, c = (bus.consumer(["x", "y"], "g") for _ in range(3))
    out = range_assignment([(a, a.topics), (b, b.topics), (c, ("y",))], {"x": 5, "y": 3})
    # x: 5 partitions over a, b -> 3 + 2; y: 3 over a, b, c -> 1 each.
    assert out[a] == {("x", 0), ("x", 1), ("x", 2), ("y", 0)}
    assert out[b] == {("x", 3), ("x", 4), ("y", 1)}
    assert out[c] == {("y", 2)}


async def test_seek_inside_on_assign_sets_where_reading_starts(bus: MemoryBus) -> None:
    await bus.publish_many(T, [(b"k", b"%d" % i) for i in range(6)])
    p = partition_for_key(b"k", 4)

    async def restore(tps: set[TopicPartition]) -> None:  # the processor's checkpoint restore
        await c.seek((T, p), 4)

    c = bus.consumer([T], "g", on_assign=restore)
    async with c:
        assert [m.value for m in await drain(c, 2)] == [b"4", b"5"]


async def test_commit_inside_on_revoke_is_where_the_next_member_resumes(bus: MemoryBus) -> None:
    await bus.publish_many(T, [(b"k", b"%d" % i) for i in range(6)])
    p = partition_for_key(b"k", 4)

    async def checkpoint(tps: set[TopicPartition]) -> None:
        await first.commit({(T, p): 3})

    first = bus.consumer([T], "g", on_revoke=checkpoint)
    async with first:
        await drain(first, 6)
    async with bus.consumer([T], "g") as second:
        assert [m.value for m in await drain(second, 3)] == [b"3", b"4", b"5"]
