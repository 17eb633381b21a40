"""Open-window state of each assigner kind, behind one small interface used by windows.py.

A store receives on-time decisions already made against the per-event watermark, keeps the
aggregates of open windows and hands out the windows a watermark closes. Definitions and
proofs that results do not depend on arrival order or batching: docs/MATH.md, section 7.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterator
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from intperf.stream.aggregates import Aggregate

A = TypeVar("A", bound=Aggregate)
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
#: (key id, start ms, end ms exclusive, aggregate) of one closed or open window.
Closed = tuple[int, int, int, A]


def _groups(codes: Ints) -> tuple[Ints, list[int]]:
    """A stable order that makes equal codes contiguous, and the group boundaries in it."""
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    cuts = np.flatnonzero(sorted_codes[1:] != sorted_codes[:-1]) + 1
    return order, [0, *cuts.tolist(), int(codes.size)]


class WindowStore(Protocol[A]):
    """What WindowedAggregation needs of the state of one assigner kind."""

    def add(
        self, keys: Ints, times: Ints, values: Floats, flags: Bools | None, wm: Ints
    ) -> tuple[Bools, int]:
        """Add the on-time events; return the late mask and the partially late count."""
        ...

    def close(self, wm: int) -> list[Closed[A]]:
        """Remove and return the windows that watermark ``wm`` closes."""
        ...

    def items(self) -> Iterator[Closed[A]]:
        """Open state as (key, start, end, aggregate) entries, for snapshots."""
        ...

    def put(self, key: int, start: int, end: int, agg: A) -> None:
        """Restore one entry written by :meth:`items`."""
        ...

    def __len__(self) -> int:
        """Open windows (or retained entries)."""
        ...


class FixedStore(Generic[A]):
    """Tumbling and hopping windows ``[s, s + size)`` with ``s`` a multiple of ``advance``."""

    def __init__(self, size: int, advance: int, make: Callable[[], A]) -> None:
        self.size, self.advance, self.make = size, advance, make
        self.hops = size // advance
        self.open: dict[int, dict[int, A]] = {}  # start -> key id -> aggregate

    def add(
        self, keys: Ints, times: Ints, values: Floats, flags: Bools | None, wm: Ints
    ) -> tuple[Bools, int]:
        adv, size, k = self.advance, self.size, self.hops
        last = (times // adv) * adv  # start of the latest window holding each event
        # Windows j = 0..k-1 start at last - j*adv; window j is open iff its end > watermark,
        # so the open ones are j < m: m = ceil((last + size - wm) / adv), clipped to [0, k].
        m = np.clip(last + size - wm, 0, k * adv)
        m = (m + (adv - 1)) // adv
        late = m == 0
        partial = int(np.count_nonzero(m < k)) - int(np.count_nonzero(late)) if k > 1 else 0
        if k == 1:
            on = ~late
            starts, idx = last[on], np.flatnonzero(on)
        else:
            # event i repeated m_i times, with j = 0..m_i-1 (no n x k matrix)
            idx = np.repeat(np.arange(m.size), m)
            first_of = np.cumsum(m) - m
            j = np.arange(idx.size, dtype=np.int64) - np.repeat(first_of, m)
            starts = last[idx] - j * adv
        if idx.size == 0:
            return late, partial
        gkeys = keys[idx]
        lo = int(starts.min())
        n_keys = int(gkeys.max()) + 1
        if ((int(starts.max()) - lo) // adv + 1) * n_keys < 1 << 62:
            order, bounds = _groups(((starts - lo) // adv) * n_keys + gkeys)
        else:  # a time span too wide for one int64 code: sort on both columns
            order = np.lexsort((gkeys, starts))
            s, g = starts[order], gkeys[order]
            cuts = np.flatnonzero((s[1:] != s[:-1]) | (g[1:] != g[:-1])) + 1
            bounds = [0, *cuts.tolist(), int(order.size)]
        vals = values[idx][order]
        flg = None if flags is None else flags[idx][order]
        first = order[bounds[:-1]]
        for s, key, a, b in zip(
            starts[first].tolist(), gkeys[first].tolist(), bounds[:-1], bounds[1:], strict=True
        ):
            row = self.open.get(s)
            if row is None:
                row = self.open[s] = {}
            agg = row.get(key)
            if agg is None:
                agg = row[key] = self.make()
            agg.record_many(vals[a:b], None if flg is None else flg[a:b])
        return late, partial

    def close(self, wm: int) -> list[Closed[A]]:
        size = self.size
        out: list[Closed[A]] = []
        for s in sorted(s for s in self.open if s + size <= wm):
            out.extend((key, s, s + size, agg) for key, agg in self.open.pop(s).items())
        return out

    def items(self) -> Iterator[Closed[A]]:
        for s, row in sorted(self.open.items()):
            for key, agg in row.items():
                yield key, s, s + self.size, agg

    def put(self, key: int, start: int, end: int, agg: A) -> None:
        if end - start != self.size or start % self.advance:
            raise ValueError(f"window [{start}, {end}) does not belong to this assigner")
        self.open.setdefault(start, {})[key] = agg

    def __len__(self) -> int:
        return sum(len(row) for row in self.open.values())


def _on_time_groups(keys: Ints, times: Ints, wm: Ints) -> tuple[Bools, Ints, list[int]]:
    """Late mask, and the on-time events' indexes ordered by (key, time) with key boundaries."""
    late = times < wm
    on = np.flatnonzero(~late)
    order = on[np.lexsort((times[on], keys[on]))]
    k = keys[order]
    cuts = np.flatnonzero(k[1:] != k[:-1]) + 1
    return late, order, [0, *cuts.tolist(), int(order.size)]


