"""EventEmitter over the in-memory transport: batching, retries, drops, close, never blocking."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator

import pytest

from intperf.sdk import (
    DeliveryError,
    EmitterStats,
    EventEmitter,
    MemoryTransport,
    RetryPolicy,
    SendResult,
    ServerRejection,
    business,
)

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.002)


def ev(i: int) -> dict[str, object]:
    return business("shop", "order_created", float(i), event_time=1_700_000_000_000 + i)


def accounted(s: EmitterStats) -> int:
    return (
        s.sent
        + s.rejected_by_server
        + s.dropped_after_retries
        + s.dropped_refused
        + s.dropped_invalid
        + s.dropped_on_close
        + s.buffered
    )


@pytest.fixture
def transport() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
def emitter(transport: MemoryTransport) -> Iterator[EventEmitter]:
    em = EventEmitter(transport, batch_size=10, linger_s=3600.0, retry=FAST_RETRY)
    yield em
    transport.resume()
    em.close(timeout_s=5.0)


def test_no_thread_until_first_emit(transport: MemoryTransport) -> None:
    em = EventEmitter(transport, name="sdk-test-lazy")
    assert "sdk-test-lazy" not in {t.name for t in threading.enumerate()}
    em.emit(ev(1))
    assert "sdk-test-lazy" in {t.name for t in threading.enumerate()}
    em.close()
    assert not any(t.name == "sdk-test-lazy" and t.is_alive() for t in threading.enumerate())
    assert transport.closed


def test_size_trigger_sends_full_batches(emitter: EventEmitter, transport: MemoryTransport) -> None:
    for i in range(25):
        assert emitter.emit(ev(i))
    assert transport.wait_for_events(20, timeout_s=10.0)
    assert [len(b) for b in transport.batches[:2]] == [10, 10]
    assert emitter.flush(timeout_s=10.0)
    assert [len(b) for b in transport.batches] == [10, 10, 5]
    assert [e["value"] for e in transport.events] == [float(i) for i in range(25)]
    s = emitter.stats()
    assert (s.emitted, s.sent, s.batches, s.dropped) == (25, 25, 3, 0)


def test_time_trigger_sends_a_partial_batch(transport: MemoryTransport) -> None:
    with EventEmitter(transport, batch_size=500, linger_s=0.05) as em:
        for i in range(3):
            em.emit(ev(i))
        # No flush: the batch leaves because the oldest event lingered 50 ms.
        assert transport.wait_for_events(3, timeout_s=10.0)
        assert [len(b) for b in transport.batches] == [3]


def test_full_buffer_drops_are_counted_and_emit_never_blocks(transport: MemoryTransport) -> None:
    transport.stall()  # the receiver stops answering: the sender is stuck in send()
    em = EventEmitter(transport, capacity=20, batch_size=5, linger_s=3600.0)
    results = [em.emit(ev(i)) for i in range(5)]
    assert transport.wait_for_calls(1, timeout_s=10.0)  # 5 taken into the stuck send
    results += [em.emit(ev(i)) for i in range(5, 100)]
    assert results.count(True) == 25  # 5 in flight + 20 buffered
    s = em.stats()
    assert (s.emitted, s.dropped_buffer_full, s.buffered) == (25, 75, 20)
    transport.resume()
    assert em.flush(timeout_s=10.0)
    em.close()
    s = em.stats()
    assert (s.sent, s.dropped_buffer_full, s.dropped) == (25, 75, 75)
    assert accounted(s) == s.emitted


def test_retriable_failures_are_retried_then_delivered() -> None:
    transport = MemoryTransport(
        [DeliveryError("HTTP 503", retriable=True), DeliveryError("reset", retriable=True)]
    )
    with EventEmitter(transport, batch_size=3, retry=FAST_RETRY) as em:
        for i in range(3):
            em.emit(ev(i))
        assert em.flush(timeout_s=10.0)
        s = em.stats()
    assert transport.calls == 3
    assert len(set(transport.batch_ids)) == 1  # the same batch id on every attempt
    assert (s.sent, s.retries, s.dropped_after_retries) == (3, 2, 0)
    assert s.last_error == "reset"


def test_batch_dropped_and_counted_after_max_attempts(caplog: pytest.LogCaptureFixture) -> None:
    failures = [DeliveryError("HTTP 500", retriable=True, status=500) for _ in range(3)]
    transport = MemoryTransport(failures)
    with caplog.at_level(logging.WARNING), EventEmitter(transport, retry=FAST_RETRY) as em:
        for i in range(4):
            em.emit(ev(i))
        assert em.flush(timeout_s=10.0)
        em.emit(ev(99))  # the next batch goes through
        assert em.flush(timeout_s=10.0)
        s = em.stats()
    assert (s.dropped_after_retries, s.sent, s.retries, transport.calls) == (4, 1, 2, 4)
    assert "4 event(s) dropped" in caplog.text
    assert accounted(s) == s.emitted


def test_not_retriable_failure_drops_at_once() -> None:
    transport = MemoryTransport([DeliveryError("HTTP 401", retriable=False, status=401)])
    with EventEmitter(transport, retry=FAST_RETRY) as em:
        em.emit(ev(1))
        assert em.flush(timeout_s=10.0)
        s = em.stats()
    assert (s.dropped_refused, s.retries, transport.calls) == (1, 0, 1)
    assert s.last_error == "HTTP 401"


def test_too_large_batch_is_split() -> None:
    too_large = DeliveryError("HTTP 413", retriable=False, status=413, too_large=True)
    transport = MemoryTransport([too_large, too_large])  # 8 -> 4 (too large) -> 2 + 2; 4 ok
    with EventEmitter(transport, batch_size=8, linger_s=3600.0) as em:
        for i in range(8):
            em.emit(ev(i))
        assert em.flush(timeout_s=10.0)
        s = em.stats()
    assert [len(b) for b in transport.batches] == [2, 2, 4]
    assert sorted(e["value"] for e in transport.events) == [float(i) for i in range(8)]
    assert (s.sent, s.batches, s.dropped) == (8, 3, 0)


def test_single_event_too_large_is_refused() -> None:
    too_large = DeliveryError("HTTP 413", retriable=False, status=413, too_large=True)
    with EventEmitter(MemoryTransport([too_large])) as em:
        em.emit(ev(1))
        assert em.flush(timeout_s=10.0)
        assert em.stats().dropped_refused == 1


def test_server_rejections_are_counted() -> None:
    answer = SendResult(accepted=2, rejected=(ServerRejection(1, "value", "not finite"),))
    with EventEmitter(MemoryTransport([answer]), batch_size=3) as em:
        for i in range(3):
            em.emit(ev(i))
        assert em.flush(timeout_s=10.0)
        s = em.stats()
    assert (s.sent, s.rejected_by_server) == (2, 1)
    assert s.last_error is not None and "[1].value: not finite" in s.last_error


def test_unserializable_events_are_dropped_not_raised(transport: MemoryTransport) -> None:
    with EventEmitter(transport) as em:
        assert em.emit({"kind": "BUSINESS", "service": "s", "value": math.nan})
        assert em.emit({"kind": "BUSINESS", "service": "s", "value": object()})
        assert em.emit(ev(1))
        assert em.flush(timeout_s=10.0)
        s = em.stats()
    assert (s.dropped_invalid, s.sent) == (2, 1)
    assert transport.events == [ev(1)]


def test_a_hostile_event_is_dropped_alone() -> None:
    class Hostile(dict[str, object]):
        def get(self, *args: object, **kwargs: object) -> object:
            raise RuntimeError("boom")

    transport = MemoryTransport()
    with EventEmitter(transport, linger_s=3600.0) as em:
        assert em.emit(ev(1))
        assert em.emit(Hostile(kind="BUSINESS")) is True  # queued; fails on the sender thread
        assert em.emit(ev(2))
        assert em.flush(timeout_s=10.0)
        s = em.stats()
    assert (s.dropped_invalid, s.sent) == (1, 2)
    assert s.last_error is not None and "RuntimeError: boom" in s.last_error
    assert transport.events == [ev(1), ev(2)]


def test_emit_never_raises() -> None:
    em = EventEmitter(MemoryTransport())
    em._buffer = None  # type: ignore[assignment]  # break the internals on purpose
    assert em.emit(ev(1)) is False


def test_close_with_stalled_receiver_counts_what_is_left() -> None:
    # The receiver asks for 30 s of patience: the sender is in that backoff when close() comes.
    transport = MemoryTransport([DeliveryError("HTTP 503", retriable=True, retry_after_s=30.0)])
    em = EventEmitter(transport, batch_size=2, linger_s=3600.0, retry=FAST_RETRY)
    for i in range(5):
        em.emit(ev(i))
    assert transport.wait_for_calls(1, timeout_s=10.0)  # first batch failed, sender in backoff
    em.close(timeout_s=0.1)
    s = em.stats()
    assert s.sent == 0
    assert s.dropped_on_close == 5
    assert s.buffered == 0
    assert accounted(s) == s.emitted == 5
    assert em.emit(ev(6)) is False
    assert em.stats().dropped_on_close == 6


def test_context_manager_flushes_on_exit(transport: MemoryTransport) -> None:
    with EventEmitter(transport, linger_s=3600.0) as em:
        for i in range(7):
            em.emit(ev(i))
    assert len(transport.events) == 7
    assert em.stats().sent == 7
    assert transport.closed


def test_close_without_any_emit_closes_the_transport(transport: MemoryTransport) -> None:
    em = EventEmitter(transport)
    em.close()
    em.close()  # idempotent
    assert transport.closed
    assert em.flush() is True


def test_concurrent_emitters_lose_nothing_below_capacity(transport: MemoryTransport) -> None:
    with EventEmitter(transport, capacity=10_000, batch_size=100) as em:

        def produce(base: int) -> None:
            for i in range(1000):
                em.emit(ev(base + i))

        threads = [threading.Thread(target=produce, args=(k * 1000,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert em.flush(timeout_s=10.0)
        s = em.stats()
    assert s.sent == 4000
    assert sorted(e["value"] for e in transport.events) == [float(i) for i in range(4000)]


@pytest.mark.parametrize(
    ("failures", "retry_after", "rand", "expected"),
    [
        (1, None, 0.5, 0.1),  # uniform(0, base)
        (3, None, 0.5, 0.4),  # uniform(0, base * 4)
        (20, None, 0.999, 9.99),  # capped at max_delay_s
        (1, 7.0, 0.5, 7.0),  # at least Retry-After
        (1, 600.0, 0.5, 60.0),  # Retry-After capped
        (5, 0.5, 0.9, 2.88),  # the jittered backoff when it is longer
    ],
)
def test_retry_delay(
    failures: int, retry_after: float | None, rand: float, expected: float
) -> None:
    policy = RetryPolicy(base_delay_s=0.2, max_delay_s=10.0, max_retry_after_s=60.0)
    assert policy.delay(failures, retry_after, rand) == pytest.approx(expected)


def test_retry_policy_needs_an_attempt() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
