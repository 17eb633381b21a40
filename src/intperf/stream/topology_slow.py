"""The slow-query topology: DATABASE_QUERY events slower than the threshold, analyzed
(stream/queries.py) into SlowQuery records for storage and the ``slow-queries`` topic.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Final

import numpy as np

from intperf.store.stream_repository import SlowQuery
from intperf.stream.batch import KIND_CODES, EventBatch
from intperf.stream.events import EventKind
from intperf.stream.queries import QueryAnalysis, QueryShape, advice_for, analyze
from intperf.stream.topology_base import SNAPSHOT_VERSION, Output, TopologyConfig

__all__ = ["PlanHint", "SlowQueryTopology", "slow_query_message"]

DB_CODE: Final = KIND_CODES.index(EventKind.DATABASE_QUERY)
NAME: Final = "slow-queries"
#: ``plan_hint(service, normalized)``: an index hint from the service's database, or None.
PlanHint = Callable[[str, str], str | None]
_NO_SHAPE = QueryShape()


def slow_query_message(q: SlowQuery) -> bytes:
    """A SlowQuery as the JSON published to the ``slow-queries`` topic (key: fingerprint)."""
    return json.dumps(
        {
            "service": q.service,
            "fingerprint": q.fingerprint,
            "normalized": q.normalized,
            "execution_time_ms": q.execution_time_ms,
            "event_time_ms": q.event_time_ms,
            "rows": q.rows,
            "advice": list(q.advice),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


class SlowQueryTopology:
    """Every DATABASE_QUERY slower than ``slow_query_threshold_ms`` becomes a SlowQuery.

    The fingerprint is computed from the text when there is one (so equal statements group
    together whoever sent them), else the producer's ``fingerprint`` is used as it is.
    Analyses are cached per text; ``plan_hint`` (run by the processor, which may do I/O in
    it) adds an index hint to the advice.
    """

    name = NAME

    def __init__(
        self, config: TopologyConfig, plan_hint: PlanHint | None = None, cache_size: int = 4096
    ) -> None:
        self.config = config
        self.plan_hint = plan_hint
        self._cache: OrderedDict[str, QueryAnalysis] = OrderedDict()
        self._cache_size = cache_size

    def _analysis(self, text: str) -> QueryAnalysis:
        a = self._cache.get(text)
        if a is None:
            a = self._cache[text] = analyze(text)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(text)
        return a

    def process(self, batch: EventBatch, out: Output) -> None:
        """Analyze the slow DATABASE_QUERY rows of ``batch``."""
        if not len(batch):
            return
        slow = np.flatnonzero(
            (batch.kind == DB_CODE) & (batch.value > self.config.slow_query_threshold_ms)
        )
        s = batch.strings
        large = self.config.large_result_rows
        for i in slow.tolist():
            service = s[int(batch.service[i])]
            t, f = int(batch.text[i]), int(batch.subject[i])
            rows = int(batch.rows[i])
            if t >= 0:
                a = self._analysis(s[t])
                fp, normalized, advice = a.fingerprint, a.normalized, a.advice(rows, large)
                if self.plan_hint is not None and a.shape.statement in (
                    "select",
                    "update",
                    "delete",
                ):
                    hint = self.plan_hint(service, normalized)
                    if hint:
                        advice = (*advice, hint)
            else:
                fp, normalized, advice = s[f], "", advice_for(_NO_SHAPE, rows, large)
            out.slow.append(
                SlowQuery(
                    service,
                    fp,
                    normalized,
                    float(batch.value[i]),
                    int(batch.event_time_ms[i]),
                    rows,
                    advice,
                )
            )

    def on_wall_clock(self, now_ms: int, out: Output) -> None:
        """Nothing is windowed: nothing to flush."""

    def close_all(self, out: Output) -> None:
        """Nothing is windowed: nothing to flush."""

    def snapshot(self) -> dict[str, Any]:
        """No open state (the analysis cache is rebuilt on demand)."""
        return {"version": SNAPSHOT_VERSION}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Check the snapshot's version."""
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"snapshot version {state.get('version')!r} is not supported")
