"""The Kafka bus on confluent-kafka (librdkafka), chosen by benchmarks/bus over aiokafka.

The producer is used from the event loop (``produce`` only enqueues; librdkafka's threads do
the I/O); blocking calls (flush, metadata, topic creation) run in a worker thread. Consumers
live in bus_kafka_consumer.py; librdkafka errors become ``BusError`` (bus_kafka_errors.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self, TypeVar

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from intperf.errors import BusError
from intperf.stream.bus import RebalanceCallback
from intperf.stream.bus_kafka_consumer import KafkaConsumer
from intperf.stream.bus_kafka_errors import bus_error

__all__ = ["KafkaBus"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_POLL_EVERY = 512  # serve delivery reports every this many produce calls


class KafkaBus:
    """``Bus`` on Kafka (``make_bus("kafka", bootstrap_servers=...)``); async context manager."""

    def __init__(
        self,
        bootstrap_servers: Sequence[str],
        *,
        client_id: str = "intperf",
        connect_timeout_s: float = 10.0,
        delivery_timeout_s: float = 60.0,
        session_timeout_s: float = 10.0,
        replication_factor: int = -1,
        producer_config: Mapping[str, Any] | None = None,
        consumer_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap_servers = list(bootstrap_servers)
        self.client_id = client_id
        self.connect_timeout_s = connect_timeout_s
        self.delivery_timeout_s = delivery_timeout_s
        self.session_timeout_s = session_timeout_s
        self.replication_factor = replication_factor
        self._producer_config = dict(producer_config or {})
        self.consumer_config = dict(consumer_config or {})
        self._producer: Producer | None = None
        self._admin: AdminClient | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._known_topics: set[str] = set()
        self._since_poll = 0
        self._failed = 0
        self._first_failure: KafkaError | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close(flush=exc[0] is None)

    def base_config(self) -> dict[str, Any]:
        """librdkafka settings every client of this bus shares."""
        return {"bootstrap.servers": ",".join(self.bootstrap_servers),
                "client.id": self.client_id,
                "socket.connection.setup.timeout.ms": int(self.connect_timeout_s * 1000),
                # librdkafka's own log lines go to logging, not straight to stderr.
                "logger": logging.getLogger("intperf.stream.librdkafka")}

    async def start(self) -> None:
        """Check the brokers answer, then create the producer."""
        if self._producer is not None:
            return
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"{self.client_id}-kafka")
        self._admin = AdminClient(self.base_config())
        try:
            await self.check_reachable(self._admin.list_topics)
        except BaseException:
            self._pool.shutdown(wait=False)
            self._pool = self._admin = None
            raise
        self._producer = Producer({
            **self.base_config(),
            "acks": "all",
            # Retries keep per-partition order and add no duplicates of their own.
            "enable.idempotence": True,
            "linger.ms": 5,
            "partitioner": "murmur2_random",  # Java's default partitioner for keyed records
            "message.timeout.ms": int(self.delivery_timeout_s * 1000),
            "queue.buffering.max.kbytes": 65536,  # bounded: publish waits beyond 64 MiB
            "delivery.report.only.error": True,
            "on_delivery": self._on_delivery,
            "error_cb": self._on_error,
            **self._producer_config,
        })

    async def check_reachable(self, list_topics: Callable[..., Any]) -> Any:
        """Fetch cluster metadata (``list_topics`` of a client) or fail with a clear BusError."""
        try:
            return await self._blocking(lambda: list_topics(timeout=self.connect_timeout_s))
        except KafkaException as exc:
            raise bus_error(f"cannot reach Kafka within {self.connect_timeout_s:g} s", exc,
                            self.bootstrap_servers) from exc

    async def close(self, *, flush: bool = True) -> None:
        """Deliver what is queued (when ``flush``), then release the clients."""
        producer, pool = self._producer, self._pool
        if producer is None or pool is None:
            return
        try:
            if flush:
                await self.flush()
        finally:
            self._producer = self._admin = self._pool = None
            left = len(producer)
            if left:
                log.warning("closing the Kafka producer with %d records or requests still queued",
                            left)
                producer.purge(in_queue=True, in_flight=True, blocking=False)
            await asyncio.get_running_loop().run_in_executor(pool, producer.close)
            pool.shutdown(wait=True)

    # --- producing ---------------------------------------------------------------------------
    async def ensure_topic(self, topic: str, partitions: int) -> None:
        """Create ``topic`` through the admin API unless it exists (then it is left as is)."""
        admin = self._require_admin()
        if partitions < 1:
            raise BusError(f"topic {topic!r}: partitions must be at least 1", retriable=False)
        future = admin.create_topics([NewTopic(topic, partitions, self.replication_factor)],
                                     request_timeout=self.connect_timeout_s)[topic]
        try:
            await asyncio.wrap_future(future)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise bus_error(f"cannot create topic {topic!r}", exc,
                                self.bootstrap_servers) from exc
        await self._wait_for_topic(topic)

    async def publish(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        """Queue one record (keyed: Java's murmur2 partition); waits while the queue is full."""
        producer = self._ready(topic)
        if producer is None:
            await self._require_topic(topic)
            producer = self._ready(topic)
            assert producer is not None
        try:
            producer.produce(topic, value, key)
        except BufferError:
            await self._produce_when_room(producer, topic, value, key)
        except KafkaException as exc:
            raise bus_error(f"cannot publish to {topic!r}", exc, self.bootstrap_servers) from exc
        self._since_poll += 1
        if self._since_poll >= _POLL_EVERY:
            self._since_poll = 0
            producer.poll(0)

    async def publish_many(self, topic: str, items: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Queue ``(key, value)`` records in order; waits while the queue is full."""
        producer = self._ready(topic)
        if producer is None:
            await self._require_topic(topic)
            producer = self._ready(topic)
            assert producer is not None
        produce = producer.produce
        try:
            for key, value in items:
                try:
                    produce(topic, value, key)
                except BufferError:
                    await self._produce_when_room(producer, topic, value, key)
        except KafkaException as exc:
            raise bus_error(f"cannot publish to {topic!r}", exc, self.bootstrap_servers) from exc
        producer.poll(0)

    async def flush(self) -> None:
        """Wait until every queued record is stored by the brokers (or fail: BusError)."""
        producer = self._require_producer()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.delivery_timeout_s
        last_left, progress_at = len(producer), loop.time()
        while True:
            left = await self._blocking(lambda: producer.flush(0.25))
            self._raise_delivery_failures()
            if left == 0:
                return
            now = loop.time()
            if left < last_left:
                last_left, progress_at = left, now
            elif now - progress_at >= self.connect_timeout_s:
                # No progress for a while: ask the cluster whether it is there at all.
                try:
                    await self._blocking(
                        lambda: self._require_admin().list_topics(timeout=self.connect_timeout_s))
                except KafkaException as exc:
                    raise BusError(
                        f"{left} records not yet delivered: Kafka at "
                        f"{','.join(self.bootstrap_servers)} is unreachable ({exc.args[0].str()}); "
                        "they stay queued and are retried until the delivery timeout",
                        retriable=True) from exc
                progress_at = loop.time()  # there but slow: keep waiting
            if now >= deadline:
                raise BusError(f"{left} records not delivered within {self.delivery_timeout_s:g} s "
                               f"to Kafka at {','.join(self.bootstrap_servers)}", retriable=True)

    def consumer(
        self,
        topics: Sequence[str],
        group: str,
        *,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> KafkaConsumer:
        """A new member of ``group`` (it joins on ``async with``)."""
        if not topics:
            raise BusError("a consumer needs at least one topic", retriable=False)
        return KafkaConsumer(self, list(topics), group, on_assign=on_assign,
                             on_revoke=on_revoke)

    # --- internals ---------------------------------------------------------------------------
    async def _blocking(self, fn: Callable[[], T]) -> T:
        pool = self._pool
        if pool is None:
            raise BusError("the Kafka bus is not started (use it in `async with`)",
                           retriable=False)
        return await asyncio.get_running_loop().run_in_executor(pool, fn)

    def _require_producer(self) -> Producer:
        if self._producer is None:
            raise BusError("the Kafka bus is not started (use it in `async with`)",
                           retriable=False)
        return self._producer

    def _require_admin(self) -> AdminClient:
        self._require_producer()
        assert self._admin is not None
        return self._admin

    def _ready(self, topic: str) -> Producer | None:
        producer = self._require_producer()
        if self._first_failure is not None:
            self._raise_delivery_failures()
        return producer if topic in self._known_topics else None

    async def _require_topic(self, topic: str) -> None:
        # Brokers often auto-create a topic on first use with one partition: refuse instead,
        # so keys are spread as planned (the memory bus behaves the same).
        admin = self._require_admin()
        metadata = await self.check_reachable(admin.list_topics)
        if topic not in metadata.topics:
            raise BusError(f"unknown topic {topic!r}: create it with ensure_topic first",
                           retriable=False)
        self._known_topics.add(topic)

    async def _wait_for_topic(self, topic: str) -> None:
        admin = self._require_admin()
        deadline = time.monotonic() + self.connect_timeout_s
        while True:
            metadata = await self.check_reachable(admin.list_topics)
            info = metadata.topics.get(topic)
            if info is not None and info.error is None and info.partitions:
                self._known_topics.add(topic)
                return
            if time.monotonic() >= deadline:
                raise BusError(f"topic {topic!r} was created but is not visible after "
                               f"{self.connect_timeout_s:g} s", retriable=True)
            await asyncio.sleep(0.05)  # metadata propagation: the polling interval

    async def _produce_when_room(self, producer: Producer, topic: str, value: bytes,
                                 key: bytes | None) -> None:
        deadline = time.monotonic() + self.delivery_timeout_s
        while True:
            await self._blocking(lambda: producer.poll(0.05))  # deliveries free the queue
            self._raise_delivery_failures()
            try:
                producer.produce(topic, value, key)
            except BufferError:
                if time.monotonic() >= deadline:
                    raise BusError(
                        f"the Kafka producer queue stayed full for {self.delivery_timeout_s:g}"
                        f" s (Kafka at {','.join(self.bootstrap_servers)} slow or unreachable)",
                        retriable=True) from None
            else:
                return

    def _on_delivery(self, err: KafkaError | None, _msg: object) -> None:
        # Runs in whichever thread serves the producer's queue (poll/flush).
        if err is not None:
            self._failed += 1
            if self._first_failure is None:
                self._first_failure = err

    def _on_error(self, err: KafkaError) -> None:
        log.debug("kafka producer: %s", err)  # connection trouble shows up in flush

    def _raise_delivery_failures(self) -> None:
        if self._first_failure is None:
            return
        err, failed = self._first_failure, self._failed
        self._first_failure, self._failed = None, 0
        raise bus_error(f"{failed} published records were not delivered", KafkaException(err),
                        self.bootstrap_servers)

