"""Response times of one service's window, per request name ("GET /api/orders/{id}"), held as
dense NumPy bucket counts so a whole batch is recorded in a few vectorised passes.

The buckets are LogHistogram's (docs/MATH.md, section 1): a window converts exactly into one
LogHistogram (and LatencyStats, RequestWindow) per request name when it closes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from intperf.loadtest.results import ErrorClass, RequestWindow
from intperf.stats.histogram import MIN_INDEXABLE, LogHistogram
from intperf.stream.aggregates import LatencyStats
from intperf.stream.topology_base import Rows, current_rows

__all__ = ["OTHER_REQUESTS", "EndpointStats", "bucket_indexes", "inverse_log_gamma"]

#: Request name that collects the requests beyond a window's ``max_endpoints`` names.
OTHER_REQUESTS: Final = "(other)"
#: Error classes in the ``klass`` column: 0 ok (4xx included), 1 status >= 500, 2 flagged.
OK, HTTP_5XX, FLAGGED = 0, 1, 2
_PAD = 16
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


def inverse_log_gamma(alpha: float) -> float:
    """``1 / log(gamma)`` exactly as LogHistogram(alpha) buckets with it."""
    return LogHistogram(alpha)._inv_log_gamma  # its bucket scheme, so results convert exactly


def bucket_indexes(
    values: Floats, inv_log_gamma: float
) -> tuple[Ints, npt.NDArray[np.bool_] | None]:
    """LogHistogram bucket of each value, and the mask of zero-bucket values (None: none)."""
    if values.size and float(values.min()) >= MIN_INDEXABLE:
        idx = np.log(values)
        idx *= inv_log_gamma
        return np.ceil(idx).astype(np.int64), None
    zero = values < MIN_INDEXABLE
    safe = np.where(zero, 1.0, values)
    idx = np.log(safe)
    idx *= inv_log_gamma
    return np.ceil(idx).astype(np.int64), zero


class EndpointStats:
    """One service window: per request name count, errors by class, sum, min, max and
    LogHistogram bucket counts (a row of a 2-D array). Fed row numbers of a :class:`Rows`
    whose ``extra`` holds ``request`` (ids into ``names``, valid for one ``generation``),
    ``klass``, ``bucket`` and ``zero``."""

    __slots__ = (
        "_lut",
        "_lut_of",
        "alpha",
        "base",
        "counts",
        "err5",
        "errx",
        "high",
        "index",
        "low",
        "max_endpoints",
        "n",
        "names",
        "total",
        "zero",
    )

    def __init__(self, alpha: float = 0.01, max_endpoints: int = 500) -> None:
        self.alpha = alpha
        self.max_endpoints = max_endpoints
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.n = np.zeros(0, np.int64)
        self.zero = np.zeros(0, np.int64)
        self.err5 = np.zeros(0, np.int64)
        self.errx = np.zeros(0, np.int64)
        self.total = np.zeros(0, np.float64)
        self.low = np.zeros(0, np.float64)
        self.high = np.zeros(0, np.float64)
        self.counts = np.zeros((0, 0), np.int64)
        self.base = 0
        self._lut: Ints = np.zeros(0, np.int64)
        self._lut_of: object = None  # the generation of request ids the lut maps

    @staticmethod
    def check_values(values: Floats) -> None:
        """Values are row numbers; the topology checks the response times themselves."""

    # -- slots --------------------------------------------------------------------------------
    def _slot(self, name: str) -> int:
        slot = self.index.get(name)
        if slot is None:
            if len(self.names) >= self.max_endpoints:
                name = OTHER_REQUESTS
                slot = self.index.get(name)
            if slot is None:
                slot = self.index[name] = len(self.names)
                self.names.append(name)
        return slot

    def _slots(self, request: Ints, rows: Rows) -> Ints:
        """Slots of global request ids (``rows.names`` is the topology's registry)."""
        generation = rows.extra["generation"]
        if self._lut_of != generation or self._lut.size < len(rows.names):
            lut = np.full(len(rows.names) + 64, -1, np.int64)
            if self._lut_of == generation:
                lut[: self._lut.size] = self._lut
            self._lut, self._lut_of = lut, generation
        lut = self._lut
        slots = lut[request]
        if bool((slots < 0).any()):
            for r in np.unique(request[slots < 0]).tolist():
                lut[r] = self._slot(rows.names[r])
            slots = lut[request]
        return slots

    def _fit(self, slots: int, lo: int, hi: int) -> None:
        """Make room for ``slots`` request names and buckets ``lo..hi``."""
        cap = self.n.size
        if slots > cap:
            new = max(slots, 2 * cap, 4)
            grow = new - cap
            self.n = np.concatenate([self.n, np.zeros(grow, np.int64)])
            self.zero = np.concatenate([self.zero, np.zeros(grow, np.int64)])
            self.err5 = np.concatenate([self.err5, np.zeros(grow, np.int64)])
            self.errx = np.concatenate([self.errx, np.zeros(grow, np.int64)])
            self.total = np.concatenate([self.total, np.zeros(grow)])
            self.low = np.concatenate([self.low, np.full(grow, math.inf)])
            self.high = np.concatenate([self.high, np.full(grow, -math.inf)])
            counts = np.zeros((new, self.counts.shape[1]), np.int64)
            counts[:cap] = self.counts
            self.counts = counts
        if lo > hi:
            return
        width = self.counts.shape[1]
        if width == 0:
            self.base = lo - _PAD
            self.counts = np.zeros((self.n.size, hi - lo + 1 + 2 * _PAD), np.int64)
        elif lo < self.base or hi >= self.base + width:
            new_lo = min(self.base, lo - _PAD)
            new_hi = max(self.base + width - 1, hi + _PAD)
            counts = np.zeros((self.n.size, new_hi - new_lo + 1), np.int64)
            off = self.base - new_lo
            counts[:, off : off + width] = self.counts
            self.counts, self.base = counts, new_lo

    # -- recording ----------------------------------------------------------------------------
    def record_many(
        self,
        values: Floats | Sequence[float],
        flags: npt.NDArray[np.bool_] | Sequence[bool] | None = None,
    ) -> None:
        """Add the rows numbered ``values`` of the batch being fed."""
        rows = current_rows()
        idx = np.asarray(values).astype(np.intp)
        ex = rows.extra
        slots = self._slots(ex["request"][idx], rows)
        zero = ex["zero"]
        klass = ex["klass"]
        self._record(
            slots,
            rows.value[idx],
            ex["bucket"][idx],
            None if zero is None else zero[idx],
            None if klass is None else klass[idx],
        )

    def _record(
        self,
        slots: Ints,
        v: Floats,
        b: Ints,
        zero: npt.NDArray[np.bool_] | None,
        klass: npt.NDArray[np.int8] | None,
    ) -> None:
        if zero is not None and bool(zero.any()):
            pos = ~zero
            bp, sp = b[pos], slots[pos]
        else:
            zero, bp, sp = None, b, slots
        lo, hi = (int(bp.min()), int(bp.max())) if bp.size else (1, 0)
        self._fit(len(self.names), lo, hi)
        ns = self.n.size
        self.n += np.bincount(slots, minlength=ns)
        self.total += np.bincount(slots, weights=v, minlength=ns)
        np.minimum.at(self.low, slots, v)
        np.maximum.at(self.high, slots, v)
        if zero is not None:
            self.zero += np.bincount(slots[zero], minlength=ns)
        if klass is not None:
            self.err5 += np.bincount(slots[klass == HTTP_5XX], minlength=ns)
            self.errx += np.bincount(slots[klass == FLAGGED], minlength=ns)
        if bp.size:
            width = self.counts.shape[1]
            np.add.at(self.counts.reshape(-1), sp * width + (bp - self.base), 1)

    def merge(self, other: EndpointStats) -> None:
        """Add ``other`` (disjoint requests of the same service) into this window (exact)."""
        for j, name in enumerate(other.names):
            if not other.n[j]:
                continue
            keys, counts = other._buckets(j)
            i = self._slot(name)
            self._fit(
                len(self.names), int(keys[0]) if keys.size else 1, int(keys[-1]) if keys.size else 0
            )
            self.n[i] += other.n[j]
            self.zero[i] += other.zero[j]
            self.err5[i] += other.err5[j]
            self.errx[i] += other.errx[j]
            self.total[i] += other.total[j]
            self.low[i] = min(self.low[i], other.low[j])
            self.high[i] = max(self.high[i], other.high[j])
            if keys.size:
                self.counts[i, keys - self.base] += counts

    def copy(self) -> EndpointStats:
        """An independent copy."""
        c = EndpointStats(self.alpha, self.max_endpoints)
        c.merge(self)
        return c

    # -- reading ------------------------------------------------------------------------------
    @property
    def count(self) -> int:
        """Requests recorded."""
        return int(self.n.sum())

    def _buckets(self, slot: int) -> tuple[Ints, Ints]:
        row = self.counts[slot] if self.counts.shape[1] else np.zeros(0, np.int64)
        nz = np.flatnonzero(row)
        return nz + self.base, row[nz]

    def _histogram_dicts(self) -> list[dict[str, Any]]:
        """LogHistogram.to_dict-style dicts of every slot (one NumPy pass for all of them)."""
        k = len(self.names)
        if self.counts.shape[1]:
            dense = self.counts[:k]
            owner, bucket = np.nonzero(dense)  # row-major: by slot, then bucket
            counts = dense[owner, bucket].tolist()
            keys = (bucket + self.base).tolist()
            cuts = np.searchsorted(owner, np.arange(k + 1)).tolist()
        else:
            counts, keys, cuts = [], [], [0] * (k + 1)
        n, total = self.n[:k].tolist(), self.total[:k].tolist()
        low, high, zero = self.low[:k].tolist(), self.high[:k].tolist(), self.zero[:k].tolist()
        return [
            {
                "alpha": self.alpha,
                "count": n[i],
                "sum": total[i],
                "min": low[i] if n[i] else None,
                "max": high[i] if n[i] else None,
                "zero": zero[i],
                "keys": keys[cuts[i] : cuts[i + 1]],
                "counts": counts[cuts[i] : cuts[i + 1]],
            }
            for i in range(k)
        ]

    def stats(self, name: str) -> LatencyStats:
        """The LatencyStats of one request name."""
        slot = self.index[name]
        errors = int(self.err5[slot] + self.errx[slot])
        hist = self._histogram_dicts()[slot]
        return LatencyStats.from_dict({"histogram": hist, "errors": errors})

    def total_stats(self) -> LatencyStats:
        """All request names merged: the service's LatencyStats for the window."""
        k = len(self.names)
        n = int(self.n[:k].sum())
        row = self.counts[:k].sum(axis=0) if self.counts.shape[1] else np.zeros(0, np.int64)
        nz = np.flatnonzero(row)
        hist = {
            "alpha": self.alpha,
            "count": n,
            "sum": float(self.total[:k].sum()),
            "min": float(self.low[:k].min()) if n else None,
            "max": float(self.high[:k].max()) if n else None,
            "zero": int(self.zero[:k].sum()),
            "keys": (nz + self.base).tolist(),
            "counts": row[nz].tolist(),
        }
        errors = int(self.err5[:k].sum() + self.errx[:k].sum())
        return LatencyStats.from_dict({"histogram": hist, "errors": errors})

    def request_windows(self) -> dict[str, RequestWindow]:
        """One load-test RequestWindow per request name, as LatencyStats.to_request_window
        makes it but with errors classed ``http_5xx`` (status >= 500) or ``other``."""
        out: dict[str, RequestWindow] = {}
        err5, errx = self.err5.tolist(), self.errx.tolist()
        for slot, (name, hist) in enumerate(zip(self.names, self._histogram_dicts(), strict=True)):
            n = hist["count"]
            if not n:
                continue
            latency = LogHistogram.from_dict(hist)
            e5, ex = err5[slot], errx[slot]
            w = RequestWindow(latency=latency, service=latency.copy(), ok=n - e5 - ex)
            if e5:
                w.add_error(ErrorClass.HTTP_5XX, None, e5)
            if ex:
                w.add_error(ErrorClass.OTHER, None, ex)
            out[name] = w
        return out

    # -- serialization ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "alpha": self.alpha,
            "max_endpoints": self.max_endpoints,
            "requests": [
                {
                    "name": name,
                    "histogram": hist,
                    "http_5xx": int(self.err5[slot]),
                    "other": int(self.errx[slot]),
                }
                for slot, (name, hist) in enumerate(
                    zip(self.names, self._histogram_dicts(), strict=True)
                )
                if hist["count"]
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EndpointStats:
        """Inverse of :meth:`to_dict` (ValueError if inconsistent)."""
        s = cls(float(data["alpha"]), int(data["max_endpoints"]))
        for entry in data["requests"]:
            h = LogHistogram.from_dict(entry["histogram"])  # validates the counts
            e5, ex = int(entry["http_5xx"]), int(entry["other"])
            if e5 < 0 or ex < 0 or e5 + ex > h.count:
                raise ValueError("errors must be between 0 and the count")
            slot = s.index[entry["name"]] = len(s.names)
            s.names.append(str(entry["name"]))
            bins = h.bins
            keys = np.array(sorted(bins), np.int64)
            s._fit(
                len(s.names), int(keys[0]) if keys.size else 1, int(keys[-1]) if keys.size else 0
            )
            if keys.size:
                s.counts[slot, keys - s.base] = [bins[k] for k in keys.tolist()]
            s.n[slot], s.zero[slot], s.err5[slot], s.errx[slot] = h.count, h.zero, e5, ex
            s.total[slot], s.low[slot], s.high[slot] = h.sum, h.min, h.max
        return s

    def __repr__(self) -> str:
        return f"EndpointStats(requests={len(self.names)}, count={self.count})"
