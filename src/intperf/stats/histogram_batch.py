"""Many log histograms merged at once with NumPy, exactly as merging them one by one would.

A :class:`HistogramBatch` lays histograms side by side as flat arrays (counts, sums, minima,
maxima, every bucket). Merging groups of them, and reading quantiles of every group, is a few
array passes instead of a dict update per bucket. Counts add exactly in any order; sums are
added one by one in the given order and minima and maxima keep the first of equal values, so
the results match :meth:`LogHistogram.merge` to the bit.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from intperf.stats.histogram import LogHistogram

__all__ = ["HistogramBatch", "merge_into"]

IntArray = npt.NDArray[np.int64]
#: Cells (groups x bucket range) counted per dense ``bincount``: 4 MiB of float64.
_DENSE_CELLS = 1 << 19
#: Buckets gathered per pass, so temporaries stay small (a few MiB) whatever the batch.
_ENTRIES = 1 << 16
#: Below this total count, float64 ``bincount`` weights add counts exactly.
_EXACT_FLOAT = 1 << 53
#: Total counts a batch holds (int64 arithmetic with room to spare).
_MAX_TOTAL = 1 << 62
#: Groups up to this long have their sums added side by side, longer ones by ``cumsum``.
_SIDE_BY_SIDE = 1024
#: Fewer histograms than this are merged one by one (NumPy's set-up costs more).
_SMALL = 8
#: Array typecodes of compact bucket arrays a batch joins, narrowest first (counts of a
#: batch stay below 2**62, so ``q`` holds any of them).
_KEY_CODES = ("h", "i", "q")
_COUNT_CODES = ("B", "H", "I", "q")


def _check_alpha(alpha: float, h: LogHistogram) -> None:
    if h.alpha != alpha:
        raise ValueError(f"cannot merge histograms with alpha {alpha} and {h.alpha}")


def _ranges(starts: IntArray, lengths: IntArray) -> IntArray:
    """The concatenation of ``arange(s, s + n)`` for every (s, n)."""
    keep = lengths > 0
    starts, lengths = starts[keep], lengths[keep]
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    step = np.ones(total, dtype=np.int64)
    step[0] = starts[0]
    ends = np.cumsum(lengths)[:-1]
    step[ends] = starts[1:] - (starts[:-1] + lengths[:-1]) + 1
    return np.cumsum(step)


@dataclass(frozen=True, slots=True, eq=False)
class HistogramBatch:
    """Histograms of one alpha as flat arrays; item ``i``'s buckets are ``keys[s:s + n]``
    and ``counts[s:s + n]`` with ``s = start[i]`` and ``n = length[i]``."""

    alpha: float
    count: IntArray
    zero: IntArray
    sums: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    keys: npt.NDArray[np.signedinteger[Any]]
    counts: npt.NDArray[np.integer[Any]]
    start: IntArray
    length: IntArray
    sorted_keys: bool
    """Whether every item's buckets are in ascending key order."""

    def __len__(self) -> int:
        return len(self.sums)

    @classmethod
    def of(cls, hists: Sequence[LogHistogram], alpha: float | None = None) -> HistogramBatch:
        """The histograms side by side (buffered values are bucketized first).

        Histograms sharing compact arrays (``record_groups`` gives a group's histograms the
        same ones) share their buckets here too. ``alpha`` defaults to the first histogram's
        (0.01 for none). Raises ValueError if a histogram has another alpha, OverflowError if
        the counts add up to 2**62 or more.
        """
        if alpha is None:
            alpha = hists[0].alpha if hists else LogHistogram().alpha
        for h in [h for h in hists if h._pending or h.alpha != alpha]:
            _check_alpha(alpha, h)
            h._flush()
        count = [h._count for h in hists]
        if sum(count) >= _MAX_TOTAL:
            raise OverflowError("histogram counts too large to merge in a batch")
        n = len(hists)
        length = np.zeros(n, dtype=np.int64)
        start = np.zeros(n, dtype=np.int64)
        # Compact arrays joined in one call per kind (of one type), each array once, so the
        # buckets are a view of those bytes; dict-held buckets after them.
        frozen = [h._frozen for h in hists]
        ids = np.fromiter(map(id, frozen), dtype=np.uint64, count=n)
        _, first_at, inverse = np.unique(ids, return_index=True, return_inverse=True)
        owner = first_at[inverse.reshape(-1)]  # the first histogram with the same arrays
        has_arrays = ids != id(None)
        own = np.flatnonzero(has_arrays & (owner == np.arange(n))).tolist()
        arrays = [f for i in own if (f := frozen[i]) is not None]
        key_arrays = _one_type([a[0] for a in arrays], _KEY_CODES)
        count_arrays = _one_type([a[1] for a in arrays], _COUNT_CODES)
        del arrays
        lens = np.array(list(map(len, key_arrays)), dtype=np.int64)
        length[own] = lens
        start[own] = np.cumsum(lens) - lens
        offset = int(lens.sum())
        key_parts: list[npt.NDArray[Any]] = []
        count_parts: list[npt.NDArray[Any]] = []
        if key_arrays:
            key_parts.append(np.frombuffer(b"".join(key_arrays), dtype=key_arrays[0].typecode))
            count_parts.append(np.frombuffer(b"".join(count_arrays),
                                             dtype=count_arrays[0].typecode))
        del key_arrays, count_arrays
        dict_items = [i for i in np.flatnonzero(~has_arrays).tolist() if hists[i]._bins]
        shared = np.flatnonzero(has_arrays & (owner != np.arange(n)))
        length[shared], start[shared] = length[owner[shared]], start[owner[shared]]
        if dict_items:
            ks: list[int] = []
            cs: list[int] = []
            for i in dict_items:
                bins = hists[i]._bins
                length[i], start[i] = len(bins), offset + len(ks)
                ks.extend(bins)
                cs.extend(bins.values())
            key_parts.append(np.array(ks, dtype=np.int64))
            count_parts.append(np.array(cs, dtype=np.int64))
        keys, counts = _join(key_parts, _KEY_NARROW), _join(count_parts, _COUNT_NARROW)
        return cls(alpha, np.array(count, dtype=np.int64),
                   np.array([h._zero for h in hists], dtype=np.int64),
                   np.array([h._sum for h in hists], dtype=np.float64),
                   np.array([h._min for h in hists], dtype=np.float64),
                   np.array([h._max for h in hists], dtype=np.float64), keys, counts, start,
                   length, not dict_items)

    # -- merging -----------------------------------------------------------------------------
    def merge_groups(self, group_of: npt.ArrayLike, n_groups: int, *,
                     via: tuple[HistogramBatch, npt.ArrayLike] | None = None,
                     ) -> HistogramBatch:
        """Merge item ``i`` into group ``group_of[i]`` (-1: left out), items in order.

        Group ``g`` of the result equals ``h = LogHistogram(alpha)`` followed by
        ``h.merge(item)`` for its items in order: counts, buckets, first minimum and maximum
        among equal ones (``-0.0`` before ``0.0`` or after), and the sum added one by one.

        ``via=(finer, to_group)`` takes the buckets from ``finer``, these items already merged
        by a finer grouping (its group ``f`` holds items of group ``to_group[f]`` only, and
        every item of a group here is in one of them): fewer buckets to add, same result.
        """
        group = _groups(group_of, len(self), n_groups)
        members = np.flatnonzero(group >= 0)
        order = members[np.argsort(group[members], kind="stable")]
        gsorted = group[order]
        bounds = np.searchsorted(gsorted, np.arange(n_groups + 1))
        count = _group_sums(self.count[order], bounds)
        zero = _group_sums(self.zero[order], bounds)
        low, high = self._extremes(order, gsorted, bounds)
        counted = order[self.count[order] != 0]  # merge() skips empty histograms
        sums = _sequential_sums(self.sums[counted], group[counted], n_groups)
        if via is not None:
            finer, to_group = via
            fine = _groups(to_group, len(finer), n_groups)
            fine_members = np.flatnonzero(fine >= 0)
            buckets = finer._merge_buckets(fine_members, fine[fine_members], n_groups)
        else:
            buckets = self._merge_buckets(members, group[members], n_groups)
        return HistogramBatch(self.alpha, count, zero, sums, low, high, *buckets, True)

    def _extremes(self, order: IntArray, gsorted: IntArray, bounds: IntArray,
                  ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Per group minimum and maximum; ``merge`` keeps the first of equal values."""
        n_groups = bounds.size - 1
        low = np.full(n_groups, math.inf)
        high = np.full(n_groups, -math.inf)
        lows, highs = self.low[order], self.high[order]
        signed_zero = bool(((lows == 0.0) & np.signbit(lows)).any()
                           or ((highs == 0.0) & np.signbit(highs)).any())
        if not signed_zero:  # every value has one bit pattern: the order cannot show
            full = bounds[:-1] < bounds[1:]
            if full.any():
                cuts = bounds[:-1][full]
                low[full] = np.minimum.reduceat(lows, cuts)
                high[full] = np.maximum.reduceat(highs, cuts)
            return low, high
        lo, hi, count = low.tolist(), high.tolist(), self.count[order].tolist()
        for g, a, b, c in zip(gsorted.tolist(), lows.tolist(), highs.tolist(), count,
                              strict=True):
            if c:  # the comparisons of merge: min(lo, a) keeps lo unless a < lo
                if a < lo[g]:
                    lo[g] = a
                if b > hi[g]:
                    hi[g] = b
        return np.array(lo, dtype=np.float64), np.array(hi, dtype=np.float64)

    def _merge_buckets(self, items: IntArray, groups: IntArray, n_groups: int,
                       ) -> tuple[npt.NDArray[Any], npt.NDArray[Any], IntArray, IntArray]:
        """(keys, counts, start, length) of the groups, keys ascending within each:
        ``items[j]``'s buckets added to group ``groups[j]``."""
        empty = np.zeros(0, dtype=np.int64)
        if not items.size or int(self.length[items].sum()) == 0:
            return empty, empty, np.zeros(n_groups, np.int64), np.zeros(n_groups, np.int64)
        kmin = int(self.keys.min())
        width = int(self.keys.max()) - kmin + 1
        exact_float = int(self.count.sum()) < _EXACT_FLOAT  # bucket counts add up to less
        span = max(1, _DENSE_CELLS // width)
        if n_groups > span:  # several dense passes, each over a run of groups
            by_group = np.argsort(groups, kind="stable")
            items, groups = items[by_group], groups[by_group]
        # else one pass with the items in their order: their buckets are read in order
        lengths = self.length[items]
        starts = self.start[items]
        cum = np.concatenate(([0], np.cumsum(lengths)))
        sizes = np.zeros(n_groups, dtype=np.int64)  # buckets per group
        out_k: list[npt.NDArray[Any]] = []
        out_c: list[npt.NDArray[Any]] = []
        key_type = _fits([self.keys], _KEY_NARROW)
        a, m = 0, int(items.size)
        while a < m:
            g0 = int(groups[a]) if n_groups > span else 0
            stop = int(np.searchsorted(groups, g0 + span)) if n_groups > span else m
            dense: npt.NDArray[Any] = np.zeros(min(span, n_groups - g0) * width,
                                               dtype=np.float64 if exact_float else np.int64)
            while a < stop:
                b = int(np.searchsorted(cum, cum[a] + _ENTRIES, side="right")) - 1
                b = min(stop, max(b, a + 1))
                idx = _ranges(starts[a:b], lengths[a:b])
                cells = np.repeat((groups[a:b] - g0) * width - kmin, lengths[a:b])
                cells += self.keys[idx]
                if exact_float:
                    dense += np.bincount(cells, weights=self.counts[idx], minlength=dense.size)
                else:
                    np.add.at(dense, cells, self.counts[idx].astype(np.int64))
                a = b
            step = max(1, _ENTRIES // width) * width  # whole groups at a time: small arrays
            for c0 in range(0, dense.size, step):
                nonzero = np.flatnonzero(dense[c0 : c0 + step])
                g, k = np.divmod(nonzero, width)
                first, here = g0 + c0 // width, min(step, dense.size - c0) // width
                sizes[first : first + here] += np.bincount(g, minlength=here)
                k += kmin
                out_k.append(k.astype(key_type))
                c = dense[c0 + nonzero].astype(np.int64)
                out_c.append(c.astype(_fits([c], _COUNT_NARROW)))
        start = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        return _join(out_k, _KEY_NARROW), _join(out_c, _COUNT_NARROW), start, sizes

    # -- reading -----------------------------------------------------------------------------
    def histogram(self, i: int) -> LogHistogram:
        """Item ``i`` as a (compact) histogram."""
        h = LogHistogram(self.alpha)
        h._count, h._zero, h._sum = int(self.count[i]), int(self.zero[i]), float(self.sums[i])
        h._min, h._max = float(self.low[i]), float(self.high[i])
        s, n = int(self.start[i]), int(self.length[i])
        if n:
            keys = self.keys[s : s + n].astype(np.int64)
            counts = self.counts[s : s + n].astype(np.int64)
            if not self.sorted_keys:
                by_key = np.argsort(keys, kind="stable")
                keys, counts = keys[by_key], counts[by_key]
            h._frozen = (array("q", keys.tobytes()), array("q", counts.tobytes()))
        return h

    def histograms(self) -> list[LogHistogram]:
        """Every item as a histogram."""
        return [self.histogram(i) for i in range(len(self))]

    def quantiles(self, qs: Sequence[float]) -> list[list[float]]:
        """``[h.quantiles(qs) for h in self.histograms()]``, computed for all items at once."""
        for q in qs:
            if not 0.0 <= q <= 1.0:
                raise ValueError(f"quantile must be in [0, 1], got {q}")
        end = self.start + self.length
        laid_out = self.sorted_keys and bool(
            (self.start[:1] == 0).all() and np.array_equal(self.start[1:], end[:-1]))
        batch = self if laid_out else self.merge_groups(np.arange(len(self)), len(self))
        n = batch.count
        if not n.size:
            return []
        # LogHistogram.quantiles' 0-based ranks, max(0, ceil(n * q - 1)), in the same floats
        ranks = [np.maximum(np.ceil(n.astype(np.float64) * q - 1.0), 0.0).astype(np.int64)
                 for q in qs]
        ats = batch._rank_positions([rank - batch.zero for rank in ranks])
        end = batch.start + batch.length
        proto = LogHistogram(self.alpha)
        value_of: dict[int, float] = {}
        lows, highs = batch.low.tolist(), batch.high.tolist()
        empty = (n == 0).tolist()
        columns: list[list[float]] = []
        for q, rank, at in zip(qs, ranks, ats, strict=True):
            in_zero = (rank < batch.zero).tolist()
            past = (at >= end).tolist()
            keys = batch.keys[np.minimum(at, max(0, batch.keys.size - 1))].tolist() \
                if batch.keys.size else [0] * len(n)
            col: list[float] = []
            for i, key in enumerate(keys):
                lo, hi = lows[i], highs[i]
                if empty[i]:
                    col.append(math.nan)
                elif q == 0.0:  # the extremes are known exactly
                    col.append(lo)
                elif q == 1.0:
                    col.append(hi)
                elif in_zero[i]:  # 0 or a subnormal, reported as the minimum
                    col.append(lo)
                elif past[i]:  # unreachable when counts are consistent
                    col.append(hi)
                else:
                    v = value_of.get(key)
                    if v is None:
                        v = value_of[key] = proto.value_of(key)
                    col.append(min(max(v, lo), hi))
            columns.append(col)
        return [list(row) for row in zip(*columns, strict=True)]

    def _rank_positions(self, ranks: list[IntArray]) -> list[IntArray]:
        """Per array of ranks (one per item, counted past the zero bucket), the index of the
        bucket holding each: the first whose running count within its item exceeds the
        rank. Items are read a run at a time (their buckets lie end to end, in order)."""
        out = [np.zeros(len(self), dtype=np.int64) for _ in ranks]
        end = self.start + self.length
        a, n = 0, len(self)
        while a < n:
            first = int(self.start[a])
            b = max(a + 1, int(np.searchsorted(end, first + _ENTRIES, side="right")))
            cum = np.cumsum(self.counts[first : int(end[b - 1])], dtype=np.int64)
            before = np.concatenate(([0], cum))[self.start[a:b] - first]
            for at, rank in zip(out, ranks, strict=True):
                at[a:b] = first + np.searchsorted(cum, before + rank[a:b], side="right")
            a = b
        return out


def _groups(group_of: npt.ArrayLike, items: int, n_groups: int) -> IntArray:
    """``group_of`` as int64, checked: one group in [-1, n_groups) per item."""
    group = np.asarray(group_of, dtype=np.int64).reshape(-1)
    if group.size != items or (group.size and (int(group.min()) < -1
                                               or int(group.max()) >= n_groups)):
        raise ValueError("group_of needs one group in [-1, n_groups) per histogram")
    return group


def _sequential_sums(values: npt.NDArray[np.float64], groups: IntArray, n_groups: int,
                     ) -> npt.NDArray[np.float64]:
    """Per group, ``0.0 + v1 + v2 + ...`` added one at a time in order (float sums depend on
    the order). ``groups`` is sorted; long groups are summed by ``cumsum`` (one addition
    after another), the many short ones side by side, their i-th values at once."""
    out = np.zeros(n_groups, dtype=np.float64)
    bounds = np.searchsorted(groups, np.arange(n_groups + 1))
    sizes = np.diff(bounds)
    long = np.flatnonzero(sizes > _SIDE_BY_SIDE)
    by_size = np.flatnonzero((sizes <= _SIDE_BY_SIDE) & (sizes > 0))
    by_size = by_size[np.argsort(-sizes[by_size], kind="stable")]  # longest first
    with np.errstate(over="ignore"):  # a float sum may overflow to inf, as in merge()
        for g in long.tolist():
            out[g] = np.cumsum(np.concatenate(([0.0], values[bounds[g] : bounds[g + 1]])))[-1]
        for i in range(int(sizes[by_size[0]]) if by_size.size else 0):
            has = by_size[: int(np.count_nonzero(sizes[by_size] > i))]
            out[has] += values[bounds[has] + i]
    return out


def _one_type(arrays: list[array[int]], codes: tuple[str, ...]) -> list[array[int]]:
    """``arrays`` all of one typecode: the most common one if it holds every value, else the
    next wider of ``codes`` that does (only arrays of another type are converted)."""
    kinds = Counter(a.typecode for a in arrays)
    if not kinds or (len(kinds) == 1 and next(iter(kinds)) in codes):
        return arrays
    common = kinds.most_common(1)[0][0]
    for code in codes[codes.index(common) if common in codes else len(codes) - 1 :]:
        try:
            return [a if a.typecode == code else array(code, a) for a in arrays]
        except OverflowError:
            continue
    raise OverflowError("bucket arrays beyond 64 bits")  # unreachable: keys and counts fit


def _fits(parts: Sequence[npt.NDArray[Any]], dtypes: Sequence[type[np.integer[Any]]],
          ) -> type[np.integer[Any]]:
    """The first of ``dtypes`` that holds every value of ``parts``."""
    full = [p for p in parts if p.size]
    lo = min((int(p.min()) for p in full), default=0)
    hi = max((int(p.max()) for p in full), default=0)
    for dtype in dtypes:
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return dtype
    return dtypes[-1]


_KEY_NARROW: tuple[type[np.integer[Any]], ...] = (np.int16, np.int32, np.int64)
_COUNT_NARROW: tuple[type[np.integer[Any]], ...] = (np.uint8, np.uint16, np.uint32, np.int64)


def _join(parts: list[npt.NDArray[Any]], dtypes: Sequence[type[np.integer[Any]]],
          ) -> npt.NDArray[Any]:
    """``parts`` end to end in the narrowest of ``dtypes`` that holds them (the batch's
    memory), without a wider copy in between; empties the list as it goes."""
    dtype = _fits(parts, dtypes)
    if len(parts) == 1 and parts[0].dtype == dtype:
        return parts.pop()
    out = np.empty(sum(p.size for p in parts), dtype=dtype)
    at = 0
    while parts:
        part = parts.pop(0)
        out[at : at + part.size] = part
        at += part.size
    return out


def _group_sums(values: IntArray, bounds: IntArray) -> IntArray:
    """Per group sums of ``values`` sorted by group (group g is ``bounds[g]:bounds[g+1]``)."""
    out = np.zeros(bounds.size - 1, dtype=np.int64)
    full = bounds[:-1] < bounds[1:]
    if full.any():
        out[full] = np.add.reduceat(values, bounds[:-1][full])
    return out


def merge_into(target: LogHistogram, others: Iterable[LogHistogram]) -> None:
    """``target.merge(h)`` for every ``h`` of ``others`` in order, buckets added with NumPy.

    Raises ValueError, merging nothing, if one has another alpha.
    """
    hists = list(others)
    for h in hists:
        _check_alpha(target.alpha, h)
    if len(hists) < _SMALL or any(h is target for h in hists):
        for h in hists:
            target.merge(h)
        return
    target._flush()
    hists = [h for h in hists if h.count]  # merge() skips empty ones (count flushes)
    if not hists:
        return
    try:
        batch = HistogramBatch.of([target, *hists], target.alpha)
    except OverflowError:
        for h in hists:
            target.merge(h)
        return
    merged = batch.merge_groups(np.zeros(len(batch), dtype=np.int64), 1)
    total, low, high = target._sum, target._min, target._max
    for h in hists:  # merge()'s own arithmetic, in order
        total += h._sum
        low = min(low, h._min)
        high = max(high, h._max)
    result = merged.histogram(0)
    target._count, target._zero, target._sum = result._count, result._zero, total
    target._min, target._max = low, high
    target._bins, target._frozen = {}, result._frozen
