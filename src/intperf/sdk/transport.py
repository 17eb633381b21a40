"""The seam between the emitter and the network: what a transport is sent, what it answers,
how it fails; and an in-memory transport for tests (yours and ours).

A transport is called from the emitter's one sender thread, never concurrently.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from intperf.errors import IntperfError

__all__ = [
    "Batch",
    "DeliveryError",
    "EncodedEvent",
    "MemoryTransport",
    "SendResult",
    "ServerRejection",
    "Transport",
]


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """One event as compact JSON (UTF-8, no newline) and the service it comes from."""

    service: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Batch:
    """Events sent together. ``id`` is kept across retries of the batch (an idempotency key)."""

    id: str
    events: Sequence[EncodedEvent]

    def __len__(self) -> int:
        return len(self.events)


@dataclass(frozen=True, slots=True)
class ServerRejection:
    """The receiver refused the event at ``index`` of the batch: ``field`` and ``reason``."""

    index: int
    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class SendResult:
    """The receiver took the batch: ``accepted`` events, and one rejection per refused event."""

    accepted: int
    rejected: tuple[ServerRejection, ...] = ()


class DeliveryError(IntperfError):
    """A batch was not delivered.

    ``retriable``: sending it again may work (connection error, 5xx, 429); ``retry_after_s``:
    the receiver asked to wait that long; ``too_large``: the receiver refused the batch's size
    (the emitter splits it); ``status``: the HTTP status, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        retriable: bool,
        status: int | None = None,
        retry_after_s: float | None = None,
        too_large: bool = False,
    ) -> None:
        super().__init__(message)
        self.retriable = retriable
        self.status = status
        self.retry_after_s = retry_after_s
        self.too_large = too_large


class Transport(Protocol):
    """Delivers batches; raises :class:`DeliveryError` when a batch was not delivered."""

    def send(self, batch: Batch) -> SendResult:
        """Deliver ``batch`` (blocking, bounded by the transport's own timeouts)."""
        ...

    def close(self) -> None:
        """Release connections; the transport is not used afterwards."""
        ...


Outcome = SendResult | DeliveryError | None


@dataclass(slots=True)
class _Received:
    batches: list[list[dict[str, Any]]] = field(default_factory=list)
    batch_ids: list[str] = field(default_factory=list)
    calls: int = 0


class MemoryTransport:
    """Keeps every batch it is sent, decoded; answers from a script, then with success.

    ``script`` items: ``None`` (deliver), a :class:`SendResult` (answer it: the batch is also
    recorded) or a :class:`DeliveryError` (raise it: nothing recorded). :meth:`stall` makes
    ``send`` wait until :meth:`resume`, to play a receiver that stopped answering.
    """

    def __init__(self, script: Iterable[Outcome] = ()) -> None:
        self._script: deque[Outcome] = deque(script)
        self._cond = threading.Condition()
        self._received = _Received()
        self._open = threading.Event()
        self._open.set()
        self.closed = False

    def send(self, batch: Batch) -> SendResult:
        """Record ``batch`` (or fail as scripted)."""
        with self._cond:
            self._received.calls += 1
            self._cond.notify_all()
        self._open.wait()
        with self._cond:
            outcome = self._script.popleft() if self._script else None
            if isinstance(outcome, DeliveryError):
                raise outcome
            self._received.batches.append([json.loads(e.data) for e in batch.events])
            self._received.batch_ids.append(batch.id)
            self._cond.notify_all()
        return outcome if outcome is not None else SendResult(accepted=len(batch))

    def close(self) -> None:
        """Mark the transport closed."""
        self.closed = True

    def stall(self) -> None:
        """Make ``send`` block until :meth:`resume`."""
        self._open.clear()

    def resume(self) -> None:
        """Let blocked and future ``send`` calls proceed."""
        self._open.set()

    @property
    def batches(self) -> list[list[dict[str, Any]]]:
        """Batches recorded so far, each a list of decoded events."""
        with self._cond:
            return [list(b) for b in self._received.batches]

    @property
    def batch_ids(self) -> list[str]:
        """Ids of the recorded batches, in order."""
        with self._cond:
            return list(self._received.batch_ids)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every recorded event, in order."""
        with self._cond:
            return [e for b in self._received.batches for e in b]

    @property
    def calls(self) -> int:
        """How many times ``send`` was called (also those that failed or are blocked)."""
        with self._cond:
            return self._received.calls

    def wait_for_events(self, count: int, timeout_s: float) -> bool:
        """Wait until at least ``count`` events were recorded; False at the deadline."""
        return self._wait(lambda r: sum(map(len, r.batches)) >= count, timeout_s)

    def wait_for_calls(self, count: int, timeout_s: float) -> bool:
        """Wait until ``send`` was called at least ``count`` times; False at the deadline."""
        return self._wait(lambda r: r.calls >= count, timeout_s)

    def _wait(self, predicate: Callable[[_Received], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate(self._received):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True
