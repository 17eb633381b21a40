"""``GET /metrics``: the platform's own metrics and the live analytics, Prometheus text format.

Read from the store at each scrape (so a separate ``intperf stream`` process is seen too);
the collectors live in ``intperf.monitor.metrics_*`` and every name is listed in
docs/monitoring.md. Scrape with a viewer key as Bearer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry
from starlette.concurrency import run_in_threadpool

from intperf.monitor.metrics_analytics import analytics_families, read_other_windows
from intperf.monitor.metrics_http import HttpMetrics
from intperf.monitor.metrics_live import (
    LiveLatency,
    ServiceTotals,
    latency_bounds,
    live_families,
)
from intperf.monitor.metrics_platform import (
    PlatformSnapshot,
    RunningRun,
    alerts_firing,
    platform_families,
    read_run_counts,
)
from intperf.resilience.breaker import CircuitBreaker
from intperf.service.auth import Principal, require
from intperf.service.context import ServiceContext
from intperf.store.stream_repository import OtherWindow

router = APIRouter(tags=["metrics"])
#: The classic text format, which every Prometheus 2.x parses (prometheus_client 0.26's
#: CONTENT_TYPE says version=1.0.0, the same bytes for our ASCII names).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Families(Collector):
    """One scrape's metric families, built beforehand."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        """Yield every family."""
        yield from self._families


def live_latency(app: Any, ctx: ServiceContext) -> LiveLatency:
    """The app's live-latency accumulator, made on first use with the configured bounds."""
    acc: LiveLatency | None = getattr(app.state, "live_latency", None)
    if acc is None:
        s = ctx.settings
        acc = LiveLatency(latency_bounds((
            s.performance.monitoring.alert_thresholds.response_time_99th,
            s.intperf.slo.latency_threshold)))
        app.state.live_latency = acc
    return acc


def service_breakers(ctx: ServiceContext) -> list[CircuitBreaker]:
    """The service's own circuit breakers: webhook sinks' and notification channels'."""
    holders: list[Any] = [*getattr(ctx.alerts, "sinks", ()), getattr(ctx, "channels", None)]
    found: list[CircuitBreaker] = []
    for holder in holders:
        breakers = getattr(holder, "breakers", None)
        if isinstance(breakers, Mapping):
            breakers = breakers.values()
        if breakers is None or callable(breakers):
            continue
        found.extend(b for b in breakers if isinstance(b, CircuitBreaker))
    return found


def _processor_stats(ctx: ServiceContext) -> Mapping[str, Any] | None:
    processor = getattr(ctx.stream, "processor", None)
    if processor is None:
        return None
    stats = processor.stats()
    if isinstance(stats, Mapping):
        return stats
    return {k: getattr(stats, k) for k in getattr(stats, "__dataclass_fields__", {})}


@dataclass(frozen=True, slots=True)
class _Stored:
    """What one scrape read from the store."""

    totals: list[ServiceTotals]
    cache: list[OtherWindow]
    business: list[OtherWindow]
    counts: dict[tuple[str, str], int]
    scenarios: dict[str, str]
    firing: dict[str, int] | None


def _read_store(acc: LiveLatency, ctx: ServiceContext, running_ids: list[str]) -> _Stored:
    """Every store read of one scrape (in a worker thread: it may take a while)."""
    totals = acc.refresh(ctx.db, datetime.now(UTC))
    cache, business = read_other_windows(ctx.stream_store)
    counts, scenarios = read_run_counts(ctx.db, running_ids)
    return _Stored(totals, cache, business, counts, scenarios, alerts_firing(ctx.db))


def _render(families: list[Metric]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


@router.get("/metrics", response_class=Response, responses={
    200: {"content": {CONTENT_TYPE: {}},
          "description": "Prometheus text exposition format"}})
async def metrics(
    request: Request, who: Annotated[Principal, Depends(require("viewer"))],
) -> Response:
    """Platform and live analytics metrics in the Prometheus text format (viewer key).

    The state of the event loop's objects (run queue, live figures, breakers, processor) is
    read here; the store reads and the rendering run in a worker thread, so a scrape of many
    services never holds up the API (docs/monitoring.md, "Scrape cost").
    """
    app = request.app
    ctx: ServiceContext = app.state.ctx
    acc = live_latency(app, ctx)
    running_ids = ctx.executor.active
    live = {r: dict(ctx.executor.live.get(r, {})) for r in running_ids}
    queued, breakers, processor = ctx.executor.queued, service_breakers(ctx), \
        _processor_stats(ctx)
    stored = await run_in_threadpool(_read_store, acc, ctx, running_ids)
    limits = ctx.settings.intperf.limits
    snap = PlatformSnapshot(
        runs_by_status=stored.counts, queued=queued, slots=limits.max_concurrent_runs,
        queue_capacity=limits.max_queued_runs,
        running=[RunningRun(r, stored.scenarios.get(r, ""), live[r]) for r in running_ids],
        breakers=breakers, alerts_firing=stored.firing)
    families = [*platform_families(snap),
                *live_families(stored.totals, acc.bounds_s, ctx.settings.intperf.stream.window),
                *analytics_families(stored.cache, stored.business, processor)]
    http: HttpMetrics | None = getattr(app.state, "http_metrics", None)
    if http is not None:
        families.extend(http.collect())
    return Response(await run_in_threadpool(_render, families), media_type=CONTENT_TYPE)
