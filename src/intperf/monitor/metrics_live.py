"""Live analytics as Prometheus metrics: latency histograms, errors and the latest window.

The service's stored windows (each service's live run of the UTC day,
store/stream_repository.py) are folded **incrementally** into in-process totals: a scrape
reads and decodes only the windows stored since the previous one, so its cost does not grow
with the day (docs/monitoring.md, "Scrape cost"). Counting starts at the first scrape after
the service starts (earlier windows are history: only the latest is shown as the latest
window) and restarts from zero at UTC midnight with the new day's live runs: counter resets,
which ``rate()`` and ``increase()`` handle.

The stored LogHistogram buckets (1% relative error) are mapped onto fixed ``le`` bounds by
each bucket's representative value, so a request within 1% of a bound may be counted on
either side of it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from sqlalchemy import and_, func, or_, select

from intperf.stats.histogram import LogHistogram
from intperf.store.database import Database
from intperf.store.repositories import LIVE_TEST_TYPE
from intperf.store.tables import RunRow, RunSecondRow

__all__ = [
    "DEFAULT_LATENCY_BOUNDS",
    "BucketMapper",
    "LiveLatency",
    "ServiceTotals",
    "add_window",
    "latency_bounds",
    "le_label",
    "live_families",
    "set_latest_quantiles",
    "skip_to",
]

#: Default ``le`` bounds in seconds (Prometheus' defaults plus 2 s and 30 s); the configured
#: response-time-99th threshold and SLO latency threshold are added so that alerts on them
#: read an exact bucket.
DEFAULT_LATENCY_BOUNDS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 30.0)
#: Quantiles of the latest window, as gauges (the metric the service had before histograms).
WINDOW_QUANTILES = (0.5, 0.95, 0.99)


def latency_bounds(extra: Iterable[float] = ()) -> tuple[float, ...]:
    """The default bounds plus ``extra`` (seconds), sorted, without duplicates."""
    values = {round(b, 6) for b in (*DEFAULT_LATENCY_BOUNDS, *extra)
              if b > 0 and math.isfinite(b)}
    return tuple(sorted(values))


class BucketMapper:
    """Maps LogHistogram bucket indices (milliseconds) to the index of their ``le`` bound.

    A bucket goes to the first bound at or above its representative value (within ``alpha``
    of every value in it); index ``len(bounds)`` is ``+Inf``. Per alpha, the largest bucket
    index of each bound is computed once, then a window's buckets are placed with one
    ``searchsorted`` and one ``bincount``.
    """

    def __init__(self, bounds_s: Sequence[float]) -> None:
        self.bounds_ms = tuple(b * 1000.0 for b in bounds_s)
        self._bound_keys: dict[float, npt.NDArray[np.int64]] = {}

    def bound_keys(self, alpha: float) -> npt.NDArray[np.int64]:
        """For each bound, the largest bucket index whose representative value is below it."""
        found = self._bound_keys.get(alpha)
        if found is None:
            h = LogHistogram(alpha)
            log_gamma = math.log((1 + alpha) / (1 - alpha))
            keys = []
            for b in self.bounds_ms:
                k = math.floor(math.log(b) / log_gamma)
                while h.value_of(k) > b:
                    k -= 1
                while h.value_of(k + 1) <= b:
                    k += 1
                keys.append(k)
            found = self._bound_keys[alpha] = np.array(keys, dtype=np.int64)
        return found

    def index(self, alpha: float, key: int) -> int:
        """The bound index of LogHistogram bucket ``key`` of relative accuracy ``alpha``."""
        return int(np.searchsorted(self.bound_keys(alpha), key, side="left"))

    def counts(self, alpha: float, keys: Sequence[int], counts: Sequence[int]) -> list[int]:
        """Requests per bound (``+Inf`` last) of the buckets ``keys`` with ``counts``."""
        idx = np.searchsorted(self.bound_keys(alpha), np.asarray(keys, dtype=np.int64),
                              side="left")
        per_bound = np.bincount(idx, weights=np.asarray(counts, dtype=np.float64),
                                minlength=len(self.bounds_ms) + 1)
        return [int(c) for c in per_bound.tolist()]  # exact: counts far below 2**53


@dataclass(slots=True)
class ServiceTotals:
    """One service's totals over its live run's windows so far (mutable accumulator)."""

    service: str
    run_id: str
    day: datetime
    buckets: list[int]
    """Requests per bound (not cumulative); the last entry is ``+Inf``."""
    sum_s: float = 0.0
    count: int = 0
    errors: int = 0
    windows: int = 0
    last_second: int = -1
    latest_start: datetime | None = None
    latest_requests: int = 0
    latest_errors: int = 0
    latest_quantiles_s: tuple[float, ...] = field(default_factory=tuple)

    @classmethod
    def empty(cls, service: str, run_id: str, day: datetime, n_bounds: int) -> ServiceTotals:
        """Totals before any window."""
        return cls(service, run_id, day, [0] * (n_bounds + 1))

    def cumulative(self) -> list[int]:
        """Cumulative counts per bound, ``+Inf`` last (equal to ``count``)."""
        out, running = [], 0
        for c in self.buckets:
            running += c
            out.append(running)
        return out


def add_window(totals: ServiceTotals, second: int, data: Mapping[str, Any],
               mapper: BucketMapper) -> None:
    """Fold one stored window (``SecondWindow.to_dict()``) into ``totals``.

    Reads the dict directly (no LogHistogram is built); the buckets of all its request names
    are placed in one NumPy pass per alpha.
    """
    requests = errors = 0
    buckets = totals.buckets
    keys: dict[float, tuple[list[int], list[int]]] = {}
    for req in data.get("requests", {}).values():
        lat = req["latency"]
        buckets[0] += int(lat.get("zero", 0))
        if lat["keys"]:
            ks, cs = keys.setdefault(float(lat["alpha"]), ([], []))
            ks.extend(lat["keys"])
            cs.extend(lat["counts"])
        totals.sum_s += float(lat["sum"]) / 1000.0
        totals.count += int(lat["count"])
        failed = sum(int(v) for v in req.get("errors", {}).values())
        errors += failed
        requests += int(req.get("ok", 0)) + failed
    for alpha, (ks, cs) in keys.items():
        for i, c in enumerate(mapper.counts(alpha, ks, cs)):
            buckets[i] += c
    totals.errors += errors
    totals.windows += 1
    if second > totals.last_second:
        _set_latest(totals, second, requests, errors)


def _set_latest(totals: ServiceTotals, second: int, requests: int, errors: int) -> None:
    totals.last_second = second
    totals.latest_requests, totals.latest_errors = requests, errors
    totals.latest_start = datetime.fromtimestamp(totals.day.timestamp() + second, UTC)
    totals.latest_quantiles_s = ()  # computed once per scrape by set_latest_quantiles


def skip_to(totals: ServiceTotals, second: int, data: Mapping[str, Any]) -> None:
    """Start counting after window ``second`` (``data``), shown as the latest window."""
    errors = requests = 0
    for req in data.get("requests", {}).values():
        failed = sum(int(v) for v in req.get("errors", {}).values())
        errors += failed
        requests += int(req.get("ok", 0)) + failed
    _set_latest(totals, second, requests, errors)
    set_latest_quantiles(totals, data)


def set_latest_quantiles(totals: ServiceTotals, data: Mapping[str, Any]) -> None:
    """The percentiles of the latest window ``data`` (the window ``add_window`` saw last).

    The request names' latency buckets are added with NumPy into one histogram dict, so one
    LogHistogram is built per window rather than two per request name.
    """
    lats = [req["latency"] for req in data.get("requests", {}).values()
            if req["latency"]["count"]]
    alphas = {float(lat["alpha"]) for lat in lats}
    if len(alphas) != 1:  # no requests, or mixed accuracies (never written by intperf)
        totals.latest_quantiles_s = ()
        return
    keys = np.concatenate([np.asarray(lat["keys"], dtype=np.int64) for lat in lats])
    counts = np.concatenate([np.asarray(lat["counts"], dtype=np.int64) for lat in lats])
    unique, where = np.unique(keys, return_inverse=True)
    merged = LogHistogram.from_dict({
        "alpha": alphas.pop(), "count": sum(int(lat["count"]) for lat in lats),
        "sum": sum(float(lat["sum"]) for lat in lats),
        "min": min(float(lat["min"]) for lat in lats),
        "max": max(float(lat["max"]) for lat in lats),
        "zero": sum(int(lat.get("zero", 0)) for lat in lats), "keys": unique.tolist(),
        "counts": np.bincount(where, weights=counts, minlength=unique.size)
        .astype(np.int64).tolist()})
    totals.latest_quantiles_s = tuple(q / 1000.0 for q in merged.quantiles(WINDOW_QUANTILES))


#: Services whose new windows are read with one query (bounded SQL size).
_RUNS_PER_QUERY = 200

T = TypeVar("T")


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _day_start(now: datetime) -> datetime:
    now = now.astimezone(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


class LiveLatency:
    """The in-process accumulator behind the live metrics (one per service process).

    The first :meth:`refresh` starts counting after each service's latest stored window
    (reading a whole day of windows would cost ~0.3 ms each, docs/monitoring.md); services
    and UTC days that appear later are counted from their first window.
    """

    def __init__(self, bounds_s: Sequence[float]) -> None:
        self.bounds_s = tuple(bounds_s)
        self._mapper = BucketMapper(self.bounds_s)
        self._lock = threading.Lock()
        self._totals: dict[str, ServiceTotals] = {}
        self._primed = False

    def refresh(self, db: Database, now: datetime) -> list[ServiceTotals]:
        """Read the windows stored since the last call; the totals of every service today."""
        day = _day_start(now)
        with self._lock:
            current: dict[str, ServiceTotals] = {}
            fresh: list[ServiceTotals] = []
            for run_id, service in self._live_runs(db, day):
                t = self._totals.get(service)
                if t is None or t.run_id != run_id:  # new service, or a new UTC day
                    t = ServiceTotals.empty(service, run_id, day, len(self.bounds_s))
                    fresh.append(t)
                current[service] = t
            if fresh and not self._primed:
                self._skip_history(db, fresh)
            self._fold_new(db, list(current.values()))
            self._totals = current
            self._primed = True
            return [current[s] for s in sorted(current)]

    @staticmethod
    def _skip_history(db: Database, totals: Sequence[ServiceTotals]) -> None:
        by_run = {t.run_id: t for t in totals}
        for chunk in _chunks(list(by_run), _RUNS_PER_QUERY):
            last = (select(RunSecondRow.run_id, func.max(RunSecondRow.second))
                    .where(RunSecondRow.run_id.in_(chunk)).group_by(RunSecondRow.run_id))
            with db.session() as s:
                pairs = [(str(r), int(sec)) for r, sec in s.execute(last)]
                if not pairs:
                    continue
                rows = s.execute(select(RunSecondRow.run_id, RunSecondRow.second,
                                        RunSecondRow.data).where(or_(*(
                    and_(RunSecondRow.run_id == r, RunSecondRow.second == sec)
                    for r, sec in pairs))))
                for run_id, second, data in rows:
                    skip_to(by_run[str(run_id)], int(second), data)

    def _fold_new(self, db: Database, totals: Sequence[ServiceTotals]) -> None:
        """One query per ``_RUNS_PER_QUERY`` services for the windows after each one's last."""
        by_run = {t.run_id: t for t in totals}
        latest: dict[str, Mapping[str, Any]] = {}
        for chunk in _chunks(list(by_run.values()), _RUNS_PER_QUERY):
            q = (select(RunSecondRow.run_id, RunSecondRow.second, RunSecondRow.data)
                 .where(or_(*(and_(RunSecondRow.run_id == t.run_id,
                                   RunSecondRow.second > t.last_second) for t in chunk)))
                 .order_by(RunSecondRow.run_id, RunSecondRow.second))
            with db.session() as s:
                for run_id, second, data in s.execute(q):
                    t = by_run[str(run_id)]
                    before = t.last_second
                    add_window(t, int(second), data, self._mapper)
                    if t.last_second != before:
                        latest[t.run_id] = data
        for run_id, data in latest.items():
            set_latest_quantiles(by_run[run_id], data)

    @staticmethod
    def _live_runs(db: Database, day: datetime) -> list[tuple[str, str]]:
        q = (select(RunRow.id, RunRow.options)
             .where(RunRow.test_type == LIVE_TEST_TYPE, RunRow.started_at == day))
        with db.session() as s:
            return [(run_id, str((options or {}).get("service", "")))
                    for run_id, options in s.execute(q)]


