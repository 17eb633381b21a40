"""The memory bus's journal: replay, visibility after fsync, group offsets, retention, torn
tails, corruption, locking, write failures, group commit; a state machine against a model."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from intperf.errors import BusError
from intperf.stream.bus import Message, TopicPartition, make_bus, partition_for_key
from intperf.stream.bus_journal_format import encode_record, iter_frames, scan_segment
from intperf.stream.bus_memory import MemoryBus, MemoryConsumer

T = "events"
R = TypeVar("R")


async def drain(c: MemoryConsumer, n: int, timeout_s: float = 2.0) -> list[Message]:
    """Poll until ``n`` records arrived (fails after ``timeout_s``)."""
    out: list[Message] = []
    async with asyncio.timeout(timeout_s):
        while len(out) < n:
            out += await c.poll(1000, timeout_s)
    return out


def segments(journal: Path, topic: str = T, partition: int = 0) -> list[Path]:
    return sorted((journal / topic / str(partition)).glob("*.log"))


async def test_flushed_records_are_replayed_with_their_offsets_keys_values_and_times(
    tmp_path: Path,
) -> None:
    async with MemoryBus(tmp_path) as bus:
        await bus.ensure_topic(T, 3)
        await bus.publish_many(T, [(b"k%d" % (i % 5), b"v%d" % i) for i in range(50)])
        await bus.publish(T, b"keyless")
        await bus.flush()
        async with bus.consumer([T], "before") as c:
            before = await drain(c, 51)
        ends = bus.end_offsets(T)
    assert ends == [len([m for m in before if m.partition == p]) for p in range(3)]
    async with MemoryBus(tmp_path) as again:
        assert again.end_offsets(T) == ends
        async with again.consumer([T], "after") as c:
            after = await drain(c, 51)
        assert sorted(after, key=lambda m: (m.partition, m.offset)) == sorted(
            before, key=lambda m: (m.partition, m.offset))
        # Offsets go on where they stopped.
        await again.publish(T, b"next", key=b"k0")
        await again.flush()
        p = partition_for_key(b"k0", 3)
        assert again.end_offsets(T)[p] == ends[p] + 1


async def test_records_become_visible_when_durable_and_flush_waits_for_that(
    tmp_path: Path,
) -> None:
    async with MemoryBus(tmp_path) as bus:
        await bus.ensure_topic(T, 1)
        await bus.publish_many(T, [(None, b"a"), (None, b"b")])
        # Not yet written: consumers and lag do not see it, a commit cannot reach it.
        assert bus.end_offsets(T) == [0]
        await bus.flush()
        assert bus.end_offsets(T) == [2]
        assert (tmp_path / T / "0" / f"{0:020d}.log").stat().st_size > 0


async def test_an_orderly_close_writes_what_was_not_flushed_yet(tmp_path: Path) -> None:
    async with MemoryBus(tmp_path) as bus:
        await bus.ensure_topic(T, 1)
        await bus.publish_many(T, [(None, b"a"), (None, b"b")])
    async with MemoryBus(tmp_path) as again:
        assert again.end_offsets(T) == [2]


async def test_group_offsets_survive_a_restart_and_members_resume_there(tmp_path: Path) -> None:
    async with MemoryBus(tmp_path) as bus:
        await bus.ensure_topic(T, 1)
        await bus.publish_many(T, [(None, b"%d" % i) for i in range(6)])
        await bus.flush()
        async with bus.consumer([T], "g") as c:
            await drain(c, 6)
            await c.commit({(T, 0): 4})
    assert (tmp_path / "@groups" / "g.json").exists()
    async with MemoryBus(tmp_path) as again:
        assert again.committed("g") == {(T, 0): 4}
        async with again.consumer([T], "g") as c:
            assert [m.value for m in await drain(c, 2)] == [b"4", b"5"]


async def test_retention_deletes_segments_below_every_groups_commit(tmp_path: Path) -> None:
    async with MemoryBus(tmp_path, segment_records=2) as bus:
        await bus.ensure_topic(T, 1)
        await bus.publish_many(T, [(None, b"%d" % i) for i in range(10)])
        await bus.flush()
        assert [s.name for s in segments(tmp_path)] == [f"{b:020d}.log" for b in (0, 2, 4, 6, 8)]
        async with bus.consumer([T], "fast") as fast, bus.consumer([T], "slow") as slow:
            await drain(fast, 10)
            await drain(slow, 10)
            await fast.commit({(T, 0): 9})
            await slow.commit({(T, 0): 5})
            # Segment 4 holds offset 5, still unread by "slow": kept.
            assert bus.journal is not None
            assert bus.journal.segments((T, 0)) == [4, 6, 8]
            await slow.commit({(T, 0): 10})
            assert bus.journal.segments((T, 0)) == [8]  # the last segment always stays
    assert [s.name for s in segments(tmp_path)] == [f"{8:020d}.log"]
    async with MemoryBus(tmp_path, segment_records=2) as again:
        assert again.end_offsets(T) == [10]
        await again.publish(T, b"10")
        await again.flush()
        async with again.consumer([T], "slow") as c:
            assert [m.offset for m in await drain(c, 1)] == [10]


async def test_a_torn_last_record_is_dropped_and_its_offset_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    async with MemoryBus(tmp_path) as bus:
        await bus.ensure_topic(T, 1)
        await bus.publish_many(T, [(b"k", b"x" * 100) for _ in range(3)])
        await bus.flush()
    seg = segments(tmp_path)[-1]
    frames = list(iter_frames(seg.read_bytes()))
    os.truncate(seg, frames[-1][0] + 30)  # the last record half written
    caplog.set_level(logging.WARNING)
    async with MemoryBus(tmp_path) as again:
        assert again.end_offsets(T) == [2]
        assert seg.stat().st_size == frames[-1][0]  # truncated at the torn record
        await again.publish(T, b"new", key=b"k")
        await again.flush()
        async with again.consumer([T], "g") as c:
            got = await drain(c, 3)
        assert [(m.offset, m.value) for m in got][-1] == (2, b"new")
    assert "torn record" in caplog.text


async def test_zeroes_after_the_last_record_are_a_torn_tail(tmp_path: Path) -> None:
    async with MemoryBus(tmp_path) as bus:
        await bus.ensure_topic(T, 1)
        await bus.publish_many(T, [(None, b"a"), (None, b"b")])
        await bus.flush()
    seg = segments(tmp_path)[-1]
    size = seg.stat().st_size
    with seg.open("ab") as f:
        f.write(b"\0" * 4096)  # what a crash can leave where the size got ahead of the data
    async with MemoryBus(tmp_path) as again:
        assert again.end_offsets(T) == [2]
    assert seg.stat().st_size == size


async def test_a_bad_record_before_the_last_segment_refuses_to_start(tmp_path: Path) -> None:
    async with MemoryBus(tmp_path, segment_records=2) as bus:
        await bus.ensure_topic(T, 1)
        await bus.publish_many(T, [(None, b"%d" % i) for i in range(5)])
        await bus.flush()
    first = segments(tmp_path)[0]
    data = bytearray(first.read_bytes())
    data[-1] ^= 0xFF  # a flipped bit in a segment that was fsynced whole
    first.write_bytes(bytes(data))
    with pytest.raises(BusError, match="corrupt stream journal segment") as err:
        async with MemoryBus(tmp_path, segment_records=2):
            pass
    assert err.value.retriable is False


async def test_a_missing_segment_refuses_to_start(tmp_path: Path) -> None:
    async with MemoryBus(tmp_path, segment_records=2) as bus:
        await bus.ensure_topic(T, 1)
        await bus.publish_many(T, [(None, b"%d" % i) for i in range(5)])
        await bus.flush()
    segments(tmp_path)[1].unlink()
    with pytest.raises(BusError, match="a segment is missing"):
        async with MemoryBus(tmp_path, segment_records=2):
            pass


async def test_one_journal_serves_one_bus_at_a_time(tmp_path: Path) -> None:
    async with MemoryBus(tmp_path):
        with pytest.raises(BusError, match="in use by another process") as err:
            async with MemoryBus(tmp_path):
                pass
        assert err.value.retriable is False
    async with MemoryBus(tmp_path):  # released on close
        pass


async def test_a_journaled_bus_must_be_started_and_topics_must_be_kafka_names(
    tmp_path: Path,
) -> None:
    bus = MemoryBus(tmp_path)
    with pytest.raises(BusError, match="must be started"):
        await bus.ensure_topic(T, 1)
    async with bus:
        with pytest.raises(BusError, match="cannot be journaled") as err:
            await bus.ensure_topic("../escape", 1)
        assert err.value.retriable is False


async def test_a_failed_write_fails_flush_and_everything_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    async with MemoryBus(tmp_path) as bus:
        await bus.ensure_topic(T, 1)
        await bus.publish(T, b"safe")
        await bus.flush()

        def disk_full(fd: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "fdatasync", disk_full)
        await bus.publish(T, b"lost")
        with pytest.raises(BusError, match="No space left on device") as err:
            await bus.flush()
        assert err.value.retriable is False
        with pytest.raises(BusError, match="ENOSPC"):
            await bus.publish(T, b"after")
        monkeypatch.undo()
    assert "write failed" in caplog.text
    async with MemoryBus(tmp_path) as again, again.consumer([T], "g") as c:
        got = await drain(c, 1)
        assert got[0].value == b"safe"


async def test_publishes_between_fsyncs_share_one_and_disk_work_is_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    real = os.fdatasync

    def counting(fd: int) -> None:
        calls.append(threading.get_ident())
        real(fd)

    async with MemoryBus(tmp_path) as bus:
        await bus.ensure_topic(T, 1)
        monkeypatch.setattr(os, "fdatasync", counting)
        for i in range(100):
            await bus.publish(T, b"%d" % i)  # no await on disk: all in one batch
        await bus.flush()
        monkeypatch.undo()
        assert len(calls) == 1
        assert calls[0] != threading.get_ident()
        assert bus.end_offsets(T) == [100]


async def test_leftover_temp_files_of_group_rewrites_are_removed(tmp_path: Path) -> None:
    async with MemoryBus(tmp_path) as bus:
        await bus.ensure_topic(T, 1)
    tmp = tmp_path / "@groups" / "g.json.tmp"
    tmp.write_bytes(b'{"gro')  # a rewrite interrupted before its rename
    async with MemoryBus(tmp_path) as again:
        assert again.committed("g") == {}
    assert not tmp.exists()


async def test_make_bus_passes_the_journal_dir_and_creates_it(tmp_path: Path) -> None:
    bus = make_bus("memory", journal_dir=str(tmp_path / "a" / "journal"))
    assert isinstance(bus, MemoryBus)
    async with bus:
        assert bus.journal is not None
        assert bus.journal.dir == tmp_path / "a" / "journal"
    assert (tmp_path / "a" / "journal" / ".lock").exists()


@given(st.lists(st.tuples(st.binary(max_size=8) | st.none(), st.binary(max_size=64),
                          st.integers(0, 2**62)), max_size=20),
       st.integers(0, 1000))
def test_frames_round_trip_and_any_cut_is_a_torn_tail(
    records: list[tuple[bytes | None, bytes, int]], cut: int,
) -> None:
    base = 7
    data = b"".join(encode_record(base + i, ts, k, v) for i, (k, v, ts) in enumerate(records))
    scan = scan_segment(data, base, (T, 1), 0, Path("x"))
    assert scan.torn_at is None
    assert [(m.key, m.value, m.timestamp_ms, m.offset) for m in scan.records] == [
        (k, v, ts, base + i) for i, (k, v, ts) in enumerate(records)]
    cut = min(cut, len(data))
    ends = {pos + n for pos, n in iter_frames(data)} | {0}
    whole = max(e for e in ends if e <= cut)
    part = scan_segment(data[:cut], base, (T, 1), 0, Path("x"))
    assert part.torn_at == (None if cut == whole else whole)
    assert [m.value for m in part.records] == [v for _, v, _ in records][:len(part.records)]


# --- a model of publish / commit / restart ---------------------------------------------------
TOPICS = ("a", "b")
GROUPS = ("g", "h")


class JournalMachine(RuleBasedStateMachine):
    """Whatever is published, committed and restarted, the replayed bus equals the model."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = Path(tempfile.mkdtemp(prefix="intperf-journal-"))
        self.partitions: dict[str, int] = {}
        self.records: dict[TopicPartition, list[tuple[bytes | None, bytes]]] = {}
        self.committed: dict[str, dict[TopicPartition, int]] = {}
        # Where each partition's retained records start: raised by commits, never lowered
        # while the bus runs (a group committing lower later does not bring records back).
        self.floors: dict[TopicPartition, int] = {}
        self.keyless: dict[str, int] = {}
        self.readers = 0
        self.bus = self.open()

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        return self.loop.run_until_complete(coro)

    def open(self) -> MemoryBus:
        bus = MemoryBus(self.dir, segment_records=3)
        self.run(bus.start())
        self.keyless = {}  # round robin starts over in a new process
        return bus

    def teardown(self) -> None:
        try:
            self.run(self.bus.close())
        finally:
            self.loop.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    @rule(topic=st.sampled_from(TOPICS), n=st.integers(1, 3))
    def ensure_topic(self, topic: str, n: int) -> None:
        self.run(self.bus.ensure_topic(topic, n))
        self.partitions.setdefault(topic, n)

    @precondition(lambda self: self.partitions)
    @rule(data=st.data(), items=st.lists(st.tuples(st.sampled_from([b"x", b"y", b"z", None]),
                                                   st.binary(max_size=8)), min_size=1,
                                         max_size=8),
          one_by_one=st.booleans(), flush=st.booleans())
    def publish(self, data: st.DataObject, items: list[tuple[bytes | None, bytes]],
                one_by_one: bool, flush: bool) -> None:
        topic = data.draw(st.sampled_from(sorted(self.partitions)))
        n = self.partitions[topic]
        if one_by_one:
            for key, value in items:
                self.run(self.bus.publish(topic, value, key))
        else:
            self.run(self.bus.publish_many(topic, items))
        for key, value in items:
            if key is None:
                p = self.keyless[topic] = (self.keyless.get(topic, 0) + 1) % n
            else:
                p = partition_for_key(key, n)
            self.records.setdefault((topic, p), []).append((key, value))
        if flush:
            self.run(self.bus.flush())

    @precondition(lambda self: self.partitions)
    @rule(data=st.data(), group=st.sampled_from(GROUPS))
    def commit(self, data: st.DataObject, group: str) -> None:
        topic = data.draw(st.sampled_from(sorted(self.partitions)))
        self.run(self.bus.flush())
        offsets = {}
        for p in range(self.partitions[topic]):
            tp = (topic, p)
            low = self.committed.get(group, {}).get(tp, 0)
            offsets[tp] = data.draw(st.integers(low, len(self.records.get(tp, []))))

        async def commit() -> None:
            async with self.bus.consumer([topic], group) as c:
                await c.poll(0, 0)
                await c.commit(offsets)

        self.run(commit())
        self.committed.setdefault(group, {}).update(offsets)
        for tp in offsets:
            self.floors[tp] = max(self.floors.get(tp, 0), self.lowest_commit(tp))
        self.check_retention()

    @rule()
    def restart(self) -> None:
        self.run(self.bus.close())
        self.bus = self.open()
        journal = self.bus.journal
        assert journal is not None
        for topic, n in self.partitions.items():
            for p in range(n):
                tp = (topic, p)
                # Replayed from the lowest commit, or the oldest segment kept if that is later:
                # never later than the records the bus still had before the restart.
                bases = journal.segments(tp)
                first = max(self.lowest_commit(tp), bases[0] if bases else 0)
                assert first <= self.floors.get(tp, 0) or not self.records.get(tp), tp
                self.floors[tp] = min(first, len(self.records.get(tp, [])))
        self.check_replayed()
        self.check_retention()

    # --- checks --------------------------------------------------------------------------
    def lowest_commit(self, tp: TopicPartition) -> int:
        offsets = [c[tp] for c in self.committed.values() if tp in c]
        return min(offsets) if offsets else 0

    def check_replayed(self) -> None:
        for g in GROUPS:
            assert self.bus.committed(g) == self.committed.get(g, {})
        for topic, n in self.partitions.items():
            ends = [len(self.records.get((topic, p), [])) for p in range(n)]
            assert self.bus.end_offsets(topic) == ends
            self.readers += 1
            want = [(p, off, k, v) for p in range(n)
                    for off, (k, v) in enumerate(self.records.get((topic, p), []))
                    if off >= self.floors.get((topic, p), 0)]

            async def read(topic: str = topic, count: int = len(want)) -> list[Message]:
                async with self.bus.consumer([topic], f"reader-{self.readers}") as c:
                    got = await drain(c, count) if count else await c.poll(10, 0)
                    return got

            got = sorted((m.partition, m.offset, m.key, m.value) for m in self.run(read()))
            assert got == want

    def check_retention(self) -> None:
        journal = self.bus.journal
        assert journal is not None
        for topic, n in self.partitions.items():
            for p in range(n):
                bases = journal.segments((topic, p))
                floor = self.floors.get((topic, p), 0)
                if bases:
                    assert bases[0] <= floor, (topic, p, bases, floor)
                    assert len(bases) == 1 or bases[1] > floor, (topic, p, bases, floor)


JournalMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_replayed_state_equals_the_model = JournalMachine.TestCase
