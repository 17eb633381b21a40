"""Per-region cache measurements: plain counters always, Prometheus metrics when given a
registry, and sampled ``CACHE_ACCESS`` events when given an SDK emitter."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from intperf.sdk.emitter import EventEmitter

__all__ = ["CacheCounts", "RegionMetrics"]

Outcome = Literal["l1", "l2", "miss"]


@dataclass(slots=True)
class CacheCounts:
    """Counts of one region since its cache was made."""

    hits_l1: int = 0
    hits_l2: int = 0
    misses: int = 0
    loads: int = 0
    load_errors: int = 0
    backend_errors: int = 0
    stale_served: int = 0
    early_refreshes: int = 0
    lock_waits: int = 0
    load_seconds: float = 0.0


class RegionMetrics:
    """Records lookups and loads of one region.

    Prometheus metrics (``intperf_cache_*`` with a ``region`` label) are registered in
    ``registry`` when one is given; ``CACHE_ACCESS`` events go to ``emitter`` for a
    ``sample_rate`` fraction of lookups (1.0: all) so a hot L1 stays cheap.
    """

    def __init__(
        self,
        region: str,
        *,
        registry: CollectorRegistry | None = None,
        emitter: EventEmitter | None = None,
        service: str = "intperf-cache",
        sample_rate: float = 0.01,
    ) -> None:
        self.region = region
        self.counts = CacheCounts()
        self._emitter = emitter
        self._service = service
        self._sample_rate = sample_rate
        self._prom: _Prometheus | None = _Prometheus(region, registry) if registry else None
        #: Whether lookups need their latency (Prometheus or events); when not, the cache's
        #: hot path skips the two clock reads and only counts.
        self.timed = self._prom is not None or emitter is not None

    def lookup(self, outcome: Outcome, latency_s: float) -> None:
        """One lookup answered from L1, L2, or not at all."""
        c = self.counts
        if outcome == "l1":
            c.hits_l1 += 1
        elif outcome == "l2":
            c.hits_l2 += 1
        else:
            c.misses += 1
        if self._prom is not None:
            self._prom.lookup(outcome, latency_s)
        if self._emitter is not None and (
            self._sample_rate >= 1.0 or random.random() < self._sample_rate
        ):
            from intperf.sdk.events import cache_access

            self._emitter.emit(
                cache_access(self._service, self.region, outcome != "miss", latency_s * 1000.0,
                             attributes={"level": outcome, "sample_rate": self._sample_rate})
            )

    def load(self, seconds: float, *, failed: bool = False) -> None:
        """One loader call."""
        self.counts.loads += 1
        self.counts.load_seconds += seconds
        if failed:
            self.counts.load_errors += 1
        if self._prom is not None:
            self._prom.load(seconds, failed)

    def backend_error(self) -> None:
        """One Redis failure."""
        self.counts.backend_errors += 1
        if self._prom is not None:
            self._prom.errors.labels(self.region, "backend").inc()

    def evictions(self, total: int) -> None:
        """The L1's eviction count so far (monotonic)."""
        if self._prom is not None:
            self._prom.set_evictions(total)


class _Prometheus:
    def __init__(self, region: str, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Histogram

        self.region = region
        self.lookups = Counter("intperf_cache_lookups", "Cache lookups by outcome",
                               ["region", "outcome"], registry=registry)
        self.latency = Histogram("intperf_cache_lookup_seconds", "Cache lookup latency",
                                 ["region"], registry=registry,
                                 buckets=(1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1.0))
        self.loads = Histogram("intperf_cache_load_seconds", "Loader (regeneration) latency",
                               ["region"], registry=registry)
        self.errors = Counter("intperf_cache_errors", "Cache errors by kind",
                              ["region", "kind"], registry=registry)
        self.evictions = Counter("intperf_cache_evictions", "L1 evictions", ["region"],
                                 registry=registry)
        self._evicted = 0

    def lookup(self, outcome: str, latency_s: float) -> None:
        self.lookups.labels(self.region, outcome).inc()
        self.latency.labels(self.region).observe(latency_s)

    def load(self, seconds: float, failed: bool) -> None:
        self.loads.labels(self.region).observe(seconds)
        if failed:
            self.errors.labels(self.region, "loader").inc()

    def set_evictions(self, total: int) -> None:
        if total > self._evicted:
            self.evictions.labels(self.region).inc(total - self._evicted)
            self._evicted = total
