"""The cache topology: CACHE_ACCESS events per region in ``cache-window`` tumbling windows
(hit rate, latency) and miss-storm detection on 1-minute panes (docs/MATH.md, section 8).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from intperf.stream.aggregates import CacheStats
from intperf.stream.batch import FLAG_HIT, KIND_CODES, EventBatch
from intperf.stream.events import EventKind
from intperf.stream.topology_base import (
    SNAPSHOT_VERSION,
    AlertBook,
    IdleClock,
    Output,
    Rows,
    TopologyConfig,
    current_rows,
    feeding,
    late_events,
    row_numbers,
    severity_of,
)
from intperf.stream.windows import Tumbling, WindowedAggregation, WindowResult

__all__ = [
    "CacheTopology",
    "CacheWindowResult",
    "EwmaMissStorm",
    "MissStormRule",
    "StormVerdict",
]

CACHE_CODE: Final = KIND_CODES.index(EventKind.CACHE_ACCESS)
NAME: Final = "cache"
STORM: Final = "cache-miss-storm"


class RowCacheStats(CacheStats):
    """CacheStats fed row numbers of the batch being fed (latency = value, hit = flag)."""

    __slots__ = ()

    @staticmethod
    def check_values(values: npt.NDArray[np.float64]) -> None:
        """Values are row numbers; the topology checks the latencies themselves."""

    def record_many(
        self,
        values: npt.NDArray[np.float64] | Sequence[float],
        flags: npt.NDArray[np.bool_] | Sequence[bool] | None = None,
    ) -> None:
        """Add the rows numbered ``values``."""
        rows = current_rows()
        idx = np.asarray(values).astype(np.intp)
        super().record_many(rows.value[idx], None if rows.flag is None else rows.flag[idx])

    def copy(self) -> RowCacheStats:
        """An independent copy."""
        c = RowCacheStats(self.latency.alpha)
        c.merge(self)
        return c

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RowCacheStats:
        """Inverse of :meth:`to_dict`."""
        plain = CacheStats.from_dict(data)
        s = cls(plain.latency.alpha)
        s.merge(plain)
        return s


@dataclass(frozen=True, slots=True)
class CacheWindowResult:
    """A closed cache window of one region; ``storm`` if one of its panes was a miss storm."""

    region: str
    start_ms: int
    end_ms: int
    stats: CacheStats
    storm: bool = False

    @property
    def hit_rate(self) -> float:
        """Hits / accesses."""
        return self.stats.hit_rate

    def to_dict(self) -> dict[str, Any]:
        """JSON-able numbers: counts, hit rate, latency mean and percentiles, storm."""
        return {
            "region": self.region,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            **self.stats.summary(),
            "storm": self.storm,
        }


@dataclass(frozen=True, slots=True)
class StormVerdict:
    """What the rule made of one pane: storm or not, its miss rate, the region's baseline
    miss rate and the miss rate a storm must exceed (None while warming up)."""

    storm: bool
    miss_rate: float
    baseline: float | None = None
    threshold: float | None = None


class MissStormRule(Protocol):
    """Decides, pane by pane and region by region, whether misses storm (a strategy)."""

    def observe(self, region: str, misses: int, count: int) -> StormVerdict:
        """Judge a closed pane, then learn from it."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state."""
        ...

    def restore(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`snapshot`."""
        ...


class EwmaMissStorm:
    """A pane storms when misses > ``min_misses`` and its miss rate > ``factor`` x the
    region's EWMA miss rate (floored at ``rate_floor``), after ``warmup`` panes.

    The EWMA learns from every pane, a storm pane clipped to ``factor`` x baseline, so a
    storm does not teach itself in at once but a lasting change is learnt (docs/MATH.md 8).
    """

    def __init__(
        self,
        min_misses: int = 100,
        factor: float = 3.0,
        alpha: float = 0.1,
        warmup: int = 5,
        rate_floor: float = 0.001,
    ) -> None:
        self.min_misses, self.factor, self.alpha = min_misses, factor, alpha
        self.warmup, self.rate_floor = warmup, rate_floor
        self._state: dict[str, tuple[float, int]] = {}  # region -> (ewma, panes seen)

    def observe(self, region: str, misses: int, count: int) -> StormVerdict:
        """Judge a closed pane of ``count`` accesses (> 0), then update the baseline."""
        rate = misses / count
        state = self._state.get(region)
        if state is None:
            self._state[region] = (rate, 1)
            return StormVerdict(False, rate)
        ewma, panes = state
        base = max(ewma, self.rate_floor)
        ceiling = self.factor * base
        storm = panes >= self.warmup and misses > self.min_misses and rate > ceiling
        learned = min(rate, ceiling)
        self._state[region] = (ewma + self.alpha * (learned - ewma), panes + 1)
        if panes < self.warmup:
            return StormVerdict(False, rate)
        return StormVerdict(storm, rate, ewma, ceiling)

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state: region -> [ewma, panes]."""
        return {r: [e, n] for r, (e, n) in sorted(self._state.items())}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`snapshot`."""
        self._state = {str(r): (float(v[0]), int(v[1])) for r, v in state.items()}


class CacheTopology:
    """CACHE_ACCESS per region: ``cache_window_ms`` windows and ``storm_pane_ms`` panes."""

    name = NAME

    def __init__(self, config: TopologyConfig, rule: MissStormRule | None = None) -> None:
        self.config = config
        alpha = config.histogram_alpha
        self._windows: WindowedAggregation[RowCacheStats] = WindowedAggregation(
            Tumbling(config.cache_window_ms),
            RowCacheStats,
            grace_ms=config.grace_ms,
            factory=lambda: RowCacheStats(alpha),
            max_late_kept=config.max_late_kept,
        )
        self._panes: WindowedAggregation[RowCacheStats] = WindowedAggregation(
            Tumbling(config.storm_pane_ms),
            RowCacheStats,
            grace_ms=config.grace_ms,
            factory=lambda: RowCacheStats(alpha),
            max_late_kept=0,
        )
        self.rule: MissStormRule = rule or EwmaMissStorm(
            config.storm_min_misses,
            config.storm_factor,
            config.storm_ewma_alpha,
            config.storm_warmup_panes,
        )
        self._alerts = AlertBook()
        self._idle = IdleClock(config.idle_timeout_ms)
        self._storms: dict[str, list[int]] = {}  # region -> starts of storm panes not yet emitted
        self._overflow = 0

    def process(self, batch: EventBatch, out: Output) -> None:
        """Feed the CACHE_ACCESS rows of ``batch``."""
        mask = batch.kind == CACHE_CODE
        rows_of = np.flatnonzero(mask)
        if not rows_of.size:
            return
        values = batch.value[rows_of]
        CacheStats.check_values(values)
        self._idle.saw_events()
        rows = Rows(values, flag=(batch.flags[rows_of] & FLAG_HIT) != 0)
        keys, times = batch.subject[rows_of], batch.event_time_ms[rows_of]
        numbers = row_numbers(values.size)
        with feeding(rows):
            panes = self._panes.add_batch(keys, times, numbers, key_names=batch.strings)
            windows = self._windows.add_batch(keys, times, numbers, key_names=batch.strings)
        self._panes.late.take()  # late for a pane: only missed by storm detection
        late = self._windows.late
        if late.kept:
            out.late.extend(late_events(NAME, late.take(), batch, rows_of))
        if late.overflow != self._overflow:
            out.late_not_kept += late.overflow - self._overflow
            self._overflow = late.overflow
        self._emit(panes, windows, out)

    def _emit(
        self,
        panes: list[WindowResult[RowCacheStats]],
        windows: list[WindowResult[RowCacheStats]],
        out: Output,
    ) -> None:
        cfg = self.config
        for p in panes:
            s = p.aggregate
            v = self.rule.observe(p.key, s.misses, s.count)
            if v.storm:
                self._storms.setdefault(p.key, []).append(p.start_ms)
            thr = math.nan if v.threshold is None else v.threshold
            base = "n/a" if v.baseline is None else f"{v.baseline:.2%}"
            self._alerts.judge(
                out,
                kind=STORM,
                key=p.key,
                breached=v.storm,
                severity=severity_of(v.miss_rate, thr, above=True),
                title=f"cache region {p.key}: miss storm, {s.misses:,} misses "
                f"({v.miss_rate:.1%}) in a minute against a usual {base}",
                resolved_title=f"cache region {p.key}: miss rate {v.miss_rate:.1%}, storm over",
                details={
                    "pane_start_ms": p.start_ms,
                    "pane_end_ms": p.end_ms,
                    "accesses": s.count,
                    "misses": s.misses,
                    "observed": v.miss_rate,
                    "baseline": v.baseline,
                    "threshold": v.threshold,
                    "min_misses": cfg.storm_min_misses,
                },
                at_ms=p.end_ms,
            )
        for w in windows:
            starts = self._storms.get(w.key, [])
            storm = any(w.start_ms <= s < w.end_ms for s in starts)
            left = [s for s in starts if s >= w.end_ms]
            if left:
                self._storms[w.key] = left
            else:
                self._storms.pop(w.key, None)
            out.cache.append(CacheWindowResult(w.key, w.start_ms, w.end_ms, w.aggregate, storm))

    def on_wall_clock(self, now_ms: int, out: Output) -> None:
        """Idle flush (the same rule as the response-time topology)."""
        target = self._idle.flush_to(now_ms)
        st = self._windows.stream_time_ms
        if target is None or st is None or st >= target:
            return
        self._emit(self._panes.advance_to(target), self._windows.advance_to(target), out)

    def close_all(self, out: Output) -> None:
        """Emit every open window (open panes are judged first)."""
        self._emit(self._panes.close_all(), self._windows.close_all(), out)

    def snapshot(self) -> dict[str, Any]:
        """JSON-able open state."""
        return {
            "version": SNAPSHOT_VERSION,
            "windows": self._windows.snapshot(),
            "panes": self._panes.snapshot(),
            "rule": self.rule.snapshot(),
            "alerts": self._alerts.snapshot(),
            "storms": {k: list(v) for k, v in sorted(self._storms.items())},
            "overflow": self._overflow,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Load a :meth:`snapshot` into this fresh topology."""
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"snapshot version {state.get('version')!r} is not supported")
        self._windows.restore(state["windows"])
        self._panes.restore(state["panes"])
        self.rule.restore(state["rule"])
        self._alerts.restore(state["alerts"])
        self._storms = {str(k): [int(s) for s in v] for k, v in state["storms"].items()}
        self._overflow = int(state["overflow"])
