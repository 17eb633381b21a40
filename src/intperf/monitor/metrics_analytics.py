"""Cache, business and stream-processor metrics of the live analytics (latest closed windows).

Moved from ``service/metrics.py`` with the same names (docs/stream.md, "Metrics").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from intperf.store.stream_repository import OtherWindow, StreamRepository

__all__ = ["RECENT_WINDOWS", "analytics_families", "latest_per_key", "read_other_windows"]

#: Cache and business windows read per scrape (the newest per key among them are shown).
RECENT_WINDOWS = 500

_PROCESSOR = {"records": "Records read from the bus",
              "events": "Events processed", "dead_letters": "Events refused",
              "late_events": "Events later than their windows",
              "windows_stored": "Response-time windows stored",
              "alerts": "Alerts raised"}


def latest_per_key(rows: Iterable[OtherWindow]) -> list[OtherWindow]:
    """The newest window of each key (``rows`` newest first), sorted by key."""
    seen: dict[str, OtherWindow] = {}
    for r in rows:
        seen.setdefault(r.key, r)
    return [seen[k] for k in sorted(seen)]


def read_other_windows(store: StreamRepository) -> tuple[list[OtherWindow], list[OtherWindow]]:
    """The latest cache window per region and business window per service."""
    cache = latest_per_key(store.other_windows("cache", limit=RECENT_WINDOWS))
    business = latest_per_key(store.other_windows("business", limit=RECENT_WINDOWS))
    return cache, business


def analytics_families(cache: Iterable[OtherWindow], business: Iterable[OtherWindow],
                       processor: Mapping[str, Any] | None) -> Iterator[Metric]:
    """Cache, business and processor families (pure)."""
    yield from _cache(cache)
    yield from _business(business)
    yield from _processor(processor)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def _cache(windows: Iterable[OtherWindow]) -> Iterator[Metric]:
    hit = GaugeMetricFamily("intperf_cache_hit_ratio",
                            "Hits / accesses in the region's latest closed window",
                            labels=["region"])
    accesses = GaugeMetricFamily("intperf_cache_accesses",
                                 "Accesses in the region's latest closed window",
                                 labels=["region"])
    misses = GaugeMetricFamily("intperf_cache_misses",
                               "Misses in the region's latest closed window", labels=["region"])
    storm = GaugeMetricFamily("intperf_cache_miss_storm",
                              "1 when the latest closed window held a miss storm",
                              labels=["region"])
    for w in windows:
        d = w.data
        rate = _number(d.get("hit_rate"))
        if rate is not None:
            hit.add_metric([w.key], rate)
        if isinstance(d.get("count"), int):
            accesses.add_metric([w.key], d["count"])
        if isinstance(d.get("misses"), int):
            misses.add_metric([w.key], d["misses"])
        storm.add_metric([w.key], 1.0 if d.get("storm") else 0.0)
    yield from (hit, accesses, misses, storm)


def _business(windows: Iterable[OtherWindow]) -> Iterator[Metric]:
    orders = GaugeMetricFamily("intperf_business_orders_created",
                               "order_created events in the latest closed window",
                               labels=["service"])
    payments = GaugeMetricFamily(
        "intperf_business_payment_success_ratio",
        "payment_succeeded / (succeeded + failed) in the latest closed window",
        labels=["service"])
    events = GaugeMetricFamily(
        "intperf_business_events", "Business events by name in the latest closed window",
        labels=["service", "name"])
    for w in windows:
        orders.add_metric([w.key], float(w.data.get("orders_created") or 0))
        rate = _number(w.data.get("payment_success_rate"))
        if rate is not None:
            payments.add_metric([w.key], rate)
        metrics = w.data.get("metrics")
        if isinstance(metrics, Mapping):
            for name, stats in sorted(metrics.items()):
                count = stats.get("count") if isinstance(stats, Mapping) else None
                if isinstance(count, int):
                    events.add_metric([w.key, str(name)], float(count))
    yield from (orders, payments, events)


def _processor(stats: Mapping[str, Any] | None) -> Iterator[Metric]:
    if not stats:
        return
    for key, help_text in _PROCESSOR.items():
        value = _number(stats.get(key))
        if value is not None:
            c = CounterMetricFamily(f"intperf_stream_{key}", help_text)
            c.add_metric([], value)
            yield c