class SlidingStore(Generic[A]):
    """Sliding windows ``[t - size, t]``, one per distinct on-time event time ``t`` of a key.

    The store keeps one aggregate per (key, distinct time); a window's aggregate is built when
    it closes, from the times in its range, with a two-stack queue so each closing costs O(1)
    merges amortized.
    """

    def __init__(self, size: int, make: Callable[[], A]) -> None:
        self.size, self.make = size, make
        self.times: dict[int, list[int]] = {}  # key -> sorted distinct times
        self.aggs: dict[int, dict[int, A]] = {}  # key -> time -> aggregate of that time
        self.emitted_below: int | None = None  # windows t < this were emitted

    def add(
        self, keys: Ints, times: Ints, values: Floats, flags: Bools | None, wm: Ints
    ) -> tuple[Bools, int]:
        late, order, bounds = _on_time_groups(keys, times, wm)
        t_sorted = times[order]
        cuts = np.flatnonzero(t_sorted[1:] != t_sorted[:-1]) + 1
        edges = sorted({*bounds, *cuts.tolist()})
        for a, b in itertools.pairwise(edges):
            i = order[a:b]
            key, t = int(keys[i[0]]), int(times[i[0]])
            per_time = self.aggs.setdefault(key, {})
            agg = per_time.get(t)
            if agg is None:
                agg = per_time[t] = self.make()
                bisect.insort(self.times.setdefault(key, []), t)
            agg.record_many(values[i], None if flags is None else flags[i])
        return late, 0

    def close(self, wm: int) -> list[Closed[A]]:
        out: list[Closed[A]] = []
        lo_bound = self.emitted_below
        for key in list(self.times):
            ts, per_time = self.times[key], self.aggs[key]
            first = 0 if lo_bound is None else bisect.bisect_left(ts, lo_bound)
            last = bisect.bisect_left(ts, wm)  # window t closes when wm >= t + 1
            if last > first:
                ends = ts[first:last]
                merged = _sliding_merges(ts, per_time, ends, self.size)
                out.extend(
                    (key, t - self.size, t + 1, agg) for t, agg in zip(ends, merged, strict=True)
                )
            drop = bisect.bisect_left(ts, wm - self.size)  # no future window reaches below
            for t in ts[:drop]:
                del per_time[t]
            del ts[:drop]
            if not ts:
                del self.times[key], self.aggs[key]
        self.emitted_below = wm
        return out

    def items(self) -> Iterator[Closed[A]]:
        for key, ts in self.times.items():
            for t in ts:
                yield key, t, t, self.aggs[key][t]

    def put(self, key: int, start: int, end: int, agg: A) -> None:
        if start != end:
            raise ValueError("sliding-window state holds one aggregate per event time")
        self.aggs.setdefault(key, {})[start] = agg
        bisect.insort(self.times.setdefault(key, []), start)

    def __len__(self) -> int:
        return sum(len(ts) for ts in self.times.values())


