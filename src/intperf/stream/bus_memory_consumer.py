"""A member of a consumer group on the in-process bus (``MemoryBus.consumer``).

Rebalance steps run in the member's own task: ``poll`` first hands partitions back
(``on_revoke``) when the group asks, then takes its share of the new assignment (``on_assign``,
computed by ``range_assignment``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Self

from intperf.errors import BusError
from intperf.stream.bus import Message, RebalanceCallback, TopicPartition

if TYPE_CHECKING:
    from intperf.stream.bus_memory import MemoryBus, _Group

__all__ = ["MemoryConsumer", "range_assignment"]


class MemoryConsumer:
    """A member of a consumer group on the in-process bus (see ``Consumer``)."""

    def __init__(self, bus: MemoryBus, member_id: str, topics: tuple[str, ...], group: str,
                 on_assign: RebalanceCallback | None,
                 on_revoke: RebalanceCallback | None) -> None:
        self.bus = bus
        self.member_id = member_id
        self.topics = topics
        self.group = group
        self.wake = asyncio.Event()
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._group: _Group | None = None
        self._generation = 0
        self._assigned: set[TopicPartition] = set()
        self._positions: dict[TopicPartition, int] = {}
        self._next = 0  # round-robin start among assigned partitions
        self._closed = False

    def __repr__(self) -> str:
        return f"MemoryConsumer({self.member_id!r}, assigned={sorted(self._assigned)})"

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def owned(self) -> bool:
        return bool(self._assigned)

    async def start(self) -> None:
        """Join the group (partitions arrive with the next ``poll``)."""
        if self._group is None:
            self._group = self.bus._join(self)

    async def close(self) -> None:
        """Hand partitions back (``on_revoke`` first) and leave the group."""
        if self._closed:
            return
        try:
            if self._group is not None and self in self._group.members:
                try:
                    await self._revoke()  # still a member: on_revoke may commit
                finally:
                    self._drop()
                    self.bus._leave(self)
        finally:
            self._closed = True

    def evict(self) -> None:
        """Called by the bus: this member missed a rebalance; it rejoins at its next poll."""
        self._drop()
        self._generation = 0

    def assignment(self) -> set[TopicPartition]:
        """The partitions this consumer currently owns."""
        return set(self._assigned)

    async def poll(self, max_records: int, timeout_s: float) -> list[Message]:
        """Records from owned partitions; wakes as soon as one arrives or a rebalance is due."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout_s, 0.0)
        while True:
            await self._sync_group()
            out = self._fetch(max_records)
            if out:
                return out
            remaining = deadline - loop.time()
            if remaining <= 0:
                return out
            self.wake.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self.wake.wait()
            except TimeoutError:
                pass

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit the next offset to read of owned partitions (BusError for others)."""
        self._check_usable()
        for tp, offset in offsets.items():
            if tp not in self._assigned:
                raise BusError(
                    f"cannot commit {tp[0]}[{tp[1]}]: not assigned to this consumer (the group "
                    "rebalanced; the new owner resumes from the last committed offset)",
                    retriable=False)
            end = self.bus._topics[tp[0]].partitions[tp[1]].hw
            if not 0 <= offset <= end:
                raise BusError(f"cannot commit {tp[0]}[{tp[1]}] at {offset}: outside 0..{end}",
                               retriable=False)
        await self.bus._commit(self.group, offsets)

    async def seek(self, tp: TopicPartition, offset: int) -> None:
        """Read ``tp`` from ``offset`` on (clamped to the records retained)."""
        self._check_usable()
        if tp not in self._assigned:
            raise BusError(f"cannot seek {tp[0]}[{tp[1]}]: not assigned to this consumer",
                           retriable=False)
        self._positions[tp] = offset

    # --- internals ---------------------------------------------------------------------------
    def _check_usable(self) -> None:
        self.bus._check_open()
        if self._group is None or self._closed:
            raise BusError("the consumer is not in its group (use it in `async with`)",
                           retriable=False)

    async def _sync_group(self) -> None:
        """Run due rebalance steps in this member's task: revoke, then take the assignment."""
        self._check_usable()
        group = self._group
        assert group is not None
        if self not in group.members:  # evicted after missing a rebalance: join again
            group.members.append(self)
            self.bus._rebalance(group)
        if self in group.pending_revoke:
            await self._revoke()
            self.bus._revoked(self)
        if group.stable and self._generation != group.generation and self in group.members:
            self._generation = group.generation
            new = group.assignment.get(self, set())
            self._assigned = set(new)
            self.bus._own(self, new)
            for tp in new:
                self._positions[tp] = group.committed.get(tp, 0)
            if new and self._on_assign is not None:
                await self._on_assign(set(new))

    async def _revoke(self) -> None:
        if self._assigned and self._on_revoke is not None:
            # Still the owner while the callback runs: it may commit (Kafka's contract).
            await self._on_revoke(set(self._assigned))
        self._drop()

    def _drop(self) -> None:
        self.bus._disown(self, self._assigned)
        self._assigned = set()
        self._positions.clear()

    def _fetch(self, max_records: int) -> list[Message]:
        if not self._assigned or max_records <= 0:
            return []
        tps = sorted(self._assigned)
        self._next = (self._next + 1) % len(tps)
        out: list[Message] = []
        for tp in tps[self._next:] + tps[:self._next]:
            part = self.bus._topics[tp[0]].partitions[tp[1]]
            pos = min(max(self._positions.get(tp, 0), part.floor), part.hw)
            take = min(max_records - len(out), part.hw - pos)
            if take > 0:
                i = pos - part.base
                out += part.records[i:i + take]
                pos += take
            self._positions[tp] = pos
            if len(out) >= max_records:
                break
        return out


def range_assignment(
    members: Sequence[tuple[MemoryConsumer, Sequence[str]]], partitions: Mapping[str, int]
) -> dict[MemoryConsumer, set[TopicPartition]]:
    """Kafka's RangeAssignor: per topic, contiguous ranges to members sorted by member id."""
    out: dict[MemoryConsumer, set[TopicPartition]] = {m: set() for m, _ in members}
    for topic in sorted({t for _, topics in members for t in topics}):
        n = partitions.get(topic, 0)
        subscribers = sorted((m for m, topics in members if topic in topics),
                             key=lambda m: m.member_id)
        if not n or not subscribers:
            continue
        per, extra = divmod(n, len(subscribers))
        start = 0
        for i, member in enumerate(subscribers):
            count = per + (1 if i < extra else 0)
            out[member].update((topic, p) for p in range(start, start + count))
            start += count
    return out