def live_families(totals: Sequence[ServiceTotals], bounds_s: Sequence[float],
                  window_s: float) -> Iterator[Metric]:
    """The live metric families of ``totals`` (pure)."""
    hist = HistogramMetricFamily(
        "intperf_live_response_time_seconds",
        "Response times of the service's requests in the live analytics windows (counted "
        "from the first scrape; resets at UTC midnight)", labels=["service"])
    errors = CounterMetricFamily(
        "intperf_live_errors", "Failed requests of the service in the live analytics windows "
        "(counted from the first scrape; resets at UTC midnight)", labels=["service"])
    windows = CounterMetricFamily(
        "intperf_live_windows", "Closed analytics windows of the service counted (as above)",
        labels=["service"])
    requests = GaugeMetricFamily(
        "intperf_live_requests", "Requests in the service's latest closed window",
        labels=["service"])
    ratio = GaugeMetricFamily(
        "intperf_live_error_ratio", "Failed / all requests in the latest closed window",
        labels=["service"])
    throughput = GaugeMetricFamily(
        "intperf_live_throughput_requests_per_second",
        "Requests per second in the latest closed window", labels=["service"])
    quantiles = GaugeMetricFamily(
        "intperf_live_window_response_time_seconds",
        "Response-time percentiles of the latest closed window (not a summary: one window)",
        labels=["service", "percentile"])
    started = GaugeMetricFamily(
        "intperf_live_window_start_timestamp_seconds",
        "Start of the latest closed window (Unix time)", labels=["service"])
    les = [le_label(b) for b in bounds_s] + ["+Inf"]
    for t in totals:
        hist.add_metric([t.service], list(zip(les, map(float, t.cumulative()), strict=True)),
                        t.sum_s)
        errors.add_metric([t.service], float(t.errors))
        windows.add_metric([t.service], float(t.windows))
        if t.latest_start is None:
            continue
        requests.add_metric([t.service], float(t.latest_requests))
        ratio.add_metric([t.service], t.latest_errors / t.latest_requests
                         if t.latest_requests else 0.0)
        throughput.add_metric([t.service], t.latest_requests / window_s if window_s > 0
                              else 0.0)
        for q, v in zip(WINDOW_QUANTILES, t.latest_quantiles_s, strict=False):
            quantiles.add_metric([t.service, f"{q * 100:g}"], v)
        started.add_metric([t.service], t.latest_start.timestamp())
    yield from (hist, errors, windows, requests, ratio, throughput, quantiles, started)


def le_label(bound_s: float) -> str:
    """A bound's ``le`` label as printed here and read by the rules (``0.5``, ``2.0``):
    rounded to a microsecond as :func:`latency_bounds` rounds it."""
    return repr(float(round(bound_s, 6)))