def _sliding_merges(ts: list[int], per_time: dict[int, A], ends: list[int], size: int) -> list[A]:
    """For each t in ``ends`` (ascending), the merge of ``per_time[u]`` for u in [t-size, t].

    A FIFO of aggregates as two stacks: the back stack keeps a running merge, the front stack
    keeps suffix merges; each time is pushed, flipped and popped once.
    """
    out: list[A] = []
    front: list[A] = []  # front[-1] = merge of the oldest remaining times
    back: list[A] = []
    back_acc: A | None = None
    lo = hi = bisect.bisect_left(ts, ends[0] - size)
    for t in ends:
        while hi < len(ts) and ts[hi] <= t:
            item = per_time[ts[hi]]
            back.append(item)
            if back_acc is None:
                back_acc = item.copy()
            else:
                back_acc.merge(item)
            hi += 1
        while ts[lo] < t - size:
            if not front:
                acc: A | None = None
                for item in reversed(back):
                    c = item.copy()
                    if acc is not None:
                        c.merge(acc)
                    front.append(c)
                    acc = c
                back, back_acc = [], None
            front.pop()
            lo += 1
        if front:
            result = front[-1].copy()
            if back_acc is not None:
                result.merge(back_acc)
        else:
            assert back_acc is not None  # t itself is in its window
            result = back_acc.copy()
        out.append(result)
    return out


class SessionStore(Generic[A]):
    """Session windows: on-time events of a key whose times are at most ``gap`` apart."""

    def __init__(self, gap: int, make: Callable[[], A]) -> None:
        self.gap, self.make = gap, make
        self.sessions: dict[int, list[list[Any]]] = {}  # key -> [[first, last, agg]] by first

    def add(
        self, keys: Ints, times: Ints, values: Floats, flags: Bools | None, wm: Ints
    ) -> tuple[Bools, int]:
        late, order, bounds = _on_time_groups(keys, times, wm)
        gap = self.gap
        t_sorted = times[order]
        breaks = np.flatnonzero(np.diff(t_sorted) > gap) + 1
        edges = sorted({*bounds, *breaks.tolist()})
        for a, b in itertools.pairwise(edges):
            i = order[a:b]
            key = int(keys[i[0]])
            first, last = int(t_sorted[a]), int(t_sorted[b - 1])
            agg = self.make()
            agg.record_many(values[i], None if flags is None else flags[i])
            self._merge_in(key, first, last, agg)
        return late, 0

    def _merge_in(self, key: int, first: int, last: int, agg: A) -> None:
        sessions = self.sessions.setdefault(key, [])
        gap = self.gap
        # Sessions are disjoint and sorted; the ones within gap of [first, last] are contiguous.
        lo = bisect.bisect_left(sessions, first - gap, key=lambda s: s[1])
        hi = bisect.bisect_right(sessions, last + gap, key=lambda s: s[0])
        for s in sessions[lo:hi]:
            first, last = min(first, s[0]), max(last, s[1])
            s[2].merge(agg)
            agg = s[2]
        sessions[lo:hi] = [[first, last, agg]]

    def close(self, wm: int) -> list[Closed[A]]:
        out: list[Closed[A]] = []
        gap = self.gap
        for key in list(self.sessions):
            sessions = self.sessions[key]
            n = 0
            while n < len(sessions) and sessions[n][1] + gap < wm:
                first, last, agg = sessions[n]
                out.append((key, first, last + 1, agg))
                n += 1
            del sessions[:n]
            if not sessions:
                del self.sessions[key]
        return out

    def items(self) -> Iterator[Closed[A]]:
        for key, sessions in self.sessions.items():
            for first, last, agg in sessions:
                yield key, first, last + 1, agg

    def put(self, key: int, start: int, end: int, agg: A) -> None:
        if end <= start:
            raise ValueError(f"session [{start}, {end}) is empty")
        self._merge_in(key, start, end - 1, agg)

    def __len__(self) -> int:
        return sum(len(s) for s in self.sessions.values())
