"""The embedded bus: in-process topics with partitions and Kafka-like consumer groups.

Same semantics as the Kafka bus where it matters to the processor: range assignment, eager
rebalances whose callbacks run inside the member's own ``poll``, explicit commits, redelivery
from the last committed offset. Bounded: publishing waits while a partition's backlog is full.
Group bookkeeping lives here; the member's side is bus_memory_consumer.py. With a journal
(bus_journal.py) accepted records and group offsets survive a restart or a crash.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from intperf.errors import BusError
from intperf.stream.bus import Message, RebalanceCallback, TopicPartition, partition_for_key
from intperf.stream.bus_journal import (
    DEFAULT_SEGMENT_BYTES,
    DEFAULT_SEGMENT_RECORDS,
    Journal,
    JournalBatch,
    Replay,
    check_topic_name,
)
from intperf.stream.bus_journal_writer import JournalWriter
from intperf.stream.bus_memory_consumer import MemoryConsumer, range_assignment

__all__ = ["MemoryBus", "MemoryConsumer", "range_assignment"]

log = logging.getLogger(__name__)

#: Records a partition retains (not yet committed by every group) before publishing waits.
DEFAULT_MAX_BACKLOG = 100_000
#: How long a publish may wait for room (Kafka producers' ``max.block.ms``).
DEFAULT_MAX_BLOCK_S = 60.0
#: A member that does not poll within this long during a rebalance is removed from the group.
DEFAULT_REBALANCE_TIMEOUT_S = 30.0
_COMPACT_MIN = 4096  # dropped records are freed in chunks: slicing a list is O(length)
_YIELD_EVERY = 10_000  # publish_many lets other tasks run this often


class _Partition:
    __slots__ = ("base", "floor", "hw", "records", "room")

    def __init__(self, records: list[Message] | None = None, base: int = 0) -> None:
        self.records: list[Message] = records or []
        self.base = base  # offset of records[0]
        self.floor = base  # retention start: offsets below it are gone (committed by every group)
        self.hw = self.end  # high watermark: consumers see records below it (journal: durable)
        self.room = asyncio.Event()
        self.room.set()

    @property
    def end(self) -> int:
        return self.base + len(self.records)

    def backlog(self) -> int:
        return self.end - self.floor

    def trim(self, floor: int) -> None:
        if floor <= self.floor:
            return
        self.floor = floor
        dropped = floor - self.base
        if dropped >= _COMPACT_MIN or dropped * 2 >= len(self.records):
            del self.records[:dropped]
            self.base = floor


@dataclass(slots=True, eq=False)
class _Topic:
    name: str
    partitions: list[_Partition]
    next_keyless: int = 0


@dataclass(slots=True, eq=False)
class _Group:
    name: str
    members: list[MemoryConsumer] = field(default_factory=list)
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    generation: int = 0
    stable: bool = True
    pending_revoke: set[MemoryConsumer] = field(default_factory=set)
    assignment: dict[MemoryConsumer, set[TopicPartition]] = field(default_factory=dict)


class MemoryBus:
    """The in-process bus (``make_bus("memory")``).

    Without ``journal_dir`` nothing persists beyond the process. With it, records are visible
    to consumers once durable in the journal, ``flush`` waits for that, commits are journaled,
    and ``async with`` (``start``) replays the journal first.
    """

    def __init__(
        self,
        journal_dir: Path | str | None = None,
        *,
        max_backlog: int = DEFAULT_MAX_BACKLOG,
        max_block_s: float = DEFAULT_MAX_BLOCK_S,
        rebalance_timeout_s: float = DEFAULT_REBALANCE_TIMEOUT_S,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        segment_records: int = DEFAULT_SEGMENT_RECORDS,
    ) -> None:
        if max_backlog < 1:
            raise ValueError("max_backlog must be at least 1")
        self.max_backlog = max_backlog
        self.max_block_s = max_block_s
        self.rebalance_timeout_s = rebalance_timeout_s
        self._topics: dict[str, _Topic] = {}
        self._groups: dict[str, _Group] = {}
        self._owners: dict[TopicPartition, set[MemoryConsumer]] = {}
        self._member_seq = itertools.count(1)
        self._closed = False
        self._writer: JournalWriter | None = None
        if journal_dir is not None:
            journal = Journal(Path(journal_dir), segment_bytes=segment_bytes,
                              segment_records=segment_records)
            self._writer = JournalWriter(journal, self._durable)
        self._started = self._writer is None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def journal(self) -> Journal | None:
        """The journal, when the bus has one."""
        return self._writer.journal if self._writer is not None else None

    async def start(self) -> None:
        """Replay the journal (if any): topics, retained records, group offsets."""
        if self._started or self._closed:
            return
        assert self._writer is not None
        started = time.monotonic()
        replay = await self._writer.open()
        self._restore(replay)
        self._started = True
        log.info("stream journal %s: replayed %d records of %d topics and %d groups in "
                 "%.2f s", self._writer.journal.dir,
                 sum(len(p.records) for t in self._topics.values() for p in t.partitions),
                 len(self._topics), len(self._groups), time.monotonic() - started)

    async def close(self) -> None:
        """Stop the bus (writing what the journal still has pending): waiters get BusError."""
        if self._closed:
            return
        self._closed = True
        for topic in self._topics.values():
            for part in topic.partitions:
                part.room.set()
        for group in self._groups.values():
            for member in group.members:
                member.wake.set()
        if self._writer is not None:
            try:
                await self._writer.close()
            except BusError:
                log.exception("stream journal: records published since the last flush may "
                              "be lost")

    # --- producing ---------------------------------------------------------------------------
    async def ensure_topic(self, topic: str, partitions: int) -> None:
        """Create ``topic`` with ``partitions`` partitions; an existing topic is left as it is."""
        self._check_open()
        if partitions < 1:
            raise BusError(f"topic {topic!r}: partitions must be at least 1", retriable=False)
        if topic in self._topics:
            return
        if self._writer is not None:
            check_topic_name(topic)
            self._writer.batch().topics[topic] = partitions
        self._topics[topic] = _Topic(topic, [_Partition() for _ in range(partitions)])
        for group in self._groups.values():
            if any(topic in m.topics for m in group.members):
                self._rebalance(group)
        if self._writer is not None:
            await self._writer.sync()

    async def publish(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        """Append one record, waiting while its partition's backlog is full."""
        t = self._topic(topic)
        p = self._partition_of(t, key)
        await self._wait_for_room(t, p)
        self._append(t, p, key, value, time.time_ns() // 1_000_000)

    async def publish_many(self, topic: str, items: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Append ``(key, value)`` records (in order per partition), waiting for room."""
        t = self._topic(topic)
        by_partition: dict[int, list[tuple[bytes | None, bytes]]] = {}
        for item in items:
            by_partition.setdefault(self._partition_of(t, item[0]), []).append(item)
        now_ms = time.time_ns() // 1_000_000
        for p, records in by_partition.items():
            for i in range(0, len(records), _YIELD_EVERY):
                if i:
                    await asyncio.sleep(0)  # a big batch does not hold the loop for long
                # The bound is checked per slice: one call may overshoot it by that much.
                await self._wait_for_room(t, p)
                part = t.partitions[p]
                end = part.end
                added = [Message(topic, p, end + j, key, value, now_ms)
                         for j, (key, value) in enumerate(records[i:i + _YIELD_EVERY])]
                part.records += added
                if self._writer is None:
                    part.hw = part.end
                    self._wake_owners(topic, p)
                else:
                    self._writer.batch().records.setdefault((topic, p), []).extend(added)

    async def flush(self) -> None:
        """Without a journal records are stored as published; with one, wait until durable."""
        self._check_open()
        if self._writer is not None:
            await self._writer.sync()

    def consumer(
        self,
        topics: Sequence[str],
        group: str,
        *,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> MemoryConsumer:
        """A new member of ``group``; it joins on ``async with`` (or ``start()``)."""
        if not topics:
            raise BusError("a consumer needs at least one topic", retriable=False)
        member_id = f"{group}-{next(self._member_seq):06d}"
        return MemoryConsumer(self, member_id, tuple(topics), group, on_assign, on_revoke)

    def end_offsets(self, topic: str) -> list[int]:
        """The next offset consumers can read of each partition of ``topic`` (for lag)."""
        return [p.hw for p in self._topic(topic).partitions]

    def committed(self, group: str) -> dict[TopicPartition, int]:
        """The offsets ``group`` has committed."""
        g = self._groups.get(group)
        return dict(g.committed) if g else {}

    # --- internals used by MemoryConsumer ----------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise BusError("the in-process bus is closed", retriable=False)
        if not self._started:
            raise BusError("a bus with a journal must be started first (use it in "
                           "`async with`)", retriable=False)
        if self._writer is not None and self._writer.failure is not None:
            raise self._writer.failure

    def _topic(self, topic: str) -> _Topic:
        self._check_open()
        t = self._topics.get(topic)
        if t is None:
            raise BusError(f"unknown topic {topic!r}: create it with ensure_topic first",
                           retriable=False)
        return t

    def _partition_of(self, t: _Topic, key: bytes | None) -> int:
        n = len(t.partitions)
        if key is not None:
            return partition_for_key(key, n)
        t.next_keyless = (t.next_keyless + 1) % n
        return t.next_keyless

    async def _wait_for_room(self, t: _Topic, p: int) -> None:
        part = t.partitions[p]
        if part.backlog() < self.max_backlog:
            return
        deadline = asyncio.get_running_loop().time() + self.max_block_s
        while part.backlog() >= self.max_backlog:
            self._check_open()
            part.room.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                async with asyncio.timeout(max(remaining, 0.0)):
                    await part.room.wait()
            except TimeoutError:
                raise BusError(
                    f"{t.name}[{p}]: {part.backlog()} records wait for consumers to commit "
                    f"(max backlog {self.max_backlog}); gave up after {self.max_block_s:g} s"
                ) from None
        self._check_open()

    def _append(self, t: _Topic, p: int, key: bytes | None, value: bytes, ts_ms: int) -> None:
        part = t.partitions[p]
        m = Message(t.name, p, part.end, key, value, ts_ms)
        part.records.append(m)
        if self._writer is None:
            part.hw = part.end
            self._wake_owners(t.name, p)
        else:
            self._writer.batch().records.setdefault((t.name, p), []).append(m)

    def _durable(self, batch: JournalBatch) -> None:
        """The journal wrote ``batch``: its records become visible."""
        for (topic, p), messages in batch.records.items():
            part = self._topics[topic].partitions[p]
            part.hw = max(part.hw, messages[-1].offset + 1)
            self._wake_owners(topic, p)

    def _restore(self, replay: Replay) -> None:
        for name, parts in replay.topics.items():
            self._topics[name] = _Topic(name, [_Partition(rp.records, rp.first)
                                               for rp in parts])
        for name, offsets in replay.groups.items():
            self._groups[name] = _Group(name, committed=dict(offsets))
        if replay.torn:
            log.warning("stream journal: dropped %d torn record(s) (%d bytes) at the end of "
                        "segments: published but never flushed", replay.torn, replay.torn_bytes)

    def _wake_owners(self, topic: str, p: int) -> None:
        for member in self._owners.get((topic, p), ()):
            member.wake.set()

    def _join(self, member: MemoryConsumer) -> _Group:
        self._check_open()
        group = self._groups.setdefault(member.group, _Group(member.group))
        group.members.append(member)
        self._rebalance(group)
        return group

    def _leave(self, member: MemoryConsumer) -> None:
        group = self._groups.get(member.group)
        if group is None or member not in group.members:
            return
        group.members.remove(member)
        group.pending_revoke.discard(member)
        self._rebalance(group)

    def _rebalance(self, group: _Group) -> None:
        """Start a rebalance: every owner revokes (in its own poll), then all are assigned."""
        group.generation += 1
        group.stable = False
        group.assignment = {}
        group.pending_revoke = {m for m in group.members if m.owned}
        for member in group.members:
            member.wake.set()
        if group.pending_revoke:
            generation = group.generation
            asyncio.get_running_loop().call_later(
                self.rebalance_timeout_s, self._expire_rebalance, group, generation)
        else:
            self._complete_rebalance(group)

    def _revoked(self, member: MemoryConsumer) -> None:
        group = self._groups[member.group]
        if member in group.pending_revoke:
            group.pending_revoke.discard(member)
            if not group.pending_revoke:
                self._complete_rebalance(group)

    def _expire_rebalance(self, group: _Group, generation: int) -> None:
        if group.generation != generation or not group.pending_revoke:
            return
        for member in list(group.pending_revoke):
            log.warning("consumer %s of group %s did not poll within %.0f s of a rebalance: "
                        "removed from the group", member.member_id, group.name,
                        self.rebalance_timeout_s)
            member.evict()
            group.members.remove(member)
        group.pending_revoke.clear()
        self._complete_rebalance(group)

    def _complete_rebalance(self, group: _Group) -> None:
        group.assignment = range_assignment(
            [(m, m.topics) for m in group.members],
            {name: len(t.partitions) for name, t in self._topics.items()})
        group.stable = True
        for member in group.members:
            member.wake.set()

    def _own(self, member: MemoryConsumer, tps: set[TopicPartition]) -> None:
        for tp in tps:
            self._owners.setdefault(tp, set()).add(member)

    def _disown(self, member: MemoryConsumer, tps: set[TopicPartition]) -> None:
        for tp in tps:
            owners = self._owners.get(tp)
            if owners is not None:
                owners.discard(member)

    async def _commit(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        g = self._groups[group]
        for tp, offset in offsets.items():
            g.committed[tp] = offset
        if self._writer is not None:
            self._writer.batch().groups[group] = dict(g.committed)
        for tp in offsets:
            self._retain(tp)
        if self._writer is not None:
            await self._writer.sync()

    def _retain(self, tp: TopicPartition) -> None:
        """Drop records of ``tp`` below every interested group's committed offset."""
        topic, p = tp
        part = self._topics[topic].partitions[p]
        floors = [g.committed.get(tp, part.floor) for g in self._groups.values()
                  if tp in g.committed or any(topic in m.topics for m in g.members)]
        if floors:
            part.trim(min(floors))
            if self._writer is not None:
                self._writer.batch().retain[tp] = part.floor
            if part.backlog() < self.max_backlog:
                part.room.set()
