"""The response-time topology: API_RESPONSE events per service in tumbling windows, one
LiveWindow per closed window (a RequestWindow per request name) and threshold alerts.

Semantics: docs/stream.md, "Topologies"; contract: docs/internals-stream.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from intperf.loadtest.results import RequestWindow, SecondWindow
from intperf.store.stream_repository import LiveWindow
from intperf.stream.aggregates import LatencyStats
from intperf.stream.batch import FLAG_ERROR, KIND_CODES, EventBatch
from intperf.stream.events import EventKind
from intperf.stream.topology_base import (
    SNAPSHOT_VERSION,
    AlertBook,
    IdleClock,
    Output,
    Rows,
    TopologyConfig,
    feeding,
    fmt_number,
    late_events,
    row_numbers,
    severity_of,
)
from intperf.stream.topology_endpoints import (
    FLAGGED,
    HTTP_5XX,
    EndpointStats,
    bucket_indexes,
    inverse_log_gamma,
)
from intperf.stream.windows import Tumbling, WindowedAggregation, WindowResult

__all__ = ["ResponseTimeSummary", "ResponseTimeTopology", "request_name", "summarize"]

API_CODE: Final = KIND_CODES.index(EventKind.API_RESPONSE)
NAME: Final = "response-time"
_DAY_MS = 86_400_000
_DENSE_CODES = 1 << 16  # (method, endpoint) codes looked up densely up to this many
#: Request names remembered by a topology before its registry starts over.
MAX_REQUEST_IDS: Final = 100_000


def request_name(method: str | None, endpoint: str | None) -> str:
    """``"GET /api/orders/{id}"``: how a request is named in windows (as in load tests)."""
    ep = endpoint if endpoint is not None else "(unknown)"
    return f"{method} {ep}" if method else ep


@dataclass(frozen=True, slots=True)
class ResponseTimeSummary:
    """The numbers of one service window: count, mean, p50/p95/p99 (ms), error rate, rps."""

    service: str
    start_ms: int
    end_ms: int
    count: int
    errors: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def error_rate(self) -> float:
        """Failed requests / requests (NaN when empty)."""
        return self.errors / self.count if self.count else math.nan

    @property
    def throughput_rps(self) -> float:
        """Requests per second over the window."""
        return self.count * 1000.0 / (self.end_ms - self.start_ms)


def summarize(window: LiveWindow, window_ms: int) -> ResponseTimeSummary:
    """The service-level numbers of a LiveWindow (its request windows merged)."""
    merged = RequestWindow()
    for w in window.window.requests.values():
        merged.merge(w)
    h = merged.latency
    p50, p95, p99 = h.quantiles((0.5, 0.95, 0.99))
    return ResponseTimeSummary(
        window.service,
        window.start_ms,
        window.start_ms + window_ms,
        merged.requests,
        merged.failed,
        h.mean,
        p50,
        p95,
        p99,
    )


class ResponseTimeTopology:
    """API_RESPONSE by service in ``window_ms`` tumbling windows with ``grace_ms``.

    Errors are server failures: status >= 500 (class ``http_5xx``) or flagged by the producer
    (class ``other``). A 4xx is the client's fault and counts as served (``ok``).
    """

    name = NAME

    def __init__(self, config: TopologyConfig) -> None:
        self.config = config
        alpha, cap = config.histogram_alpha, config.max_endpoints
        self._agg: WindowedAggregation[EndpointStats] = WindowedAggregation(
            Tumbling(config.window_ms),
            EndpointStats,
            grace_ms=config.grace_ms,
            factory=lambda: EndpointStats(alpha, cap),
            max_late_kept=config.max_late_kept,
        )
        self._inv_log_gamma = inverse_log_gamma(alpha)
        self._alerts = AlertBook()
        self._idle = IdleClock(config.idle_timeout_ms)
        self._known: dict[str, int] = {}  # service -> start of its latest window with requests
        self._checked_through: int | None = None  # latest window start judged for throughput
        self._overflow = 0
        self._request_ids: dict[str, int] = {}
        self._request_names: list[str] = []
        self._generation = 0

    # -- feeding -------------------------------------------------------------------------------
    def process(self, batch: EventBatch, out: Output) -> None:
        """Feed the API_RESPONSE rows of ``batch``."""
        if not len(batch):
            return
        api = batch.kind == API_CODE
        rows_of: npt.NDArray[np.intp] | None = None
        if not bool(api.all()):
            rows_of = np.flatnonzero(api)
            if not rows_of.size:
                return

        def col(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
            return a if rows_of is None else a[rows_of]

        values = col(batch.value)
        LatencyStats.check_values(values)
        self._idle.saw_events()
        request, names = self._requests(batch, col(batch.text), col(batch.subject))
        klass = np.where(col(batch.status) >= 500, HTTP_5XX, 0).astype(np.int8)
        flagged = (col(batch.flags) & FLAG_ERROR) != 0
        klass[flagged & (klass == 0)] = FLAGGED
        bucket, zero = bucket_indexes(values, self._inv_log_gamma)
        rows = Rows(
            values,
            extra={
                "request": request,
                "generation": self._generation,
                "bucket": bucket,
                "zero": zero,
                "klass": klass if bool(klass.any()) else None,
            },
            names=names,
        )
        with feeding(rows):
            closed = self._agg.add_batch(
                col(batch.service),
                col(batch.event_time_ms),
                row_numbers(values.size),
                key_names=batch.strings,
            )
        self._take_late(batch, rows_of, out)
        self._emit(closed, out, judge_throughput=True)

    def _requests(
        self, batch: EventBatch, text: npt.NDArray[np.int32], subject: npt.NDArray[np.int32]
    ) -> tuple[npt.NDArray[np.int64], list[str]]:
        """Per row a request id (method + endpoint) into the returned registry of names.

        Ids stay valid across batches within one generation; the registry starts over (a
        new generation) when it grows past MAX_REQUEST_IDS names.
        """
        s1 = len(batch.strings) + 1
        code = (text.astype(np.int64) + 1) * s1 + (subject.astype(np.int64) + 1)
        if s1 * s1 <= _DENSE_CODES:
            present = np.zeros(s1 * s1, np.bool_)
            present[code] = True
            uniq = np.flatnonzero(present)
            lut = np.zeros(s1 * s1, np.int64)
        else:
            uniq = np.unique(code)
            lut = None
        if len(self._request_names) + uniq.size > MAX_REQUEST_IDS:
            self._request_ids, self._request_names = {}, []
            self._generation += 1
        ids, names, s = self._request_ids, self._request_names, batch.strings
        gids = []
        for u in uniq.tolist():
            t, e = divmod(u, s1)
            name = request_name(s[t - 1] if t else None, s[e - 1] if e else None)
            gid = ids.get(name)
            if gid is None:
                gid = ids[name] = len(names)
                names.append(name)
            gids.append(gid)
        if lut is not None:
            lut[uniq] = gids
            return lut[code], names
        return np.asarray(gids, np.int64)[np.searchsorted(uniq, code)], names

    def _take_late(
        self, batch: EventBatch, rows_of: npt.NDArray[np.intp] | None, out: Output
    ) -> None:
        late = self._agg.late
        if late.kept:
            out.late.extend(late_events(NAME, late.take(), batch, rows_of))
        if late.overflow != self._overflow:
            out.late_not_kept += late.overflow - self._overflow
            self._overflow = late.overflow

    # -- results and alerts ----------------------------------------------------------------------
    def _emit(
        self, closed: list[WindowResult[EndpointStats]], out: Output, *, judge_throughput: bool
    ) -> None:
        silent = judge_throughput and self.config.throughput_min_rps is not None
        present: set[str] = set()
        current: int | None = None
        for r in closed:  # by end, then start: the services of one window start together
            if silent and current is not None and r.start_ms != current:
                self._silent(current, present, out)
                present = set()
            current = r.start_ms
            sw = SecondWindow(
                second=r.start_ms % _DAY_MS // 1000, requests=r.aggregate.request_windows()
            )
            out.windows.append(LiveWindow(r.key, r.start_ms, sw))
            self._judge(
                r.key,
                r.start_ms,
                r.end_ms,
                r.aggregate.total_stats(),
                out,
                judge_throughput=judge_throughput,
            )
            present.add(r.key)
        if silent and current is not None:
            self._silent(current, present, out)

    def _judge(
        self,
        service: str,
        start: int,
        end: int,
        stats: LatencyStats,
        out: Output,
        *,
        judge_throughput: bool,
    ) -> None:
        cfg = self.config
        n = stats.count
        base = {"window_start_ms": start, "window_end_ms": end, "requests": n}
        if n >= cfg.alert_min_requests:
            p99, thr = stats.p99, cfg.p99_threshold_ms
            self._alerts.judge(
                out,
                kind="response-time-p99",
                key=service,
                breached=p99 > thr,
                severity=severity_of(p99, thr, above=True),
                title=f"{service}: p99 response time {fmt_number(p99)} ms over "
                f"{fmt_number(thr)} ms",
                resolved_title=f"{service}: p99 response time {fmt_number(p99)} ms, back "
                f"under {fmt_number(thr)} ms",
                details={**base, "threshold": thr, "observed": p99},
                at_ms=end,
            )
            rate, thr = stats.error_rate, cfg.error_rate_threshold
            self._alerts.judge(
                out,
                kind="error-rate",
                key=service,
                breached=rate > thr,
                severity=severity_of(rate, thr, above=True),
                title=f"{service}: error rate {rate:.2%} over {thr:.2%}",
                resolved_title=f"{service}: error rate {rate:.2%}, back under {thr:.2%}",
                details={**base, "threshold": thr, "observed": rate, "errors": stats.errors},
                at_ms=end,
            )
        if judge_throughput and service in self._known:
            self._judge_throughput(service, start, end, n, out)
        if service not in self._known or self._known[service] < start:
            self._known[service] = start

    def _judge_throughput(self, service: str, start: int, end: int, n: int, out: Output) -> None:
        thr = self.config.throughput_min_rps
        if thr is None:
            return
        rps = n * 1000.0 / (end - start)
        self._alerts.judge(
            out,
            kind="throughput-min",
            key=service,
            breached=rps < thr,
            severity=severity_of(rps, thr, above=False),
            title=f"{service}: throughput {fmt_number(rps)} req/s under {fmt_number(thr)}",
            resolved_title=f"{service}: throughput {fmt_number(rps)} req/s, back over "
            f"{fmt_number(thr)}",
            details={
                "window_start_ms": start,
                "window_end_ms": end,
                "requests": n,
                "threshold": thr,
                "observed": rps,
            },
            at_ms=end,
        )

    def _silent(self, start: int, present: set[str], out: Output) -> None:
        """Services seen before that had no request in the closed window at ``start``."""
        if self._checked_through is not None and start <= self._checked_through:
            return
        self._checked_through = start
        end = start + self.config.window_ms
        for service, last in sorted(self._known.items()):
            if service not in present and last < start:
                self._judge_throughput(service, start, end, 0, out)

    # -- time --------------------------------------------------------------------------------------
    def on_wall_clock(self, now_ms: int, out: Output) -> None:
        """Idle flush: after ``idle_timeout`` without events, close windows whose end + grace
        is more than ``idle_timeout`` behind ``now_ms``."""
        target = self._idle.flush_to(now_ms)
        st = self._agg.stream_time_ms
        if target is None or st is None or st >= target:
            return
        self._emit(self._agg.advance_to(target), out, judge_throughput=True)
        if self.config.throughput_min_rps is not None:
            size = self.config.window_ms
            last = (target - self.config.grace_ms - size) // size * size
            self._silent(last, set(), out)

    def close_all(self, out: Output) -> None:
        """Emit every open window (throughput is not judged: the windows are partial)."""
        self._emit(self._agg.close_all(), out, judge_throughput=False)

    # -- checkpoints ---------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """JSON-able open state: windows, firing alerts, services seen."""
        return {
            "version": SNAPSHOT_VERSION,
            "windows": self._agg.snapshot(),
            "alerts": self._alerts.snapshot(),
            "known": dict(self._known),
            "checked_through": self._checked_through,
            "overflow": self._overflow,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Load a :meth:`snapshot` into this fresh topology."""
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"snapshot version {state.get('version')!r} is not supported")
        self._agg.restore(state["windows"])
        self._alerts.restore(state["alerts"])
        self._known = {str(k): int(v) for k, v in state["known"].items()}
        ct = state["checked_through"]
        self._checked_through = None if ct is None else int(ct)
        self._overflow = int(state["overflow"])
