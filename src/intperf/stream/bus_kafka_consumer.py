"""A Kafka consumer-group member on confluent-kafka, driven from asyncio.

librdkafka's consumer is used from one dedicated thread. Rebalance callbacks fire on that
thread inside ``consume``; they run the user's async ``on_assign``/``on_revoke`` on the event
loop while the thread keeps serving the consumer calls those callbacks make (commit, seek),
so the processor sees rebalances inside its own ``poll``, as with the memory bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self, TypeVar

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaError, KafkaException
from confluent_kafka import Message as KafkaMessage
from confluent_kafka import TopicPartition as KafkaTopicPartition

from intperf.errors import BusError
from intperf.stream.bus import Message, RebalanceCallback, TopicPartition
from intperf.stream.bus_kafka_errors import bus_error

if TYPE_CHECKING:
    from intperf.stream.bus_kafka import KafkaBus

__all__ = ["KafkaConsumer"]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(slots=True)
class _Job:
    fn: Callable[[], Any]
    future: asyncio.Future[Any]


_WAKE = object()  # "a callback's coroutine finished": wakes the thread waiting for it


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class _ClientThread:
    """The one thread a librdkafka consumer is used from; it serves jobs even in callbacks."""

    def __init__(self, name: str, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._jobs: queue.SimpleQueue[_Job | object | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the thread; await its result."""
        future: asyncio.Future[T] = self._loop.create_future()
        self._jobs.put(_Job(fn, future))
        return await future

    def run_coroutine(self, coro: Coroutine[Any, Any, T]) -> T:
        """On the thread, inside a librdkafka callback: run ``coro`` on the loop and serve the
        jobs it submits meanwhile (they would otherwise wait for this very thread)."""
        done = asyncio.run_coroutine_threadsafe(coro, self._loop)
        done.add_done_callback(lambda _: self._jobs.put(_WAKE))
        while not done.done():
            job = self._jobs.get()
            if job is None:  # stop requested: finish after this callback
                self._jobs.put(None)
                done.result()
                break
            if isinstance(job, _Job):
                self._run(job)
        return done.result()

    async def stop(self) -> None:
        self._jobs.put(None)
        await asyncio.to_thread(self._thread.join)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            if isinstance(job, _Job):
                self._run(job)

    def _run(self, job: _Job) -> None:
        try:
            result = job.fn()
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting task, raised there
            self._loop.call_soon_threadsafe(_fail, job.future, exc)
        else:
            self._loop.call_soon_threadsafe(_resolve, job.future, result)


