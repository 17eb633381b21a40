"""Log-bucketed histogram with bounded relative error that merges exactly.

The bucket scheme is DDSketch's (Masson et al., VLDB 2019): bucket ``i`` holds values in
``(gamma**(i-1), gamma**i]`` with ``gamma = (1+a)/(1-a)``, so any quantile is returned
within relative error ``a``. Values are bucketed in batches with NumPy (see docs/MATH.md).
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt

#: Smallest value given its own bucket: the smallest normal float. Zero and subnormal values
#: (below ~2.2e-308 ms) are counted in the zero bucket, whose quantile is reported as ``min``.
MIN_INDEXABLE = sys.float_info.min

#: The bucket width is computed for ``alpha * (1 - _MARGIN)`` so that one-ulp differences of
#: ``log``/``exp`` at bucket edges can never push the error above ``alpha`` (docs/MATH.md).
_MARGIN = 1e-6
_MAX_FLOAT = sys.float_info.max
#: Values bucketed per NumPy pass: the temporaries (64 KiB each) stay in the CPU cache and
#: below malloc's mmap threshold (measured: 1<<13 values ~4 ns/value, 1<<15 ~6 ns/value).
_CHUNK = 1 << 13
#: :meth:`LogHistogram.record` buffers values and bucketizes them in batches of this size.
_FLUSH_AT = 4096


def _check_values(arr: npt.NDArray[np.float64]) -> NoReturn:
    """Raise ValueError naming the first value that is negative, NaN or infinite."""
    bad = arr[~((arr >= 0.0) & (arr <= _MAX_FLOAT))]
    raise ValueError(f"histogram values must be finite and non-negative, got {float(bad[0])!r}")


class LogHistogram:
    """Counts of non-negative values in logarithmic buckets; exact count, min and max.

    Values are milliseconds by convention. :meth:`record` buffers values and every read
    (attributes, quantiles, merges, serialization) first bucketizes the buffer with
    :meth:`record_many`, so both paths produce identical histograms.
    """

    __slots__ = (
        "_bins",
        "_count",
        "_frozen",
        "_inv_log_gamma",
        "_log_gamma",
        "_max",
        "_min",
        "_pending",
        "_rep_offset",
        "_sum",
        "_zero",
        "alpha",
    )

    def __init__(self, alpha: float = 0.01) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"relative accuracy must be in (0, 1), got {alpha}")
        self.alpha = alpha
        a = alpha * (1.0 - _MARGIN)
        gamma = (1.0 + a) / (1.0 - a)
        self._log_gamma = math.log(gamma)
        self._inv_log_gamma = 1.0 / self._log_gamma
        # value_of(i) = 2 * gamma**i / (1 + gamma), computed in log space to avoid overflow.
        self._rep_offset = math.log(2.0 / (1.0 + gamma))
        self._bins: dict[int, int] = {}
        self._zero = 0
        self._count = 0
        self._sum = 0.0
        self._min = math.inf
        self._max = -math.inf
        self._pending: list[float] = []
        self._frozen: tuple[array[int], array[int]] | None = None

    # -- recording -------------------------------------------------------------------------
    def record(self, value: float) -> None:
        """Record one value (buffered; bucketized in batches with NumPy)."""
        if not 0.0 <= value <= _MAX_FLOAT:
            raise ValueError(f"histogram values must be finite and non-negative, got {value!r}")
        pending = self._pending
        pending.append(value)
        if len(pending) >= _FLUSH_AT:
            self._flush()

    def record_many(self, values: Sequence[float] | npt.NDArray[np.float64]) -> None:
        """Record a batch of values with a few NumPy passes (about 5 ns per value).

        Raises ValueError, recording nothing, if any value is negative, NaN or infinite.
        """
        arr = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
        n = int(arr.size)
        if n == 0:
            return
        lo = float(arr.min())
        hi = float(arr.max())
        if not (lo >= 0.0 and hi <= _MAX_FLOAT):  # also catches NaN: comparisons are False
            _check_values(arr)
        if hi <= _MAX_FLOAT / n:
            total = float(arr.sum())
        else:  # the float sum may legitimately overflow to inf
            with np.errstate(over="ignore"):
                total = float(arr.sum())
        zero = 0
        if lo < MIN_INDEXABLE:
            positive = arr[arr >= MIN_INDEXABLE]
            zero = n - int(positive.size)
        else:
            positive = arr
        parts = [
            self._bucketize(positive[i : i + _CHUNK]) for i in range(0, int(positive.size), _CHUNK)
        ]
        if len(parts) > 1:  # add the chunks' counts in NumPy, then touch the dict once
            first = min(b for b, _ in parts)
            total_counts = np.zeros(max(b + c.size for b, c in parts) - first, dtype=np.intp)
            for b, c in parts:
                total_counts[b - first : b - first + c.size] += c
            parts = [(first, total_counts)]
        # Commit only after every step succeeded, so a failure records nothing.
        self._thaw()
        bins = self._bins
        for base, counts in parts:
            nonzero = np.flatnonzero(counts)
            for off, c in zip((nonzero + base).tolist(), counts[nonzero].tolist(), strict=True):
                bins[off] = bins.get(off, 0) + c
        self._zero += zero
        self._count += n
        self._sum += total
        self._min = min(self._min, lo)
        self._max = max(self._max, hi)

    def _bucketize(self, chunk: npt.NDArray[np.float64]) -> tuple[int, npt.NDArray[np.intp]]:
        """Bucket counts of ``chunk`` (all values >= MIN_INDEXABLE) as (first index, counts)."""
        idx = np.log(chunk)
        idx *= self._inv_log_gamma
        np.ceil(idx, out=idx)
        base = float(idx.min())
        idx -= base  # exact: integral floats far below 2**53
        return int(base), np.bincount(idx.astype(np.intp))

    def _flush(self) -> None:
        pending = self._pending
        if pending:
            self._pending = []
            self.record_many(pending)

    def merge(self, other: LogHistogram) -> None:
        """Add ``other``'s counts to this histogram (exact; both must share alpha)."""
        if other.alpha != self.alpha:
            raise ValueError(f"cannot merge histograms with alpha {self.alpha} and {other.alpha}")
        self._flush()
        other._flush()
        if other._count == 0:
            return
        self._count += other._count
        self._sum += other._sum
        self._zero += other._zero
        self._min = min(self._min, other._min)
        self._max = max(self._max, other._max)
        self._thaw()
        bins = self._bins
        for key, c in other._items():
            bins[key] = bins.get(key, 0) + c

    def merge_many(self, others: Iterable[LogHistogram]) -> None:
        """:meth:`merge` every histogram of ``others`` in order, the buckets added with NumPy.

        The result is exactly that of merging one by one (sum included). Raises ValueError,
        merging nothing, if one has another alpha.
        """
        from intperf.stats.histogram_batch import merge_into  # which imports this module

        merge_into(self, others)

    # -- compact storage ---------------------------------------------------------------------
    def compact(self) -> None:
        """Store the buckets as two sorted arrays (about a third of the dict's memory).

        For histograms that are mostly read from now on, such as the per-second windows a
        run keeps: reads work on the arrays directly; the next write turns them back into a
        dict. Values and results do not change.
        """
        self._flush()
        if self._frozen is not None or not self._bins:
            return
        keys = sorted(self._bins)
        counts = [self._bins[k] for k in keys]
        self._frozen = (array("i", keys), array("I" if max(counts) < 2**32 else "q", counts))
        self._bins = {}

    def _thaw(self) -> None:
        frozen = self._frozen
        if frozen is not None:
            self._bins = dict(zip(frozen[0], frozen[1], strict=True))
            self._frozen = None

    def _items(self) -> Iterable[tuple[int, int]]:
        """(index, count) pairs, sorted when compact, in insertion order otherwise."""
        frozen = self._frozen
        if frozen is not None:
            return zip(frozen[0], frozen[1], strict=True)
        return list(self._bins.items())

    def _sorted_items(self) -> Iterable[tuple[int, int]]:
        if self._frozen is not None:
            return self._items()
        return sorted(self._bins.items())

    def copy(self) -> LogHistogram:
        """Return an independent copy."""
        h = LogHistogram(self.alpha)
        h.merge(self)
        return h

    # -- reading ---------------------------------------------------------------------------
    @property
    def count(self) -> int:
        """Number of values recorded."""
        self._flush()
        return self._count

    @property
    def sum(self) -> float:
        """Float sum of the values (exact up to floating-point rounding)."""
        self._flush()
        return self._sum

    @property
    def min(self) -> float:
        """Smallest value recorded (exact), ``inf`` when empty."""
        self._flush()
        return self._min

    @property
    def max(self) -> float:
        """Largest value recorded (exact), ``-inf`` when empty."""
        self._flush()
        return self._max

    @property
    def zero(self) -> int:
        """Values counted in the zero bucket (0 and subnormals below MIN_INDEXABLE)."""
        self._flush()
        return self._zero

    @property
    def bins(self) -> dict[int, int]:
        """Bucket index -> count (read only; do not modify)."""
        self._flush()
        if self._frozen is not None:
            return dict(self._items())
        return self._bins

    @property
    def mean(self) -> float:
        """Arithmetic mean, or NaN when empty."""
        self._flush()
        return self._sum / self._count if self._count else math.nan

    def value_of(self, index: int) -> float:
        """Representative value of bucket ``index`` (within ``alpha`` of any value in it)."""
        try:
            return math.exp(index * self._log_gamma + self._rep_offset)
        except OverflowError:
            return math.inf

    def quantile(self, q: float) -> float:
        """Value at quantile ``q`` in [0, 1] (nearest-rank), within relative error alpha.

        Returns NaN for an empty histogram. q=0 and q=1 give the exact min and max.
        """
        return self.quantiles((q,))[0]

    def quantiles(self, qs: Iterable[float]) -> list[float]:
        """Several quantiles (see :meth:`quantile`) in one pass over the sorted buckets."""
        qs = list(qs)
        for q in qs:
            if not 0.0 <= q <= 1.0:
                raise ValueError(f"quantile must be in [0, 1], got {q}")
        self._flush()
        n = self._count
        if n == 0:
            return [math.nan] * len(qs)
        lo, hi = self._min, self._max
        # 0-based rank as numpy's "inverted_cdf" computes it (same float arithmetic):
        # the smallest r with (r + 1) / n >= q.
        ranks = [max(0, math.ceil(n * q - 1.0)) for q in qs]
        out = [math.nan] * len(qs)
        order = sorted(range(len(qs)), key=ranks.__getitem__)
        pos = 0
        seen = self._zero  # values with 0-based rank < seen are already passed
        while pos < len(order) and ranks[order[pos]] < seen:
            out[order[pos]] = lo  # zero bucket: 0 or a subnormal, reported as the minimum
            pos += 1
        for key, count in self._sorted_items():
            if pos == len(order):
                break
            seen += count
            if ranks[order[pos]] < seen:
                v = min(max(self.value_of(key), lo), hi)
                while pos < len(order) and ranks[order[pos]] < seen:
                    out[order[pos]] = v
                    pos += 1
        for i in order[pos:]:  # unreachable when counts are consistent; keep results defined
            out[i] = hi
        for i, q in enumerate(qs):  # the extremes are known exactly
            if q == 0.0:
                out[i] = lo
            elif q == 1.0:
                out[i] = hi
        return out

    # -- serialization ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Compact JSON-able form; :meth:`from_dict` restores it exactly."""
        if self._pending:
            self._flush()
        frozen, n = self._frozen, self._count
        if frozen is not None:  # sorted already: two C-level conversions
            keys, counts = frozen[0].tolist(), frozen[1].tolist()
        else:
            keys = sorted(self._bins)
            counts = [self._bins[k] for k in keys]
        return {
            "alpha": self.alpha,
            "count": n,
            "sum": self._sum,
            "min": self._min if n else None,
            "max": self._max if n else None,
            "zero": self._zero,
            "keys": keys,
            "counts": counts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogHistogram:
        """Rebuild a histogram written by :meth:`to_dict` (ValueError if inconsistent)."""
        h = cls(float(data["alpha"]))
        h._count = int(data["count"])
        h._sum = float(data["sum"])
        h._zero = int(data["zero"])
        if h._count:
            h._min = float(data["min"])
            h._max = float(data["max"])
        h._bins = {int(k): int(c) for k, c in zip(data["keys"], data["counts"], strict=True)}
        if (
            h._zero < 0
            or any(c <= 0 for c in h._bins.values())
            or (h._zero + sum(h._bins.values()) != h._count)
        ):
            raise ValueError("histogram counts do not add up to its count")
        return h

    def __eq__(self, other: object) -> bool:
        """Same alpha, counts per bucket, min and max (``sum`` is excluded: float rounding)."""
        if not isinstance(other, LogHistogram):
            return NotImplemented
        self._flush()
        other._flush()
        return (self.alpha, self._count, self._zero, self.bins, self._min, self._max) == (
            other.alpha,
            other._count,
            other._zero,
            other.bins,
            other._min,
            other._max,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LogHistogram(alpha={self.alpha}, count={self.count}, buckets={len(self.bins)})"


#: Cells (groups x buckets) up to which :func:`record_groups` counts with one ``bincount``.
_DENSE_CELLS = 1 << 22
#: Whole values below this take their bucket from a table (the same ``log`` of the same
#: float, computed once), not from ``np.log``: most response times are whole milliseconds.
_INT_TABLE = 1 << 17
_int_tables: dict[float, npt.NDArray[np.int32]] = {}


def _int_buckets(inv_log_gamma: float) -> npt.NDArray[np.int32]:
    """Bucket index (as ``_bucketize`` computes it) of each whole number below _INT_TABLE."""
    table = _int_tables.get(inv_log_gamma)
    if table is None:
        idx = np.log(np.arange(1, _INT_TABLE, dtype=np.float64))  # 0 is never looked up
        idx *= inv_log_gamma
        np.ceil(idx, out=idx)
        table = _int_tables[inv_log_gamma] = np.concatenate(([0], idx)).astype(np.int32)
    return table


def _narrowest(values: npt.NDArray[np.int64], *codes: str) -> str:
    """The first array typecode (lower case signed, upper case not) that holds every value."""
    lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
    for code in codes:
        bits = 8 * array(code).itemsize - code.islower()  # value bits
        if (-(1 << bits) if code.islower() else 0) <= lo and hi < 1 << bits:
            return code
    return codes[-1]


def record_groups(
    groups: Sequence[Sequence[LogHistogram]],
    values: Sequence[float] | npt.NDArray[np.float64],
    bounds: Sequence[int] | npt.NDArray[np.intp],
) -> None:
    """Record consecutive slices of ``values`` into their own histograms in a few NumPy passes.

    Group ``i`` is ``values[bounds[i]:bounds[i + 1]]``; each histogram of ``groups[i]`` ends
    exactly as after ``h.record_many(group); h.compact()``, sum included. Empty histograms
    are filled without a per-value Python step, in the narrowest compact arrays, shared
    (never mutated) by the histograms of a group. Raises ValueError, recording nothing, if
    a value is negative, NaN or infinite.
    """
    arr = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
    b = np.asarray(bounds, dtype=np.intp).reshape(-1)
    sizes = np.diff(b)
    if b.size != len(groups) + 1 or b[0] != 0 or b[-1] != arr.size or bool((sizes < 0).any()):
        raise ValueError("bounds must rise from 0 to len(values), one more than the groups")
    if arr.size and not (float(arr.min()) >= 0.0 and float(arr.max()) <= _MAX_FLOAT):
        _check_values(arr)
    fresh = _fresh_groups(groups, sizes, arr, b)
    for i in np.flatnonzero(~fresh).tolist():  # the rest, one group at a time
        for h in groups[i]:
            h.record_many(arr[b[i] : b[i + 1]])
            h.compact()
    if fresh.any():
        _fill_fresh(groups, arr, b, sizes, fresh)


def _fresh_groups(
    groups: Sequence[Sequence[LogHistogram]], sizes: npt.NDArray[np.intp],
    arr: npt.NDArray[np.float64], b: npt.NDArray[np.intp],
) -> npt.NDArray[np.bool_]:
    """Groups filled in bulk: non-empty, histograms empty, distinct and of one alpha."""
    fresh = np.zeros(len(groups), dtype=np.bool_)
    alpha = next((hs[0].alpha for hs in groups if hs), None)
    n = sizes.tolist()
    members = 0
    for i, hs in enumerate(groups):
        if n[i] and hs:
            for h in hs:
                if h._count or h._pending or h.alpha != alpha:
                    break
            else:
                fresh[i] = True
                members += len(hs)
    if len({id(h) for i in np.flatnonzero(fresh).tolist() for h in groups[i]}) != members:
        fresh[:] = False  # a histogram given twice: record_many keeps the order right
    neg_zero = np.flatnonzero((arr == 0.0) & np.signbit(arr))
    if neg_zero.size:  # min() of 0.0 and -0.0 depends on order: keep record_many's answer
        fresh[np.searchsorted(b, neg_zero, side="right") - 1] = False
    return fresh


def _fill_fresh(
    groups: Sequence[Sequence[LogHistogram]], arr: npt.NDArray[np.float64],
    b: npt.NDArray[np.intp], sizes: npt.NDArray[np.intp], fresh: npt.NDArray[np.bool_],
) -> None:
    """Give every fresh group the state ``record_many`` + ``compact`` would."""
    n_groups = len(groups)
    ref = groups[int(np.argmax(fresh))][0]
    full = sizes > 0
    starts = b[:-1][full]
    lows, highs, sums = np.zeros(n_groups), np.zeros(n_groups), np.zeros(n_groups)
    lows[full] = np.minimum.reduceat(arr, starts)
    highs[full] = np.maximum.reduceat(arr, starts)
    integral = bool(np.array_equal(np.floor(arr), arr))
    if integral and float(arr.max()) * arr.size < 2.0**53:
        sums[full] = np.add.reduceat(arr, starts)  # integral values: any order sums exactly
    else:  # the pairwise sum record_many does, group by group
        with np.errstate(over="ignore"):
            for i in np.flatnonzero(fresh).tolist():
                sums[i] = float(arr[b[i] : b[i + 1]].sum())
    gid = np.repeat(np.arange(n_groups, dtype=np.intp), sizes)
    positive = arr >= MIN_INDEXABLE
    zeros = np.bincount(gid[~positive], minlength=n_groups)
    idx: npt.NDArray[Any]
    if integral and float(highs.max()) < _INT_TABLE:  # whole ms: look the bucket up
        idx = _int_buckets(ref._inv_log_gamma)[arr[positive].astype(np.intp)]
    else:
        idx = np.log(arr[positive])
        idx *= ref._inv_log_gamma
        np.ceil(idx, out=idx)
    owner = keys = counts = np.zeros(0, dtype=np.int64)
    if idx.size:
        kmin = int(idx.min())
        k = (idx - kmin).astype(np.int64)
        width = int(k.max()) + 1
        cells = gid[positive] * width + k
        if n_groups * width <= _DENSE_CELLS:
            flat = np.bincount(cells, minlength=n_groups * width)
            cells = np.flatnonzero(flat != 0)  # (a bool array is scanned ~5x faster)
            counts = flat[cells]
        else:
            cells, counts = np.unique(cells, return_counts=True)
        owner, keys = np.divmod(cells, width)
        keys += kmin
    cuts = np.searchsorted(owner, np.arange(n_groups + 1)).tolist()
    # The narrowest array types that hold them (a window's arrays shrink from ~600 to ~225
    # bytes); every reader iterates the arrays, so values, not types, are what counts.
    key_type, count_type = _narrowest(keys, "h", "i"), _narrowest(counts, "B", "H", "I", "Q")
    key_size, count_size = array(key_type).itemsize, array(count_type).itemsize
    key_bytes = memoryview(keys.astype(f"i{key_size}").tobytes())
    count_bytes = memoryview(counts.astype(f"u{count_size}").tobytes())
    n_of, sum_of, zero_of = sizes.tolist(), sums.tolist(), zeros.tolist()
    low_of, high_of = lows.tolist(), highs.tolist()
    for i in np.flatnonzero(fresh).tolist():
        lo, hi = cuts[i], cuts[i + 1]
        frozen: tuple[array[int], array[int]] | None = None
        if hi > lo:
            frozen = (array(key_type), array(count_type))
            frozen[0].frombytes(key_bytes[lo * key_size : hi * key_size])
            frozen[1].frombytes(count_bytes[lo * count_size : hi * count_size])
        n, total, zero, low, high = n_of[i], sum_of[i], zero_of[i], low_of[i], high_of[i]
        for h in groups[i]:
            h._frozen = frozen
            h._count, h._sum, h._zero, h._min, h._max = n, total, zero, low, high
