"""KafkaTransport with a fake producer: keys, delivery reports mapped to results and errors."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import pytest

from intperf.sdk import Batch, DeliveryError, EncodedEvent, KafkaTransport


class FakeError:
    def __init__(self, text: builtins.str, retriable: bool, name: builtins.str = "X") -> None:
        self.text, self._retriable, self._name = text, retriable, name

    def str(self) -> builtins.str:
        return self.text

    def retriable(self) -> bool:
        return self._retriable

    def name(self) -> builtins.str:
        return self._name


class FakeProducer:
    def __init__(self, fail: Callable[[int], FakeError | None] = lambda i: None) -> None:
        self.records: list[tuple[str, bytes | None, bytes | None]] = []
        self.pending: list[tuple[Callable[[Any, Any], None], FakeError | None]] = []
        self.fail = fail

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        on_delivery: Callable[[Any, Any], None] | None = None,
    ) -> None:
        assert on_delivery is not None
        self.pending.append((on_delivery, self.fail(len(self.records))))
        self.records.append((topic, key, value))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        for callback, err in self.pending:
            callback(err, None)
        self.pending.clear()
        return 0


def batch(n: int) -> Batch:
    return Batch("b1", [EncodedEvent(f"svc{i % 2}", b'{"i":%d}' % i) for i in range(n)])


def test_records_are_keyed_by_service() -> None:
    producer = FakeProducer()
    transport = KafkaTransport("unused:9092", producer=producer)
    result = transport.send(batch(3))
    assert result.accepted == 3 and result.rejected == ()
    assert producer.records == [
        ("performance-events", b"svc0", b'{"i":0}'),
        ("performance-events", b"svc1", b'{"i":1}'),
        ("performance-events", b"svc0", b'{"i":2}'),
    ]
    transport.close()


def test_some_failed_records_are_rejections() -> None:
    producer = FakeProducer(lambda i: FakeError("too big", False) if i == 1 else None)
    result = KafkaTransport("unused:9092", producer=producer).send(batch(3))
    assert result.accepted == 2
    assert [(r.index, r.reason) for r in result.rejected] == [(1, "too big")]


def test_whole_batch_retriable_failure_raises() -> None:
    producer = FakeProducer(lambda i: FakeError("timed out", False, "_MSG_TIMED_OUT"))
    with pytest.raises(DeliveryError) as info:
        KafkaTransport("unused:9092", producer=producer).send(batch(2))
    assert info.value.retriable


def test_missing_report_counts_as_timeout() -> None:
    class Silent(FakeProducer):
        def flush(self, timeout: float) -> int:
            return len(self.pending)

    with pytest.raises(DeliveryError, match="no record delivered"):
        KafkaTransport("unused:9092", producer=Silent()).send(batch(2))
