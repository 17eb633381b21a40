"""``GET /metrics``: the live analytics as Prometheus metrics (docs/stream.md, "Metrics").

Read from the store at each scrape (so a separate ``intperf stream`` process is seen too):
each service's latest closed response-time window, each cache region's and each service's
latest business window, and the embedded processor's counters. Names follow Prometheus'
conventions (base units: seconds, ratios 0-1, ``_total`` for counters). The platform's own
metrics and latency histograms are the monitoring issue's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from intperf.loadtest.results import RequestWindow
from intperf.service.auth import Principal, require
from intperf.service.context import ServiceContext
from intperf.store.stream_repository import LiveService, OtherWindow, live_services

router = APIRouter(tags=["metrics"])
QUANTILES = (0.5, 0.95, 0.99)
#: Cache and business windows read per scrape (the newest per key among them are shown).
RECENT_WINDOWS = 500


def _latest_per_key(rows: Iterable[OtherWindow]) -> list[OtherWindow]:
    seen: dict[str, OtherWindow] = {}
    for r in rows:  # newest first
        seen.setdefault(r.key, r)
    return [seen[k] for k in sorted(seen)]


class _Snapshot(Collector):
    """One scrape's metrics, computed from what was read beforehand."""

    def __init__(self, services: list[LiveService], cache: list[OtherWindow],
                 business: list[OtherWindow], stats: Mapping[str, Any] | None) -> None:
        self._services = services
        self._cache = cache
        self._business = business
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        """Yield every metric family."""
        yield from self._service_metrics()
        yield from self._cache_metrics()
        yield from self._business_metrics()
        yield from self._processor_metrics()

    def _service_metrics(self) -> Iterator[Metric]:
        requests = GaugeMetricFamily(
            "intperf_live_requests", "Requests in the service's latest closed window",
            labels=["service"])
        errors = GaugeMetricFamily(
            "intperf_live_error_ratio", "Failed / all requests in the latest closed window",
            labels=["service"])
        latency = GaugeMetricFamily(
            "intperf_live_response_time_seconds",
            "Response-time quantiles of the latest closed window", labels=["service", "quantile"])
        started = GaugeMetricFamily(
            "intperf_live_window_start_timestamp_seconds",
            "Start of the latest closed window (Unix time)", labels=["service"])
        for s in self._services:
            if s.latest is None or s.latest_start is None:
                continue
            merged = RequestWindow()
            for w in s.latest.requests.values():
                merged.merge(w)
            requests.add_metric([s.service], merged.requests)
            errors.add_metric([s.service], merged.failed / merged.requests
                              if merged.requests else 0.0)
            if merged.latency.count:
                for q in QUANTILES:
                    latency.add_metric([s.service, f"{q:g}"], merged.latency.quantile(q) / 1000)
            started.add_metric([s.service], s.latest_start.timestamp())
        yield from (requests, errors, latency, started)

    def _cache_metrics(self) -> Iterator[Metric]:
        hit = GaugeMetricFamily("intperf_cache_hit_ratio",
                                "Hits / accesses in the region's latest closed window",
                                labels=["region"])
        accesses = GaugeMetricFamily("intperf_cache_accesses",
                                     "Accesses in the region's latest closed window",
                                     labels=["region"])
        storm = GaugeMetricFamily("intperf_cache_miss_storm",
                                  "1 when the latest closed window held a miss storm",
                                  labels=["region"])
        for w in self._cache:
            d = w.data
            if isinstance(d.get("hit_rate"), int | float) and not math.isnan(d["hit_rate"]):
                hit.add_metric([w.key], float(d["hit_rate"]))
            if isinstance(d.get("count"), int):
                accesses.add_metric([w.key], d["count"])
            storm.add_metric([w.key], 1.0 if d.get("storm") else 0.0)
        yield from (hit, accesses, storm)

    def _business_metrics(self) -> Iterator[Metric]:
        orders = GaugeMetricFamily("intperf_business_orders_created",
                                   "order_created events in the latest closed window",
                                   labels=["service"])
        payments = GaugeMetricFamily(
            "intperf_business_payment_success_ratio",
            "payment_succeeded / (succeeded + failed) in the latest closed window",
            labels=["service"])
        for w in self._business:
            orders.add_metric([w.key], float(w.data.get("orders_created") or 0))
            rate = w.data.get("payment_success_rate")
            if isinstance(rate, int | float):
                payments.add_metric([w.key], float(rate))
        yield from (orders, payments)

    def _processor_metrics(self) -> Iterator[Metric]:
        if not self._stats:
            return
        names = {"records": "Records read from the bus",
                 "events": "Events processed", "dead_letters": "Events refused",
                 "late_events": "Events later than their windows",
                 "windows_stored": "Response-time windows stored",
                 "alerts": "Alerts raised"}
        for key, help_text in names.items():
            value = self._stats.get(key)
            if isinstance(value, int | float):
                c = CounterMetricFamily(f"intperf_stream_{key}", help_text)
                c.add_metric([], float(value))
                yield c


def _read(ctx: ServiceContext) -> tuple[list[LiveService], list[OtherWindow],
                                         list[OtherWindow]]:
    services = live_services(ctx.db, datetime.now(UTC))
    cache = _latest_per_key(ctx.stream_store.other_windows("cache", limit=RECENT_WINDOWS))
    business = _latest_per_key(ctx.stream_store.other_windows("business",
                                                              limit=RECENT_WINDOWS))
    return services, cache, business


def _processor_stats(ctx: ServiceContext) -> Mapping[str, Any] | None:
    processor = getattr(ctx.stream, "processor", None)
    if processor is None:
        return None
    stats = processor.stats()
    if isinstance(stats, Mapping):
        return stats
    return {k: getattr(stats, k) for k in getattr(stats, "__dataclass_fields__", {})}


@router.get("/metrics", response_class=Response, responses={
    200: {"content": {CONTENT_TYPE_LATEST: {}},
          "description": "Prometheus text exposition format"}})
async def metrics(
    request: Request, who: Annotated[Principal, Depends(require("viewer"))],
) -> Response:
    """Live analytics in the Prometheus text format (scrape with a viewer key as Bearer)."""
    ctx: ServiceContext = request.app.state.ctx
    services, cache, business = await ctx.read(_read, ctx)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(services, cache, business, _processor_stats(ctx)))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
