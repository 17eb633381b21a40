"""What every reference topology shares: its configuration, its output, alerts with
de-duplication, the wall-clock idle rule and the row-number trick that keeps late events whole.

User view: docs/stream.md, "Topologies"; contract: docs/internals-stream.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from intperf.store.stream_repository import LateEvent, LiveWindow, SlowQuery
from intperf.stream.batch import EventBatch

if TYPE_CHECKING:
    from intperf.config import Settings
    from intperf.stream.topology_business import BusinessWindowResult
    from intperf.stream.topology_cache import CacheWindowResult

__all__ = [
    "AlertBook",
    "IdleClock",
    "Output",
    "Rows",
    "StreamAlert",
    "Topology",
    "TopologyConfig",
    "current_rows",
    "feeding",
    "row_numbers",
]

SNAPSHOT_VERSION: Final = 1
WARNING: Final = "warning"
CRITICAL: Final = "critical"
INFO: Final = "info"
_SEVERITY_RANK = {INFO: 0, WARNING: 1, CRITICAL: 2}


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


@dataclass(frozen=True, slots=True)
class TopologyConfig:
    """Windows, thresholds and limits of the reference topologies (times in ms)."""

    window_ms: int = 60_000
    """Response-time and business windows (``intperf.stream.window``)."""
    cache_window_ms: int = 300_000
    grace_ms: int = 10_000
    idle_timeout_ms: int = 30_000
    p99_threshold_ms: float = 2000.0
    """``performance.monitoring.alert-thresholds.response-time-99th``."""
    error_rate_threshold: float = 0.05
    throughput_min_rps: float | None = None
    """Alert when a service seen before serves fewer requests/s in a window; None: off."""
    alert_min_requests: int = 10
    """Windows with fewer requests are stored but not judged for p99 and error rate."""
    slow_query_threshold_ms: float = 500.0
    large_result_rows: int = 1000
    storm_pane_ms: int = 60_000
    storm_min_misses: int = 100
    """N: a pane needs more misses than this to be a miss storm."""
    storm_factor: float = 3.0
    """k: ... and a miss rate above k times the region's EWMA miss rate."""
    storm_ewma_alpha: float = 0.1
    storm_warmup_panes: int = 5
    histogram_alpha: float = 0.01
    max_endpoints: int = 500
    """Request names kept apart per service window; the rest are merged as ``(other)``."""
    max_business_names: int = 100
    max_late_kept: int = 10_000
    """Late events kept per processing step (all are counted)."""

    def __post_init__(self) -> None:
        for name in ("window_ms", "cache_window_ms", "storm_pane_ms"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("grace_ms", "idle_timeout_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if not 0.0 < self.storm_ewma_alpha <= 1.0:
            raise ValueError("storm_ewma_alpha must be in (0, 1]")
        if self.cache_window_ms % self.storm_pane_ms:
            raise ValueError("storm_pane_ms must divide cache_window_ms (panes nest in windows)")

    @classmethod
    def from_settings(
        cls, settings: Settings, *, throughput_alerts: bool = False
    ) -> TopologyConfig:
        """Config from ``intperf.stream`` and ``performance.monitoring.alert-thresholds``.

        The throughput alert is opt-in: ``intperf.stream.throughput-alerts`` (or
        ``throughput_alerts=True``) turns on ``throughput-min``.
        """
        s = settings.intperf.stream
        t = settings.performance.monitoring.alert_thresholds
        throughput_alerts = throughput_alerts or s.throughput_alerts
        return cls(
            window_ms=_ms(s.window),
            cache_window_ms=_ms(s.cache_window),
            grace_ms=_ms(s.grace),
            idle_timeout_ms=_ms(s.idle_timeout),
            storm_pane_ms=_ms(s.storm_pane),
            storm_min_misses=s.storm_min_misses,
            storm_factor=s.storm_factor,
            p99_threshold_ms=t.response_time_99th * 1000.0,
            error_rate_threshold=t.error_rate,
            throughput_min_rps=t.throughput_min if throughput_alerts else None,
            slow_query_threshold_ms=s.slow_query_threshold * 1000.0,
            large_result_rows=s.large_result_rows,
        )


@dataclass(frozen=True, slots=True)
class StreamAlert:
    """A threshold crossed (or, with ``resolved``, no longer crossed) by a closed window.

    ``kind`` is ``response-time-p99``, ``error-rate``, ``throughput-min`` or
    ``cache-miss-storm``; ``key`` the service or region; ``at_ms`` the end of the window
    (event time) that decided it; ``details`` holds ``threshold`` and ``observed``.
    """

    kind: str
    severity: str
    key: str
    title: str
    details: dict[str, Any]
    at_ms: int
    resolved: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (for a notifier or a topic)."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "key": self.key,
            "title": self.title,
            "details": dict(self.details),
            "at_ms": self.at_ms,
            "resolved": self.resolved,
        }


@dataclass(slots=True)
class Output:
    """What processing steps produced; the processor stores, publishes and clears it."""

    windows: list[LiveWindow] = field(default_factory=list)
    cache: list[CacheWindowResult] = field(default_factory=list)
    business: list[BusinessWindowResult] = field(default_factory=list)
    late: list[LateEvent] = field(default_factory=list)
    slow: list[SlowQuery] = field(default_factory=list)
    alerts: list[StreamAlert] = field(default_factory=list)
    late_not_kept: int = 0
    """Late events counted but not listed in ``late`` (more than max_late_kept in a step)."""

    def empty(self) -> bool:
        """True when nothing was produced."""
        return not (
            self.windows
            or self.cache
            or self.business
            or self.late
            or self.slow
            or self.alerts
            or self.late_not_kept
        )


class Topology(Protocol):
    """A reference topology: pure, fed batches, emitting to an Output (no I/O)."""

    name: str

    def process(self, batch: EventBatch, out: Output) -> None:
        """Feed a batch (on-time and late events alike; other kinds are ignored)."""
        ...

    def on_wall_clock(self, now_ms: int, out: Output) -> None:
        """Idle flush: close windows of a topology that has gone quiet (docs/stream.md)."""
        ...

    def close_all(self, out: Output) -> None:
        """Final flush at shutdown: emit every open window; no more events afterwards."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """JSON-able open state."""
        ...

    def restore(self, state: Mapping[str, Any]) -> None:
        """Load a snapshot into this fresh topology."""
        ...


# -- rows fed through WindowedAggregation as row numbers ---------------------------------------
# The windowed aggregation passes one value column to its aggregates. The topologies pass row
# numbers instead, and their aggregates read the real columns from the Rows of the batch being
# fed. That keeps the aggregation's grouping and watermark logic, lets an aggregate use several
# columns, and turns each late event back into the exact event it was.


@dataclass(slots=True)
class Rows:
    """Columns of the rows being fed (indexed by the row numbers an aggregate receives)."""

    value: npt.NDArray[np.float64]
    flag: npt.NDArray[np.bool_] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)


_ROWS: ContextVar[Rows] = ContextVar("intperf_stream_rows")


@contextmanager
def feeding(rows: Rows) -> Iterator[Rows]:
    """Make ``rows`` the columns aggregates read while a batch is fed."""
    token = _ROWS.set(rows)
    try:
        yield rows
    finally:
        _ROWS.reset(token)


def current_rows() -> Rows:
    """The rows being fed (only valid inside :func:`feeding`)."""
    return _ROWS.get()


def row_numbers(n: int) -> npt.NDArray[np.float64]:
    """``0.0 .. n-1`` as float64: the values handed to add_batch."""
    return np.arange(n, dtype=np.float64)


def late_events(
    topology: str, kept: list[Any], batch: EventBatch, rows_of: npt.NDArray[np.intp] | None
) -> list[LateEvent]:
    """Late events of a WindowedAggregation (values are row numbers) as stored LateEvents."""
    out: list[LateEvent] = []
    for e in kept:
        row = int(e.value)
        i = row if rows_of is None else int(rows_of[row])
        event = batch.event(i).model_dump(mode="json", exclude_none=True)
        out.append(LateEvent(topology, e.key, e.event_time_ms, e.stream_time_ms, event))
    return out


# -- the wall-clock idle rule -------------------------------------------------------------------


class IdleClock:
    """Says when a topology has been quiet long enough for the idle flush.

    Quiet is measured on the wall clock given to ``on_wall_clock``: from the first tick after
    the last batch that carried events of the topology's kind (or after construction or
    restore), so a backlog replayed after a restart never counts as quiet.
    """

    __slots__ = ("active", "idle_ms", "quiet_since")

    def __init__(self, idle_ms: int) -> None:
        self.idle_ms = idle_ms
        self.active = False
        self.quiet_since: int | None = None

    def saw_events(self) -> None:
        """Events of the topology's kind were processed."""
        self.active = True

    def flush_to(self, now_ms: int) -> int | None:
        """Stream time to advance to (``now - idle``), or None while not quiet long enough."""
        if self.active or self.quiet_since is None:
            self.active = False
            self.quiet_since = now_ms
        if now_ms - self.quiet_since < self.idle_ms:
            return None
        return now_ms - self.idle_ms


