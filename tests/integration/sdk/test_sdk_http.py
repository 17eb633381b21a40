"""EventEmitter + HttpTransport against a real loopback receiver: encoding, keep-alive,
retries (5xx, 429 + Retry-After, closed connections), splitting, refusals, no key in logs."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from intperf.sdk import EventEmitter, HttpTransport, RetryPolicy, business

from .conftest import API_KEY, Receiver

pytestmark = pytest.mark.integration

FAST = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05)


def emitter_for(url: str, key: str | None = API_KEY, **options: object) -> EventEmitter:
    opts: dict[str, object] = {"batch_size": 5, "linger_s": 3600.0, "retry": FAST}
    opts.update(options)
    return EventEmitter(HttpTransport(url, key, timeout_s=10.0), **opts)  # type: ignore[arg-type]


def emit_orders(em: EventEmitter, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        assert em.emit(business("shop", "order_created", float(i)))


def test_batches_arrive_as_gzip_ndjson_on_one_connection(receiver: Receiver) -> None:
    with emitter_for(receiver.url) as em:
        emit_orders(em, 12)
        assert em.flush(10.0)
        s = em.stats()
    assert [e["value"] for e in receiver.events] == [float(i) for i in range(12)]
    assert [len(r.events) for r in receiver.requests] == [5, 5, 2]
    assert len({r.client_port for r in receiver.requests}) == 1  # keep-alive
    first = receiver.requests[0]
    assert first.headers["X-API-Key"] == API_KEY
    assert first.headers["Content-Type"] == "application/x-ndjson"
    assert len(first.headers["Idempotency-Key"]) == 32
    assert first.raw.endswith(b"\n") and first.raw.count(b"\n") == 5
    assert (s.sent, s.batches, s.retries, s.dropped) == (12, 3, 0, 0)


def test_rejections_from_the_answer_are_counted(receiver: Receiver) -> None:
    with emitter_for(receiver.url) as em:
        em.emit(business("shop", "order_created", 1.0))
        em.emit(business("shop", "", 2.0))  # the service refuses an empty name
        assert em.flush(10.0)
        s = em.stats()
    assert (s.sent, s.rejected_by_server) == (1, 1)
    assert s.last_error is not None and "[1].name" in s.last_error


def test_422_no_valid_event_counts_rejections(receiver: Receiver) -> None:
    detail = [{"index": i, "field": "name", "reason": "too short"} for i in range(2)]
    receiver.actions.append((422, {}, {"error": "no valid event", "detail": detail}))
    with emitter_for(receiver.url) as em:
        emit_orders(em, 2)
        assert em.flush(10.0)
        s = em.stats()
    assert (s.sent, s.rejected_by_server, s.dropped, s.retries) == (0, 2, 0, 0)
    assert s.last_error is not None and "[0].name: too short" in s.last_error


def test_5xx_answers_are_retried(receiver: Receiver) -> None:
    receiver.actions.extend([(500, {}), (503, {})])
    with emitter_for(receiver.url) as em:
        emit_orders(em, 3)
        assert em.flush(10.0)
        s = em.stats()
    assert (s.sent, s.retries, s.dropped) == (3, 2, 0)
    assert len(receiver.events) == 3


def test_429_waits_for_retry_after(receiver: Receiver) -> None:
    receiver.actions.append((429, {"Retry-After": "1"}))
    with emitter_for(receiver.url) as em:
        emit_orders(em, 2)
        started = time.monotonic()
        assert em.flush(10.0)
        waited = time.monotonic() - started
        s = em.stats()
    assert (s.sent, s.retries) == (2, 1)
    assert waited >= 0.9  # the backoff alone would be at most 10 ms


def test_connection_closed_without_answer_is_retried(receiver: Receiver) -> None:
    receiver.actions.append("close")  # a fresh connection dies: a real failure, backoff
    with emitter_for(receiver.url) as em:
        emit_orders(em, 5)
        assert em.flush(10.0)
        assert em.stats().retries == 1
        receiver.actions.append("close")  # now on the kept-alive connection: resent at once
        emit_orders(em, 5, start=5)
        assert em.flush(10.0)
        s = em.stats()
    assert (s.sent, s.retries, s.dropped) == (10, 1, 0)
    assert [e["value"] for e in receiver.events] == [float(i) for i in range(10)]


def test_too_large_batches_are_split(receiver: Receiver) -> None:
    receiver.actions.append((413, {}))
    with emitter_for(receiver.url, batch_size=6) as em:
        emit_orders(em, 6)
        assert em.flush(10.0)
        s = em.stats()
    assert [len(r.events) for r in receiver.requests] == [3, 3]
    assert (s.sent, s.dropped) == (6, 0)


def test_persistent_failure_drops_and_never_logs_the_key(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.actions.extend([(500, {})] * 4)
    with caplog.at_level(logging.DEBUG, logger="intperf"), emitter_for(receiver.url) as em:
        emit_orders(em, 3)
        assert em.flush(10.0)
        s = em.stats()
    assert (s.dropped_after_retries, s.retries, s.sent) == (3, 3, 0)
    assert "dropped" in caplog.text
    assert API_KEY not in caplog.text
    assert API_KEY not in (s.last_error or "")
    assert API_KEY not in repr(em)


def test_wrong_key_is_refused_without_retry(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "not-the-key-123"
    with caplog.at_level(logging.DEBUG, logger="intperf"), emitter_for(receiver.url, wrong) as em:
        emit_orders(em, 2)
        assert em.flush(10.0)
        s = em.stats()
    assert (s.dropped_refused, s.retries) == (2, 0)
    assert s.last_error is not None and "401" in s.last_error
    assert wrong not in caplog.text and wrong not in s.last_error


def test_unreachable_receiver_drops_after_retries() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with emitter_for(f"http://127.0.0.1:{port}") as em:
        emit_orders(em, 2)
        assert em.flush(10.0)
        s = em.stats()
    assert (s.dropped_after_retries, s.retries) == (2, 3)
    assert s.last_error is not None and "Connection" in s.last_error


def test_bad_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        HttpTransport("ftp://127.0.0.1:1")
    with pytest.raises(ValueError, match="api_key"):
        HttpTransport("http://user:secret@127.0.0.1:1")
