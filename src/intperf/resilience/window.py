"""Sliding windows of call outcomes, as Resilience4j's ``FixedSizeSlidingWindowMetrics``
(a ring of the last N calls) and ``SlidingTimeWindowMetrics`` (N one-second buckets).
"""

from __future__ import annotations

from dataclasses import dataclass

# Outcome codes: bit 0 = failed, bit 1 = slow.
SUCCESS = 0
ERROR = 1
SLOW_SUCCESS = 2
SLOW_ERROR = 3
_EMPTY = 4


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Totals over the window."""

    total_calls: int
    failed_calls: int
    slow_calls: int
    slow_failed_calls: int

    @property
    def successful_calls(self) -> int:
        """Calls that did not fail (slow or not)."""
        return self.total_calls - self.failed_calls


class CountWindow:
    """The outcomes of the last ``size`` calls, with per-outcome counts (O(1) per call)."""

    __slots__ = ("_counts", "_head", "_ring", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        # _EMPTY marks a slot never written; _counts[_EMPTY] is the number of such slots.
        self._ring: list[int] = [_EMPTY] * size
        self._counts = [0, 0, 0, 0, size]
        self._head = 0

    def record(self, outcome: int, now: float) -> int:
        """Add one outcome, evicting the oldest when the ring is full; returns the total."""
        head = self._head
        ring = self._ring
        counts = self._counts
        counts[ring[head]] -= 1
        counts[outcome] += 1
        ring[head] = outcome
        head += 1
        self._head = 0 if head == self._size else head
        return self._size - counts[_EMPTY]

    @property
    def total(self) -> int:
        """Calls in the window."""
        return self._size - self._counts[_EMPTY]

    def counts(self, now: float) -> tuple[int, int, int]:
        """(total, failed, slow) without building a snapshot."""
        c = self._counts
        return self._size - c[_EMPTY], c[ERROR] + c[SLOW_ERROR], c[SLOW_SUCCESS] + c[SLOW_ERROR]

    def snapshot(self, now: float) -> Snapshot:
        """Totals over the last ``size`` calls."""
        total, failed, slow = self.counts(now)
        return Snapshot(total, failed, slow, self._counts[SLOW_ERROR])


class TimeWindow:
    """Per-second buckets over the last ``size`` seconds (epoch second = ``int(now)``)."""

    __slots__ = ("_buckets", "_failed", "_second", "_size", "_slow", "_slow_failed", "total")

    def __init__(self, size: int) -> None:
        self._size = size
        # each bucket: [epoch_second, total, failed, slow, slow_failed]
        self._buckets: list[list[int]] = [[-1, 0, 0, 0, 0] for _ in range(size)]
        self._second = -1
        self.total = 0
        self._failed = 0
        self._slow = 0
        self._slow_failed = 0

    def _advance(self, now: float) -> list[int]:
        second = max(int(now), self._second)  # a clock never runs backwards here
        bucket = self._buckets[second % self._size]
        if second != self._second:
            # Evict every bucket that fell out of (second - size, second].
            start = max(self._second + 1, second - self._size + 1)
            for sec in range(start, second + 1):
                stale = self._buckets[sec % self._size]
                if stale[0] != -1:
                    self.total -= stale[1]
                    self._failed -= stale[2]
                    self._slow -= stale[3]
                    self._slow_failed -= stale[4]
                stale[:] = [sec, 0, 0, 0, 0]
            self._second = second
        return bucket

    def record(self, outcome: int, now: float) -> int:
        """Add one outcome to the bucket of the current second; returns the total."""
        bucket = self._advance(now)
        failed = outcome & 1
        slow = outcome >> 1
        slow_failed = int(outcome == SLOW_ERROR)
        bucket[1] += 1
        bucket[2] += failed
        bucket[3] += slow
        bucket[4] += slow_failed
        self.total += 1
        self._failed += failed
        self._slow += slow
        self._slow_failed += slow_failed
        return self.total

    def snapshot(self, now: float) -> Snapshot:
        """Totals over the last ``size`` seconds."""
        self._advance(now)
        return Snapshot(self.total, self._failed, self._slow, self._slow_failed)

    def counts(self, now: float) -> tuple[int, int, int]:
        """(total, failed, slow) without building a snapshot."""
        self._advance(now)
        return self.total, self._failed, self._slow
