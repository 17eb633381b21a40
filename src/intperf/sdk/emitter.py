"""The event emitter: ``emit`` appends to a bounded buffer and returns; one daemon thread
sends batches through a transport, retrying with backoff, and counts every event it loses.

Facade (:class:`EventEmitter`), accumulator (:class:`~intperf.sdk.buffer.EventBuffer`) and
sender (the thread) are apart, like aiokafka's producer. Delivery is at most once per
attempt and best effort overall: nothing is persisted, and what is lost is counted.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import random
import threading
import time
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from intperf.sdk.buffer import Clock, EventBuffer
from intperf.sdk.transport import Batch, DeliveryError, EncodedEvent, SendResult, Transport

__all__ = ["EmitterStats", "EventEmitter", "RetryPolicy"]

log = logging.getLogger(__name__)

#: At most one warning about lost events per this many seconds (counts are in stats()).
_WARN_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter ("Exponential Backoff And Jitter", AWS
    Architecture Blog, 2015): wait ``uniform(0, min(max_delay_s, base_delay_s * 2**(n-1)))``
    after the n-th failure, and at least the receiver's ``Retry-After`` (capped)."""

    max_attempts: int = 5
    base_delay_s: float = 0.2
    max_delay_s: float = 10.0
    max_retry_after_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")

    def delay(self, failures: int, retry_after_s: float | None, rand: float) -> float:
        """Seconds to wait after ``failures`` failed attempts; ``rand`` is uniform in [0, 1)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** max(0, failures - 1))
        wait = rand * ceiling
        if retry_after_s is not None:
            wait = max(wait, min(max(0.0, retry_after_s), self.max_retry_after_s))
        return wait


@dataclass(frozen=True, slots=True)
class EmitterStats:
    """Counts since the emitter was made. When idle, ``emitted`` = ``sent`` +
    ``rejected_by_server`` + ``dropped_after_retries`` + ``dropped_refused`` +
    ``dropped_invalid`` + ``dropped_on_close`` + ``buffered`` (``dropped_buffer_full`` are
    never emitted)."""

    emitted: int
    sent: int
    batches: int
    retries: int
    rejected_by_server: int
    dropped_buffer_full: int
    dropped_after_retries: int
    dropped_refused: int
    dropped_invalid: int
    dropped_on_close: int
    buffered: int
    last_error: str | None

    @property
    def dropped(self) -> int:
        """Every event lost on the way, whatever the reason (server rejections excluded)."""
        return (
            self.dropped_buffer_full
            + self.dropped_after_retries
            + self.dropped_refused
            + self.dropped_invalid
            + self.dropped_on_close
        )


class _Counters:
    """Written by the sender thread only; read under the lock."""

    __slots__ = (
        "batches",
        "dropped_after_retries",
        "dropped_invalid",
        "dropped_on_close",
        "dropped_refused",
        "last_error",
        "rejected",
        "retries",
        "sent",
    )

    def __init__(self) -> None:
        self.sent = self.batches = self.retries = self.rejected = 0
        self.dropped_after_retries = self.dropped_refused = 0
        self.dropped_invalid = self.dropped_on_close = 0
        self.last_error: str | None = None


def _encode(event: Mapping[str, Any]) -> EncodedEvent:
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return EncodedEvent(str(event.get("service", "")), data.encode("utf-8"))


class EventEmitter:
    """Sends events to intperf without ever blocking or failing the host application.

    ``emit`` appends to a buffer of ``capacity`` events (full: the event is dropped and
    counted). The sender thread starts on the first ``emit`` (or :meth:`start`), sends up to
    ``batch_size`` events at a time, at the latest ``linger_s`` after the oldest arrived, and
    retries per ``retry``. :meth:`close` (or leaving a ``with`` block) sends what is buffered
    for up to ``close_timeout_s``, then drops and counts the rest.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        capacity: int = 10_000,
        batch_size: int = 500,
        linger_s: float = 1.0,
        retry: RetryPolicy | None = None,
        close_timeout_s: float = 5.0,
        clock: Clock = time.monotonic,
        name: str = "intperf-sdk-sender",
    ) -> None:
        self._transport = transport
        self._options = (capacity, batch_size, linger_s, clock)
        self._buffer = EventBuffer(capacity, batch_size, linger_s, clock)
        self._retry = retry or RetryPolicy()
        self._close_timeout_s = close_timeout_s
        self._clock = clock
        self._name = name
        self._random = random.Random()
        self._start_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._counters = _Counters()
        self._thread: threading.Thread | None = None
        self._abort = threading.Event()
        self._closed = False
        self._at_exit = False
        self._last_warning = -_WARN_EVERY_S
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _reset_in_child(ref))

    def __repr__(self) -> str:
        return f"EventEmitter({self._transport!r}, capacity={self._buffer.capacity})"

    # -- the host's side ---------------------------------------------------------------

    def emit(self, event: Mapping[str, Any]) -> bool:
        """Queue ``event`` for sending; False when it was dropped. Never blocks, never raises.

        The mapping is serialized later, on the sender thread: do not change it afterwards.
        """
        try:
            queued = self._buffer.put(event)
            if self._thread is None and queued:
                self.start()
        except Exception:  # noqa: BLE001 - a monitoring SDK must never fail its host
            return False
        return queued

    def start(self) -> Self:
        """Start the sender thread now (otherwise the first ``emit`` does)."""
        with self._start_lock:
            if self._thread is None and not self._closed:
                thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                thread.start()
                self._thread = thread
        return self

    def flush(self, timeout_s: float | None = 10.0) -> bool:
        """Send everything emitted so far now; True once it was sent or dropped."""
        if self._thread is None:
            return len(self._buffer) == 0
        return self._buffer.flush(timeout_s)

    def close(self, timeout_s: float | None = None) -> None:
        """Send what is buffered (up to ``timeout_s``, default ``close_timeout_s``), then stop
        the sender and close the transport. Events still unsent are dropped and counted."""
        timeout = self._close_timeout_s if timeout_s is None else timeout_s
        with self._start_lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if self._at_exit:
            atexit.unregister(self.close)
        self._buffer.close()
        if thread is None:
            self._drain_dropped()
            self._transport.close()
            return
        thread.join(timeout)
        if thread.is_alive():
            self._abort.set()  # backoff waits end; what is left is dropped and counted
            self._buffer.wake()
            thread.join(0.5)
        if thread.is_alive():
            log.warning(
                "intperf sdk: the sender is still inside a send; it stops after the "
                "transport's timeout"
            )

    def close_at_exit(self) -> Self:
        """Also :meth:`close` at interpreter exit (``atexit``); only when you ask for it."""
        if not self._at_exit:
            self._at_exit = True
            atexit.register(self.close)
        return self

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def stats(self) -> EmitterStats:
        """A snapshot of the counts (exact when the emitter is idle: nothing in flight)."""
        with self._stats_lock:
            c = self._counters
            return EmitterStats(
                emitted=self._buffer.accepted,
                sent=c.sent,
                batches=c.batches,
                retries=c.retries,
                rejected_by_server=c.rejected,
                dropped_buffer_full=self._buffer.dropped_full,
                dropped_after_retries=c.dropped_after_retries,
                dropped_refused=c.dropped_refused,
                dropped_invalid=c.dropped_invalid,
                dropped_on_close=c.dropped_on_close + self._buffer.dropped_closed,
                buffered=len(self._buffer),
                last_error=c.last_error,
            )

    # -- the sender thread -------------------------------------------------------------

    def _run(self) -> None:
        try:
            while (events := self._buffer.take()) is not None:
                try:
                    if self._abort.is_set():
                        self._count("dropped_on_close", len(events))
                    else:
                        self._deliver(events)
                except Exception:
                    log.exception("intperf sdk: unexpected error in the sender; batch dropped")
                    self._count("dropped_after_retries", len(events))
                finally:
                    self._buffer.done(len(events))
        finally:
            try:
                self._transport.close()
            except Exception:  # closing is best effort
                log.debug("intperf sdk: closing the transport failed", exc_info=True)

    def _drain_dropped(self) -> None:
        while events := self._buffer.poll():
            self._count("dropped_on_close", len(events))
            self._buffer.done(len(events))

    def _deliver(self, events: list[Mapping[str, Any]]) -> None:
        encoded: list[EncodedEvent] = []
        for event in events:
            try:
                encoded.append(_encode(event))
            except Exception as exc:  # noqa: BLE001 - any user mapping: drop it, not the batch
                self._count("dropped_invalid", 1)
                self._set_error(f"event not JSON-serializable: {type(exc).__name__}: {exc}")
        if encoded:
            self._send(encoded)

    def _send(self, events: list[EncodedEvent]) -> None:
        batch = Batch(uuid.uuid4().hex, events)
        for attempt in range(1, self._retry.max_attempts + 1):
            try:
                result = self._transport.send(batch)
            except DeliveryError as exc:
                self._set_error(str(exc))
                if exc.too_large and len(events) > 1:
                    half = len(events) // 2
                    self._send(events[:half])
                    self._send(events[half:])
                    return
                if not exc.retriable:
                    self._lost("dropped_refused", len(events), str(exc))
                    return
                if attempt == self._retry.max_attempts:
                    self._lost("dropped_after_retries", len(events), str(exc))
                    return
                delay = self._retry.delay(attempt, exc.retry_after_s, self._random.random())
                if self._abort.wait(delay):
                    self._count("dropped_on_close", len(events))
                    return
                self._count("retries", 1)
            else:
                self._record(result, len(events))
                return

    def _record(self, result: SendResult, size: int) -> None:
        with self._stats_lock:
            c = self._counters
            c.batches += 1
            c.sent += result.accepted
            c.rejected += size - result.accepted
        if result.rejected:
            first = result.rejected[0]
            self._set_error(
                f"receiver rejected {len(result.rejected)} event(s), first: "
                f"[{first.index}].{first.field}: {first.reason[:200]}"
            )

    def _count(self, name: str, n: int) -> None:
        with self._stats_lock:
            setattr(self._counters, name, getattr(self._counters, name) + n)

    def _set_error(self, message: str) -> None:
        with self._stats_lock:
            self._counters.last_error = message

    def _lost(self, counter: str, n: int, why: str) -> None:
        self._count(counter, n)
        now = self._clock()
        if now - self._last_warning >= _WARN_EVERY_S:
            self._last_warning = now
            log.warning("intperf sdk: %d event(s) dropped (%s); counts in stats()", n, why)

    def _reset_after_fork(self) -> None:
        """In a forked child: the parent's thread is gone and its events are the parent's."""
        self._buffer = EventBuffer(*self._options)
        self._start_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._counters = _Counters()
        self._thread = None
        self._abort = threading.Event()


def _reset_in_child(ref: weakref.ref[EventEmitter]) -> None:
    emitter = ref()
    if emitter is not None and not emitter._closed:
        emitter._reset_after_fork()