# -- alerts -----------------------------------------------------------------------------------


def severity_of(observed: float, threshold: float, *, above: bool) -> str:
    """``critical`` at twice the threshold (half of it for minimums), else ``warning``."""
    if above:
        return CRITICAL if observed >= 2.0 * threshold else WARNING
    return CRITICAL if observed <= 0.5 * threshold else WARNING


class AlertBook:
    """De-duplicates alerts: one per (key, kind) while firing, again only when it escalates,
    and a ``resolved`` alert when a later window of the key is back under the threshold."""

    __slots__ = ("firing",)

    def __init__(self) -> None:
        self.firing: dict[tuple[str, str], str] = {}

    def judge(
        self,
        out: Output,
        *,
        kind: str,
        key: str,
        breached: bool,
        severity: str,
        title: str,
        resolved_title: str,
        details: dict[str, Any],
        at_ms: int,
    ) -> None:
        """Record one window's verdict for (key, kind), emitting an alert on a change."""
        current = self.firing.get((key, kind))
        if breached:
            if current is None or _SEVERITY_RANK[severity] > _SEVERITY_RANK[current]:
                self.firing[(key, kind)] = severity
                out.alerts.append(StreamAlert(kind, severity, key, title, details, at_ms))
        elif current is not None:
            del self.firing[(key, kind)]
            out.alerts.append(
                StreamAlert(kind, INFO, key, resolved_title, details, at_ms, resolved=True)
            )

    def snapshot(self) -> list[list[str]]:
        """JSON-able firing state."""
        return [[k, kind, sev] for (k, kind), sev in sorted(self.firing.items())]

    def restore(self, state: list[list[str]]) -> None:
        """Inverse of :meth:`snapshot`."""
        self.firing = {(str(k), str(kind)): str(sev) for k, kind, sev in state}


def fmt_number(x: float) -> str:
    """A compact number for alert titles (NaN as ``n/a``)."""
    if math.isnan(x):
        return "n/a"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"