class KafkaConsumer:
    """``Consumer`` on Kafka: manual commits, range assignment, eager rebalances."""

    def __init__(self, bus: KafkaBus, topics: Sequence[str], group: str, *,
                 on_assign: RebalanceCallback | None = None,
                 on_revoke: RebalanceCallback | None = None) -> None:
        self.bus = bus
        self.topics = list(topics)
        self.group = group
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._thread: _ClientThread | None = None
        self._consumer: Consumer | None = None
        self._assignment: set[TopicPartition] = set()
        # Filled on the client thread, emptied on the loop: records a cancelled poll consumed
        # are returned by the next one.
        self._fetched: deque[Message] = deque()
        self._seeks: dict[TopicPartition, int] | None = None  # set while on_assign runs
        self._callback_error: Exception | None = None
        self._broker_error: KafkaError | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def config(self) -> dict[str, Any]:
        """librdkafka consumer settings."""
        session_ms = int(self.bus.session_timeout_s * 1000)
        return {
            **self.bus.base_config(),
            "group.id": self.group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "range",
            "session.timeout.ms": session_ms,
            "heartbeat.interval.ms": max(100, session_ms // 4),
            "fetch.wait.max.ms": 20,
            # librdkafka pauses a partition's fetching for this long once its prefetch queue is
            # full (1 s by default), which idles a fast consumer: see benchmarks/bus.
            "fetch.queue.backoff.ms": 10,
            "queued.max.messages.kbytes": 32768,  # bounded prefetch per consumer
            "topic.metadata.refresh.interval.ms": 10_000,  # new topics are picked up this soon
            "error_cb": self._on_error,
            **self.bus.consumer_config,
        }

    async def start(self) -> None:
        """Join the group: partitions arrive (on_assign) during a later ``poll``."""
        if self._thread is not None:
            return
        self.bus._require_producer()  # the bus must be started
        thread = _ClientThread(f"{self.bus.client_id}-{self.group}",
                               asyncio.get_running_loop())
        timeout_s = self.bus.connect_timeout_s
        consumer: Consumer | None = None
        try:
            consumer = await thread.call(lambda: Consumer(self.config()))
            new = consumer
            try:
                await thread.call(lambda: new.list_topics(timeout=timeout_s))
            except KafkaException as exc:
                raise bus_error(f"cannot reach Kafka within {timeout_s:g} s", exc,
                                self.bus.bootstrap_servers) from exc
            await thread.call(lambda: new.subscribe(
                self.topics, on_assign=self._assigned, on_revoke=self._revoked,
                on_lost=self._lost))
        except BaseException:
            if consumer is not None:
                with contextlib.suppress(KafkaException, RuntimeError):
                    await thread.call(consumer.close)
            await thread.stop()
            raise
        self._thread, self._consumer = thread, consumer

    async def close(self) -> None:
        """Leave the group (``on_revoke`` runs first) and stop the client thread."""
        thread, consumer = self._thread, self._consumer
        if thread is None or consumer is None:
            return
        try:
            await thread.call(consumer.close)
        except KafkaException as exc:
            log.warning("closing the Kafka consumer of group %s: %s", self.group, exc)
        finally:
            self._thread = self._consumer = None
            self._assignment = set()
            await thread.stop()

    def assignment(self) -> set[TopicPartition]:
        """The partitions this consumer currently owns."""
        return set(self._assignment)

    async def poll(self, max_records: int, timeout_s: float) -> list[Message]:
        """Up to ``max_records`` records; rebalance callbacks run inside this call."""
        thread, consumer = self._usable()
        fetched = self._fetched
        if not fetched:
            await thread.call(lambda: self._consume(consumer, max_records, timeout_s))
        self._raise_pending()
        return [fetched.popleft() for _ in range(min(max_records, len(fetched)))]

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit (synchronously) the next offset to read of owned partitions."""
        thread, consumer = self._usable()
        self._check_owned(offsets, "commit")
        if not offsets:
            return
        tps = [KafkaTopicPartition(t, p, o) for (t, p), o in offsets.items()]
        try:
            result = await thread.call(lambda: consumer.commit(offsets=tps, asynchronous=False))
        except KafkaException as exc:
            raise bus_error(f"cannot commit offsets of group {self.group!r}", exc,
                            self.bus.bootstrap_servers) from exc
        for tp in result:
            if tp.error is not None:
                raise bus_error(f"cannot commit {tp.topic}[{tp.partition}]",
                                KafkaException(tp.error), self.bus.bootstrap_servers)

    async def seek(self, tp: TopicPartition, offset: int) -> None:
        """Read ``tp`` from ``offset`` on (inside on_assign: the position it starts at)."""
        thread, consumer = self._usable()
        self._check_owned({tp: offset}, "seek")

        def seek() -> None:
            if self._seeks is not None:  # in on_assign: applied when the partitions start
                self._seeks[tp] = offset
            else:
                consumer.seek(KafkaTopicPartition(tp[0], tp[1], offset))

        try:
            await thread.call(seek)
        except KafkaException as exc:
            raise bus_error(f"cannot seek {tp[0]}[{tp[1]}]", exc,
                            self.bus.bootstrap_servers) from exc

    # --- on the client thread ----------------------------------------------------------------
    def _consume(self, consumer: Consumer, max_records: int, timeout_s: float) -> None:
        # consume(n, timeout) waits for n records or the timeout; poll(timeout) returns with the
        # first one, then consume(n - 1, 0) takes what is already there without waiting.
        first = consumer.poll(max(timeout_s, 0.0))
        if first is None:
            return
        batch = [first]
        if max_records > 1:
            batch += consumer.consume(max_records - 1, 0)
        now_ms = time.time_ns() // 1_000_000
        out = self._fetched
        for m in batch:
            err = m.error()
            if err is not None:
                self._record_error(err)
                continue
            out.append(_message(m, now_ms))

    def _assigned(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        tps = {(p.topic, p.partition) for p in partitions}
        self._assignment = set(tps)
        self._seeks = {}
        try:
            if tps and self._on_assign is not None:
                self._callback(self._on_assign, tps)
        finally:
            seeks, self._seeks = self._seeks, None
            consumer.assign([KafkaTopicPartition(p.topic, p.partition,
                                                 seeks.get((p.topic, p.partition), p.offset))
                             for p in partitions])

    def _revoked(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        tps = {(p.topic, p.partition) for p in partitions}
        try:
            if tps and self._on_revoke is not None:
                self._callback(self._on_revoke, tps)  # still the owner: it may commit
        finally:
            self._assignment = set()
            consumer.unassign()

    def _lost(self, consumer: Consumer, partitions: list[KafkaTopicPartition]) -> None:
        log.warning("group %s: %d partitions lost (session timed out); commits for them fail",
                    self.group, len(partitions))
        self._assignment = set()  # not ours anymore: on_revoke's commits are refused
        self._revoked(consumer, partitions)

    def _callback(self, callback: RebalanceCallback, tps: set[TopicPartition]) -> None:
        thread = self._thread
        assert thread is not None  # callbacks fire inside consume/close, after start
        try:
            thread.run_coroutine(_awaited(callback(set(tps))))
        except Exception as exc:  # noqa: BLE001 - raised from poll once the rebalance is done
            self._callback_error = self._callback_error or exc

    def _on_error(self, err: KafkaError) -> None:
        self._record_error(err)

    def _record_error(self, err: KafkaError) -> None:
        code = err.code()
        if code == KafkaError.UNKNOWN_TOPIC_OR_PART:
            log.debug("group %s: %s (a subscribed topic does not exist yet)", self.group, err)
        elif code == KafkaError._ALL_BROKERS_DOWN or err.fatal():
            self._broker_error = err
        else:
            log.debug("kafka consumer of group %s: %s", self.group, err)

    # --- on the loop -------------------------------------------------------------------------
    def _usable(self) -> tuple[_ClientThread, Consumer]:
        if self._thread is None or self._consumer is None:
            raise BusError("the consumer is not in its group (use it in `async with`)",
                           retriable=False)
        return self._thread, self._consumer

    def _check_owned(self, offsets: Mapping[TopicPartition, int], what: str) -> None:
        for tp in offsets:
            if tp not in self._assignment:
                raise BusError(
                    f"cannot {what} {tp[0]}[{tp[1]}]: not assigned to this consumer (the group "
                    "rebalanced; the new owner resumes from the last committed offset)",
                    retriable=False)

    def _raise_pending(self) -> None:
        if self._callback_error is not None:
            exc, self._callback_error = self._callback_error, None
            raise exc
        if self._broker_error is not None:
            err, self._broker_error = self._broker_error, None
            raise bus_error(f"consumer of group {self.group!r}", KafkaException(err),
                            self.bus.bootstrap_servers)


def _message(m: KafkaMessage, now_ms: int) -> Message:
    ts_type, ts = m.timestamp()
    topic, partition, offset = m.topic(), m.partition(), m.offset()
    assert topic is not None and partition is not None and offset is not None
    return Message(topic, partition, offset, m.key(), m.value() or b"",
                   now_ms if ts_type == TIMESTAMP_NOT_AVAILABLE else ts)



async def _awaited(awaitable: Awaitable[None]) -> None:
    await awaitable
