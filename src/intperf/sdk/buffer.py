"""The emitter's bounded buffer and its batching rule: a batch leaves when ``batch_size``
events are waiting, when the oldest has waited ``linger_s``, on a flush, or on close.

``put`` is O(1) and never waits for the consumer; a full buffer drops the new event and
counts it. The clock is injected so the rule is tested without waiting.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["EventBuffer"]

Clock = Callable[[], float]


class EventBuffer:
    """A bounded FIFO of events for one consumer thread (the sender)."""

    def __init__(
        self,
        capacity: int = 10_000,
        batch_size: int = 500,
        linger_s: float = 1.0,
        clock: Clock = time.monotonic,
    ) -> None:
        if capacity < 1 or batch_size < 1:
            raise ValueError(f"capacity and batch_size must be >= 1, got {capacity}, {batch_size}")
        if linger_s < 0:
            raise ValueError(f"linger_s must be >= 0, got {linger_s}")
        self.capacity = capacity
        self.batch_size = batch_size
        self.linger_s = linger_s
        self._clock = clock
        lock = threading.Lock()
        self._cond = threading.Condition(lock)  # the sender waits here for a due batch
        self._progress = threading.Condition(lock)  # flush() waits here for the sender
        self._items: deque[Mapping[str, Any]] = deque()
        self._since = 0.0  # clock() when the buffer last became non-empty
        self._accepted = 0
        self._taken = 0
        self._done = 0
        self._flush_upto = 0  # leave without lingering until this many events were taken
        self._closed = False
        self.dropped_full = 0
        self.dropped_closed = 0

    def put(self, event: Mapping[str, Any]) -> bool:
        """Append ``event``; False (and counted) when the buffer is full or closed."""
        with self._cond:
            if self._closed:
                self.dropped_closed += 1
                return False
            items = self._items
            if len(items) >= self.capacity:
                self.dropped_full += 1
                return False
            items.append(event)
            self._accepted += 1
            n = len(items)
            if n == 1:
                self._since = self._clock()
                self._cond.notify()  # the sender now waits at most linger_s, not forever
            elif n == self.batch_size:
                self._cond.notify()
            return True

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    @property
    def accepted(self) -> int:
        """Events taken in by :meth:`put` since the start."""
        with self._cond:
            return self._accepted

    def _ready(self, now: float) -> bool:
        n = len(self._items)
        if n >= self.batch_size:
            return True
        return n > 0 and (
            self._closed or self._taken < self._flush_upto or now - self._since >= self.linger_s
        )

    def _pop(self) -> list[Mapping[str, Any]]:
        items = self._items
        batch = [items.popleft() for _ in range(min(len(items), self.batch_size))]
        self._taken += len(batch)
        return batch

    def poll(self) -> list[Mapping[str, Any]]:
        """The next batch if one is due now, else ``[]``; never waits."""
        with self._cond:
            return self._pop() if self._ready(self._clock()) else []

    def take(self, timeout_s: float | None = None) -> list[Mapping[str, Any]] | None:
        """Wait for the next due batch and return it.

        ``[]`` when ``timeout_s`` passed first; None once the buffer is closed and empty.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while True:
                now = self._clock()
                if self._ready(now):
                    return self._pop()
                if self._closed and not self._items:
                    return None
                wait = self.linger_s - (now - self._since) if self._items else None
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return []
                    wait = remaining if wait is None else min(wait, remaining)
                self._cond.wait(wait)

    def done(self, count: int) -> None:
        """The sender finished with ``count`` taken events (delivered or dropped)."""
        with self._cond:
            self._done += count
            self._progress.notify_all()

    def flush(self, timeout_s: float | None) -> bool:
        """Make everything put so far due now and wait until the sender is done with it."""
        with self._cond:
            target = self._accepted
            self._flush_upto = max(self._flush_upto, target)
            self._cond.notify_all()
            deadline = None if timeout_s is None else time.monotonic() + timeout_s
            while self._done < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._progress.wait(remaining)
            return True

    def close(self) -> None:
        """Refuse new events; what is buffered becomes due at once."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def wake(self) -> None:
        """Make a waiting :meth:`take` look at the clock again (after a clock change)."""
        with self._cond:
            self._cond.notify_all()
