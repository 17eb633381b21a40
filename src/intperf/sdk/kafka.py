"""Batches to the Kafka topic ``performance-events``: key = the service name (UTF-8), value =
one JSON event, through confluent-kafka's producer (imported only when this transport is made).

Thin by design: the producer batches, compresses and retries inside librdkafka; ``send``
waits for every record's delivery report and maps them to a result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

from intperf.errors import UsageError
from intperf.sdk.transport import Batch, DeliveryError, SendResult, ServerRejection

__all__ = ["DEFAULT_TOPIC", "KafkaTransport"]

DEFAULT_TOPIC: Final = "performance-events"


class Producer(Protocol):
    """The part of ``confluent_kafka.Producer`` this transport uses (a seam for tests)."""

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        on_delivery: Callable[[Any, Any], None] | None = None,
    ) -> None:
        """Queue one record; delivery is reported to ``on_delivery(err, msg)``."""
        ...

    def poll(self, timeout: float) -> int:
        """Serve delivery reports."""
        ...

    def flush(self, timeout: float) -> int:
        """Wait for outstanding records; returns how many are still queued."""
        ...


def _confluent_producer(config: dict[str, Any]) -> Producer:
    try:
        from confluent_kafka import Producer as ConfluentProducer
    except ImportError as exc:
        raise UsageError(
            "KafkaTransport needs confluent-kafka: pip install confluent-kafka "
            "(or send to the service over HTTP with HttpTransport)"
        ) from exc
    producer: Producer = ConfluentProducer(config)
    return producer


class KafkaTransport:
    """Produces each event of a batch to ``topic`` and waits for the broker's acknowledgements.

    ``config`` adds or overrides librdkafka settings (security, ``acks``...). A whole batch
    that failed with retriable errors raises a retriable :class:`DeliveryError`; records that
    failed otherwise are reported as rejected with the broker's reason.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str = DEFAULT_TOPIC,
        *,
        timeout_s: float = 10.0,
        config: Mapping[str, Any] | None = None,
        producer: Producer | None = None,
    ) -> None:
        self.topic = topic
        self._timeout_s = timeout_s
        if producer is None:
            settings: dict[str, Any] = {
                "bootstrap.servers": bootstrap_servers,
                "linger.ms": 5,
                "compression.type": "gzip",
                # Every record reports by then, so send() never leaves one in doubt.
                "message.timeout.ms": int(timeout_s * 1000),
                **(config or {}),
            }
            producer = _confluent_producer(settings)
        self._producer = producer

    def __repr__(self) -> str:
        return f"KafkaTransport(topic={self.topic!r})"

    def send(self, batch: Batch) -> SendResult:
        """Produce every event, then wait for all delivery reports."""
        errors: dict[int, Any] = {}
        reported: set[int] = set()

        def report(index: int) -> Callable[[Any, Any], None]:
            def on_delivery(err: Any, _msg: Any) -> None:
                reported.add(index)
                if err is not None:
                    errors[index] = err

            return on_delivery

        for index, event in enumerate(batch.events):
            try:
                self._producer.produce(
                    self.topic, event.data, event.service.encode("utf-8"), on_delivery=report(index)
                )
            except BufferError:
                self._producer.poll(0.1)  # the local queue is full: serve reports, try once more
                try:
                    self._producer.produce(
                        self.topic,
                        event.data,
                        event.service.encode("utf-8"),
                        on_delivery=report(index),
                    )
                except BufferError as exc:
                    reported.add(index)
                    errors[index] = exc
        self._producer.flush(self._timeout_s + 1.0)
        for index in range(len(batch)):
            if index not in reported:
                errors[index] = TimeoutError("no delivery report before the timeout")
        if errors and len(errors) == len(batch) and all(map(_retriable, errors.values())):
            first = next(iter(errors.values()))
            raise DeliveryError(f"Kafka: no record delivered ({_reason(first)})", retriable=True)
        rejected = tuple(ServerRejection(i, "", _reason(err)) for i, err in sorted(errors.items()))
        return SendResult(accepted=len(batch) - len(rejected), rejected=rejected)

    def close(self) -> None:
        """Wait (up to the timeout) for records still queued in the producer."""
        self._producer.flush(self._timeout_s)


def _retriable(err: Any) -> bool:
    if isinstance(err, BufferError | TimeoutError):
        return True
    retriable = getattr(err, "retriable", None)
    if callable(retriable):
        return bool(retriable()) or _timed_out(err)
    return False


def _timed_out(err: Any) -> bool:
    name = getattr(err, "name", None)
    return callable(name) and name() in ("_MSG_TIMED_OUT", "_TIMED_OUT", "_TRANSPORT")


def _reason(err: Any) -> str:
    text = getattr(err, "str", None)
    return str(text()) if callable(text) else f"{type(err).__name__}: {err}"
