"""The business topology: BUSINESS events per service and minute, every name counted (with
the values' total), orders created and the payment success rate read from them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from intperf.stream.aggregates import CountStats
from intperf.stream.batch import KIND_CODES, EventBatch
from intperf.stream.events import EventKind
from intperf.stream.topology_base import (
    SNAPSHOT_VERSION,
    IdleClock,
    Output,
    Rows,
    TopologyConfig,
    current_rows,
    feeding,
    late_events,
    row_numbers,
)
from intperf.stream.windows import Tumbling, WindowedAggregation, WindowResult

__all__ = [
    "ORDER_CREATED",
    "OTHER_NAMES",
    "PAYMENT_FAILED",
    "PAYMENT_SUCCEEDED",
    "BusinessTopology",
    "BusinessWindowResult",
]

BUSINESS_CODE: Final = KIND_CODES.index(EventKind.BUSINESS)
NAME: Final = "business"
ORDER_CREATED: Final = "order_created"
PAYMENT_SUCCEEDED: Final = "payment_succeeded"
PAYMENT_FAILED: Final = "payment_failed"
#: Name that collects the events beyond a service's ``max_business_names`` names.
OTHER_NAMES: Final = "(other)"
_SEP = "\x00"  # names and services never hold NUL (events.py refuses it)


class RowCountStats(CountStats):
    """CountStats fed row numbers of the batch being fed (value = the business value)."""

    __slots__ = ()

    @staticmethod
    def check_values(values: npt.NDArray[np.float64]) -> None:
        """Values are row numbers; the topology checks the business values themselves."""

    def record_many(
        self,
        values: npt.NDArray[np.float64] | Sequence[float],
        flags: npt.NDArray[np.bool_] | Sequence[bool] | None = None,
    ) -> None:
        """Count the rows numbered ``values``."""
        super().record_many(current_rows().value[np.asarray(values).astype(np.intp)])

    def copy(self) -> RowCountStats:
        """An independent copy."""
        c = RowCountStats()
        c.merge(self)
        return c

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RowCountStats:
        """Inverse of :meth:`to_dict`."""
        c = cls()
        c.merge(CountStats.from_dict(data))
        return c


@dataclass(frozen=True, slots=True)
class BusinessWindowResult:
    """One service's business events in a closed window, by name."""

    service: str
    start_ms: int
    end_ms: int
    metrics: dict[str, CountStats]

    def count(self, name: str) -> int:
        """Events named ``name`` in the window (0 if none)."""
        m = self.metrics.get(name)
        return 0 if m is None else m.count

    @property
    def orders_created(self) -> int:
        """``order_created`` events: orders per window (per minute by default)."""
        return self.count(ORDER_CREATED)

    @property
    def payment_success_rate(self) -> float:
        """succeeded / (succeeded + failed) payments; NaN without payments."""
        ok, failed = self.count(PAYMENT_SUCCEEDED), self.count(PAYMENT_FAILED)
        return ok / (ok + failed) if ok + failed else math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        rate = self.payment_success_rate
        return {
            "service": self.service,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "orders_created": self.orders_created,
            "payment_success_rate": None if math.isnan(rate) else rate,
            "metrics": {n: m.to_dict() for n, m in sorted(self.metrics.items())},
        }


class BusinessTopology:
    """BUSINESS events keyed by (service, name) in ``window_ms`` tumbling windows."""

    name = NAME

    def __init__(self, config: TopologyConfig) -> None:
        self.config = config
        self._agg: WindowedAggregation[RowCountStats] = WindowedAggregation(
            Tumbling(config.window_ms),
            RowCountStats,
            grace_ms=config.grace_ms,
            max_late_kept=config.max_late_kept,
        )
        self._idle = IdleClock(config.idle_timeout_ms)
        self._names: dict[str, set[str]] = {}  # service -> names admitted
        self._overflow = 0

    def _key(self, service: str, name: str) -> str:
        admitted = self._names.setdefault(service, set())
        if name not in admitted:
            if len(admitted) >= self.config.max_business_names:
                name = OTHER_NAMES
            admitted.add(name)
        return f"{service}{_SEP}{name}"

    def process(self, batch: EventBatch, out: Output) -> None:
        """Feed the BUSINESS rows of ``batch``."""
        rows_of = np.flatnonzero(batch.kind == BUSINESS_CODE)
        if not rows_of.size:
            return
        values = batch.value[rows_of]
        CountStats.check_values(values)
        self._idle.saw_events()
        s1 = len(batch.strings)
        code = batch.service[rows_of].astype(np.int64) * s1 + batch.subject[rows_of]
        uniq, ids = np.unique(code, return_inverse=True)
        s = batch.strings
        names = [self._key(s[u // s1], s[u % s1]) for u in uniq.tolist()]
        with feeding(Rows(values)):
            closed = self._agg.add_batch(
                ids.reshape(-1),
                batch.event_time_ms[rows_of],
                row_numbers(values.size),
                key_names=names,
            )
        late = self._agg.late
        if late.kept:
            out.late.extend(
                replace(e, key=e.key.split(_SEP)[0])
                for e in late_events(NAME, late.take(), batch, rows_of)
            )
        if late.overflow != self._overflow:
            out.late_not_kept += late.overflow - self._overflow
            self._overflow = late.overflow
        self._emit(closed, out)

    @staticmethod
    def _emit(closed: list[WindowResult[RowCountStats]], out: Output) -> None:
        groups: dict[tuple[int, str], dict[str, CountStats]] = {}
        ends: dict[tuple[int, str], int] = {}
        for r in closed:
            service, name = r.key.split(_SEP, 1)
            groups.setdefault((r.start_ms, service), {})[name] = r.aggregate
            ends[(r.start_ms, service)] = r.end_ms
        for (start, service), metrics in groups.items():
            out.business.append(
                BusinessWindowResult(service, start, ends[(start, service)], metrics)
            )

    def on_wall_clock(self, now_ms: int, out: Output) -> None:
        """Idle flush (the same rule as the response-time topology)."""
        target = self._idle.flush_to(now_ms)
        st = self._agg.stream_time_ms
        if target is None or st is None or st >= target:
            return
        self._emit(self._agg.advance_to(target), out)

    def close_all(self, out: Output) -> None:
        """Emit every open window."""
        self._emit(self._agg.close_all(), out)

    def snapshot(self) -> dict[str, Any]:
        """JSON-able open state."""
        return {
            "version": SNAPSHOT_VERSION,
            "windows": self._agg.snapshot(),
            "names": {k: sorted(v) for k, v in sorted(self._names.items())},
            "overflow": self._overflow,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Load a :meth:`snapshot` into this fresh topology."""
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"snapshot version {state.get('version')!r} is not supported")
        self._agg.restore(state["windows"])
        self._names = {str(k): {str(n) for n in v} for k, v in state["names"].items()}
        self._overflow = int(state["overflow"])
