"""State-machine tests of the in-process bus's consumer groups.

Members join, leave, poll, commit (now or in on_revoke) and records are published in any
order. Checked throughout: no partition is owned by two members; each member reads a partition
it was given from the group's committed offset on, without gaps (so uncommitted records are
redelivered to the next owner: at-least-once). Checked once everyone has polled: every
partition is owned by exactly one live member and every record was delivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from intperf.stream.bus import Message, TopicPartition
from intperf.stream.bus_memory import MemoryBus, MemoryConsumer

R = TypeVar("R")
TOPICS = {"t": 5, "u": 3}
GROUP = "g"


class GroupMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.bus = MemoryBus(rebalance_timeout_s=3600.0)
        for topic, n in TOPICS.items():
            self.run(self.bus.ensure_topic(topic, n))
        self.live: list[MemoryConsumer] = []
        self.committed: dict[TopicPartition, int] = {}  # the model of the group's commits
        self.expect: dict[MemoryConsumer, dict[TopicPartition, int]] = {}
        self.delivered: dict[TopicPartition, set[int]] = {}

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        try:
            self.settle_and_check()
        finally:
            try:
                self.run(self.bus.close())
            finally:
                self.loop.close()

    # --- rules ---------------------------------------------------------------------------
    @rule(topics=st.sampled_from([("t",), ("t", "u"), ("u",)]), commit_on_revoke=st.booleans())
    def join(self, topics: tuple[str, ...], commit_on_revoke: bool) -> None:
        c: MemoryConsumer

        async def on_assign(tps: set[TopicPartition]) -> None:
            assert tps == c.assignment()
            # A new owner reads from the group's committed offset.
            self.expect[c] = {tp: self.committed.get(tp, 0) for tp in tps}

        async def on_revoke(tps: set[TopicPartition]) -> None:
            assert tps == c.assignment()
            if commit_on_revoke:
                await self.commit_positions(c)

        c = self.bus.consumer(topics, GROUP, on_assign=on_assign, on_revoke=on_revoke)
        self.run(c.start())
        self.live.append(c)

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 9))
    def leave(self, i: int) -> None:
        c = self.live.pop(i % len(self.live))
        self.run(c.close())
        self.expect.pop(c, None)

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 9), n=st.integers(1, 7))
    def poll(self, i: int, n: int) -> None:
        self.poll_one(self.live[i % len(self.live)], n)

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 9))
    def commit(self, i: int) -> None:
        self.run(self.commit_positions(self.live[i % len(self.live)]))

    @rule(topic=st.sampled_from(sorted(TOPICS)), key=st.binary(max_size=4) | st.none(),
          count=st.integers(1, 4))
    def publish(self, topic: str, key: bytes | None, count: int) -> None:
        self.run(self.bus.publish_many(topic, [(key, b"v")] * count))

    @invariant()
    def no_partition_has_two_owners(self) -> None:
        owned: list[TopicPartition] = [tp for c in self.live for tp in c.assignment()]
        assert len(owned) == len(set(owned)), owned

    # --- helpers -------------------------------------------------------------------------
    def poll_one(self, c: MemoryConsumer, n: int) -> list[Message]:
        got = self.run(c.poll(n, 0))
        for m in got:
            tp = (m.topic, m.partition)
            assert tp in c.assignment()
            assert m.offset == self.expect[c][tp], (tp, m.offset, self.expect[c][tp])
            self.expect[c][tp] = m.offset + 1
            self.delivered.setdefault(tp, set()).add(m.offset)
        return got

    async def commit_positions(self, c: MemoryConsumer) -> None:
        positions = {tp: off for tp, off in self.expect.get(c, {}).items()
                     if tp in c.assignment()}
        if positions:
            await c.commit(positions)
            self.committed.update(positions)

    def settle_and_check(self) -> None:
        if not self.live:
            return
        for _ in range(4):  # revoke round, assign round, then reads
            for c in self.live:
                self.poll_one(c, 0)
        subscribed = {t for c in self.live for t in c.topics}
        owners: dict[TopicPartition, int] = {}
        for c in self.live:
            for tp in c.assignment():
                owners[tp] = owners.get(tp, 0) + 1
        wanted = {(t, p) for t in subscribed for p in range(TOPICS[t])}
        assert owners == dict.fromkeys(wanted, 1), owners
        while any([self.poll_one(c, 100) for c in self.live]):
            pass
        for t in subscribed:
            for p, end in enumerate(self.bus.end_offsets(t)):
                assert self.delivered.get((t, p), set()) >= set(range(end)), (t, p)


GroupMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_group_membership_and_at_least_once = GroupMachine.TestCase
