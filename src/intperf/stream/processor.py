"""The stream processor: poll -> decode -> per-partition topologies -> store -> commit.

Outputs and the checkpoint of every partition are stored in one transaction before offsets are
committed, so what is stored is exactly-once and the bus is at-least-once; alerts and records
published to topics (dead letters, slow queries) go out before the store: at-least-once.
Guarantees: docs/stream.md, "Processor and guarantees"; contract: docs/internals-stream.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from intperf.errors import BusError, StorageError
from intperf.stream.bus import Bus, Consumer, Message, TopicPartition
from intperf.stream.events import MAX_FUTURE_MS
from intperf.stream.processor_decode import decode_records
from intperf.stream.processor_outputs import AlertCallback, OutputHandler, PlanHint
from intperf.stream.processor_state import (
    PartitionState,
    Pending,
    ProcessorStats,
    merge_progress,
)
from intperf.stream.processor_store import Backoff, ProgressStore, StoreRunner
from intperf.stream.topologies import Output, Topology

__all__ = ["AlertCallback", "PlanHint", "ProcessorConfig", "StreamProcessor"]

log = logging.getLogger(__name__)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class ProcessorConfig:
    """Tuning of one processor (defaults as in docs/internals-stream.md)."""

    max_records: int = 5000
    poll_timeout_s: float = 0.2
    commit_interval_s: float = 1.0
    """Store (and then commit) at most this often, or as soon as windows close."""
    wall_clock_interval_s: float = 1.0
    """How often topologies are told the wall-clock time (idle windows close)."""
    max_future_ms: int | None = MAX_FUTURE_MS
    backoff: Backoff = field(default_factory=Backoff)
    alert_timeout_s: float = 30.0
    """How long a store waits for ``on_alert`` calls of the outputs it stores."""
    plan_hint_timeout_s: float = 5.0
    stop_timeout_s: float = 30.0
    """``stop()`` waits this long for the final checkpoint, then abandons (no commit)."""


class StreamProcessor:
    """One consumer-group member running the topologies over its partitions (see module doc).

    ``topologies()`` builds a fresh set of topologies for one partition (for the reference
    ones: ``lambda: build_topologies(config)``, without a plan hint: the processor adds hints
    itself, off the event loop). Use :meth:`run` (until :meth:`request_stop`), or
    :meth:`start`/:meth:`stop` to run it as a task.
    """

    def __init__(
        self,
        bus: Bus,
        store: ProgressStore,
        *,
        topics: Sequence[str],
        group: str,
        topologies: Callable[[], Sequence[Topology]],
        on_alert: AlertCallback | None = None,
        plan_hint: PlanHint | None = None,
        dead_letter_topic: str | None = None,
        slow_queries_topic: str | None = None,
        config: ProcessorConfig | None = None,
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        if not topics:
            raise ValueError("a processor needs at least one topic")
        self.bus = bus
        self.topics = tuple(topics)
        self.group = group
        self.config = config or ProcessorConfig()
        self._runner = StoreRunner(store, group)
        self._topologies = topologies
        self._outputs = OutputHandler(
            bus, group=group, on_alert=on_alert, plan_hint=plan_hint,
            dead_letter_topic=dead_letter_topic, slow_queries_topic=slow_queries_topic,
            alert_timeout_s=self.config.alert_timeout_s,
            plan_hint_timeout_s=self.config.plan_hint_timeout_s)
        self._clock = clock
        self._parts: dict[TopicPartition, PartitionState] = {}
        self._consumer: Consumer | None = None
        self._stopping = asyncio.Event()
        self._abandon = False
        self._task: asyncio.Task[None] | None = None
        self._stats = ProcessorStats()
        self._last_store_ms = 0
        self._last_tick_ms = 0
        self._store_failures = 0
        self._service_partition: dict[tuple[str, str], int] = {}

    # --- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Run the processor as a task (joins the group in the background)."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"stream-processor-{self.group}")
            self._task.add_done_callback(self._log_failure)

    def _log_failure(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("stream processor %s stopped: %s", self.group, task.exception())

    def request_stop(self) -> None:
        """Ask :meth:`run` to store a final checkpoint and leave the group."""
        self._stopping.set()

    async def stop(self) -> None:
        """Store the final checkpoint (open windows stay in it), commit, leave the group."""
        self.request_stop()
        task = self._task
        if task is None:
            return
        try:
            # wait, not await: a failure was logged by _log_failure when it happened
            _done, running = await asyncio.wait({task}, timeout=self.config.stop_timeout_s)
            if running:
                log.warning("stream processor %s did not stop within %.0f s: abandoned "
                            "without a final checkpoint (the next owner replays from the "
                            "last one)", self.group, self.config.stop_timeout_s)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            self._task = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The task :meth:`start` created, if any."""
        return self._task

    async def run(self) -> None:
        """Join the group and process until :meth:`request_stop`; then store and leave.

        Cancelled (or failing), it leaves without storing: nothing since the last stored
        checkpoint is committed, so whoever takes the partitions replays it.
        """
        self._stopping.clear()
        self._abandon = False
        consumer = self.bus.consumer(self.topics, self.group, on_assign=self._on_assign,
                                     on_revoke=self._on_revoke)
        try:
            async with consumer:
                self._consumer = consumer
                try:
                    await self._loop(consumer)
                except BaseException:
                    self._abandon = True  # state may be half-updated: never store it
                    raise
                if not await self._flush(None, consumer):
                    self._abandon = True
                    log.warning("stream processor %s stopped without storing its final "
                                "checkpoint; the next owner replays from the last one",
                                self.group)
        finally:
            self._consumer = None
            self._drop(set(self._parts))
            self._runner.close()

    async def _loop(self, consumer: Consumer) -> None:
        cfg = self.config
        while not self._stopping.is_set():
            if self._stats.storage_down_since_ms is not None:
                await self._pause()
                if not self._stopping.is_set():
                    await self._flush(None, consumer)
                continue
            messages = await consumer.poll(cfg.max_records, cfg.poll_timeout_s)
            if messages:
                self._process(messages)
            now = self._clock()
            if now - self._last_tick_ms >= cfg.wall_clock_interval_s * 1000:
                self._last_tick_ms = now
                self._tick(now)
            if self._flush_due(now):
                await self._flush(None, consumer)

    async def _pause(self) -> None:
        delay = self.config.backoff.delay(self._store_failures)
        try:
            async with asyncio.timeout(delay):
                await self._stopping.wait()
        except TimeoutError:
            pass

    # --- processing --------------------------------------------------------------------------
    def _process(self, messages: Sequence[Message]) -> None:
        by_tp: dict[TopicPartition, list[Message]] = {}
        for m in messages:
            by_tp.setdefault((m.topic, m.partition), []).append(m)
        for tp, msgs in by_tp.items():
            state = self._parts.get(tp)
            if state is None:  # prefetched before a rebalance took the partition away
                continue
            if state.position is not None:
                msgs = [m for m in msgs if m.offset >= state.position]
                if not msgs:
                    continue
            decoded = decode_records(msgs, max_future_ms=self.config.max_future_ms)
            out = Output()
            batch = decoded.batch
            if len(batch):
                self._check_keys(tp, batch.service, batch.strings)
                for topology in state.topologies:
                    topology.process(batch, out)
            self._take(state, out)
            state.pending.dead += decoded.dead
            state.pending.records += len(msgs)
            state.pending.events += len(batch)
            state.position = msgs[-1].offset + 1
            state.dirty = True
            self._stats.records += len(msgs)
            self._stats.events += len(batch)
            self._stats.dead_letters += len(decoded.dead)

    def _check_keys(self, tp: TopicPartition, services: Any, strings: Sequence[str]) -> None:
        """Warn once when a service's events arrive on two partitions: its windows would be
        computed twice, each from part of its events (records must be keyed by service)."""
        for sid in np.unique(services).tolist():
            key = (tp[0], strings[sid])
            seen = self._service_partition.setdefault(key, tp[1])
            if seen != tp[1] and seen >= 0:
                self._service_partition[key] = -1
                log.warning("service %r has events on partitions %d and %d of %s: key records "
                            "by service, or its windows are split between partitions",
                            strings[sid], seen, tp[1], tp[0])

    def _take(self, state: PartitionState, out: Output) -> None:
        state.pending.add(out)
        stats = self._stats
        stats.late_events += len(out.late) + out.late_not_kept
        stats.cache_windows += len(out.cache)
        stats.business_windows += len(out.business)
        stats.alerts += len(out.alerts)
        for alert in out.alerts:
            self._outputs.alert(state.pending, alert)

    def _tick(self, now_ms: int) -> None:
        for state in self._parts.values():
            out = Output()
            for topology in state.topologies:
                topology.on_wall_clock(now_ms, out)
            if not out.empty():
                self._take(state, out)
                state.dirty = True

    def _flush_due(self, now_ms: int) -> bool:
        if any(s.pending.windows for s in self._parts.values()):
            return True
        interval_ms = self.config.commit_interval_s * 1000
        return now_ms - self._last_store_ms >= interval_ms and any(
            s.dirty or not s.pending.empty() for s in self._parts.values())

    # --- storing and committing --------------------------------------------------------------
    async def _flush(self, only: set[TopicPartition] | None, consumer: Consumer) -> bool:
        """Publish, store (one transaction) and commit the pending partitions; False when the
        store failed (retriable): nothing is committed, the outputs stay pending."""
        self._last_store_ms = self._clock()
        owned = consumer.assignment()
        parts = [s for tp, s in self._parts.items()
                 if (only is None or tp in only) and tp in owned
                 and (s.dirty or not s.pending.empty())]
        if not parts:
            return True
        try:
            for s in parts:
                await self._outputs.prepare(s.pending)
            await self._outputs.publish([s.pending for s in parts])
            progress = merge_progress([s.progress() for s in parts])
            await self._runner.store_progress(progress)
        except (StorageError, BusError) as exc:
            if not exc.retriable:
                raise
            self._store_failures += 1
            self._stats.store_failures += 1
            if self._stats.storage_down_since_ms is None:
                self._stats.storage_down_since_ms = self._clock()
            log.warning("stream processor %s: cannot store progress (%s); processing paused, "
                        "nothing committed, retrying in %.1f s", self.group, exc,
                        self.config.backoff.delay(self._store_failures))
            return False
        if self._stats.storage_down_since_ms is not None:
            log.warning("stream processor %s: storing works again after %d failure(s)",
                        self.group, self._store_failures)
        self._stats.storage_down_since_ms = None
        self._store_failures = 0
        self._stats.stores += 1
        self._stats.windows_stored += len(progress.windows)
        self._stats.slow_queries += len(progress.slow)
        offsets = {}
        for s in parts:
            if s.dirty and s.position is not None:
                offsets[s.tp] = s.position
                s.stored = s.position
            s.dirty = False
            s.pending = Pending()
        await self._commit(consumer, offsets)
        return True

    async def _commit(self, consumer: Consumer, offsets: dict[TopicPartition, int]) -> None:
        owned = consumer.assignment()
        offsets = {tp: o for tp, o in offsets.items() if tp in owned}
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except BusError as exc:
            # The checkpoint is stored: the next owner seeks to it whatever the bus says.
            self._stats.commit_failures += 1
            log.warning("stream processor %s: commit failed after storing (%s)", self.group,
                        exc)
            return
        self._stats.commits += 1
        self._stats.last_commit_ms = self._clock()

    # --- rebalances --------------------------------------------------------------------------
    async def _on_assign(self, tps: set[TopicPartition]) -> None:
        self._stats.rebalances += 1
        consumer = self._consumer
        assert consumer is not None
        owned = consumer.assignment()
        self._drop({tp for tp in self._parts if tp not in owned or tp in tps})
        checkpoints = await self._runner.checkpoints_with_retry(self.config.backoff,
                                                                self._stopping)
        for tp in sorted(tps):
            cp = checkpoints.get(tp)
            state = PartitionState(tp, list(self._topologies()),
                                   cp.next_offset if cp else None,
                                   cp.next_offset if cp else None)
            if cp is not None:
                try:
                    state.restore(cp.state)
                except (ValueError, KeyError, TypeError):
                    # Typically the window settings changed since the checkpoint was stored.
                    log.exception("group %s: checkpoint of %s[%d] cannot be restored; its "
                                  "open windows are lost, processing resumes at offset %d",
                                  self.group, tp[0], tp[1], cp.next_offset)
                    state = PartitionState(tp, list(self._topologies()), cp.next_offset,
                                           cp.next_offset)
                await consumer.seek(tp, cp.next_offset)
            self._parts[tp] = state
        log.info("group %s: assigned %s", self.group,
                 ", ".join(f"{t}[{p}]" for t, p in sorted(tps)))

    async def _on_revoke(self, tps: set[TopicPartition]) -> None:
        self._stats.rebalances += 1
        consumer = self._consumer
        if not self._abandon and consumer is not None:
            try:
                stored = await self._flush(tps, consumer)
            except Exception:
                log.exception("group %s: storing revoked partitions failed", self.group)
                stored = False
            if not stored:
                log.warning("group %s: revoked partitions' progress not stored; their next "
                            "owner replays from the last checkpoint", self.group)
        self._drop(tps)

    def _drop(self, tps: set[TopicPartition]) -> None:
        for tp in tps:
            self._parts.pop(tp, None)

    # --- observability -----------------------------------------------------------------------
    def stats(self) -> ProcessorStats:
        """A copy of the counters, with the current partitions and lag (when known)."""
        parts = tuple(sorted(self._parts))
        return replace(self._stats, partitions=parts, lag=self._lag())

    def _lag(self) -> int | None:
        end_offsets = getattr(self.bus, "end_offsets", None)  # the memory bus can tell
        if end_offsets is None or not self._parts:
            return None
        lag = 0
        ends: dict[str, list[int]] = {}
        for (topic, p), s in self._parts.items():
            if topic not in ends:
                ends[topic] = list(end_offsets(topic))
            lag += max(0, ends[topic][p] - (s.position or 0))
        return lag
