"""Breaker events as ``CIRCUIT_BREAKER`` performance events, and Prometheus metrics.

Metric names adapt Resilience4j's Micrometer names (``resilience4j.circuitbreaker.state``,
``resilience4j.circuitbreaker.calls``, ``...not.permitted.calls``) to Prometheus conventions.
The metrics are read from the breakers at scrape time, so the call path pays nothing for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from intperf.resilience.breaker import BreakerEvent, BreakerEventKind, CircuitBreaker, CircuitState
from intperf.sdk.events import circuit_breaker

EventSink = Callable[[Mapping[str, Any]], object]


class BreakerEventForwarder:
    """A breaker listener that sends ``CIRCUIT_BREAKER`` event dicts to ``emit``.

    ``emit`` is typically ``intperf.sdk.EventEmitter.emit``. Every transition is sent at once;
    rejections are summed and sent at most once per ``rejection_interval`` seconds (or with the
    next transition), so an open breaker under load does not flood the event stream.
    """

    def __init__(
        self,
        emit: EventSink,
        service: str,
        *,
        rejection_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._emit = emit
        self.service = service
        self._interval = rejection_interval
        self._clock = clock
        self._wall_ms = wall_ms
        self._pending: dict[str, int] = {}
        self._last_flush: dict[str, float] = {}

    def __call__(self, event: BreakerEvent) -> None:
        """Handle one breaker event."""
        name = event.breaker
        if event.kind is BreakerEventKind.STATE_TRANSITION:
            self._emit(
                circuit_breaker(
                    self.service,
                    name,
                    from_state=event.from_state.value,
                    to_state=event.to_state.value,
                    rejected_calls=self._pending.pop(name, 0),
                    event_time=self._wall_ms(),
                )
            )
            self._last_flush[name] = self._clock()
        elif event.kind is BreakerEventKind.NOT_PERMITTED:
            self._pending[name] = self._pending.get(name, 0) + 1
            now = self._clock()
            if now - self._last_flush.get(name, -float("inf")) >= self._interval:
                self.flush(name, now)

    def flush(self, name: str | None = None, now: float | None = None) -> None:
        """Send the rejections counted so far (of one breaker, or all)."""
        names = [name] if name is not None else list(self._pending)
        now = self._clock() if now is None else now
        for n in names:
            count = self._pending.pop(n, 0)
            if count:
                event = circuit_breaker(
                    self.service, n, rejected_calls=count, event_time=self._wall_ms()
                )
                self._emit(event)
                self._last_flush[n] = now


class BreakerMetrics(Collector):
    """A Prometheus collector over breakers: register it in a (non-global) registry."""

    def __init__(self, breakers: Iterable[CircuitBreaker] = ()) -> None:
        self._breakers: dict[str, CircuitBreaker] = {b.name: b for b in breakers}

    def add(self, breaker: CircuitBreaker) -> None:
        """Report ``breaker`` too (a breaker of the same name is replaced)."""
        self._breakers[breaker.name] = breaker

    def collect(self) -> Iterator[Metric]:
        """The state (one series per state, 1 for the current), calls by kind, rates."""
        state = GaugeMetricFamily(
            "resilience_circuitbreaker_state",
            "Circuit breaker state: 1 for the current state, 0 for the others",
            labels=["name", "state"],
        )
        calls = CounterMetricFamily(
            "resilience_circuitbreaker_calls",
            "Calls seen by the circuit breaker, by outcome",
            labels=["name", "kind"],
        )
        failure_rate = GaugeMetricFamily(
            "resilience_circuitbreaker_failure_rate",
            "Failure rate in percent over the sliding window (-1 below the minimum calls)",
            labels=["name"],
        )
        slow_rate = GaugeMetricFamily(
            "resilience_circuitbreaker_slow_call_rate",
            "Slow-call rate in percent over the sliding window (-1 below the minimum calls)",
            labels=["name"],
        )
        for name, b in sorted(self._breakers.items()):
            current = b.state
            for s in CircuitState:
                state.add_metric([name, s.value.lower()], 1.0 if s is current else 0.0)
            calls.add_metric([name, "successful"], b.successful_calls)
            calls.add_metric([name, "failed"], b.failed_calls)
            calls.add_metric([name, "ignored"], b.ignored_calls)
            calls.add_metric([name, "not_permitted"], b.not_permitted_calls)
            failure_rate.add_metric([name], b.failure_rate)
            slow_rate.add_metric([name], b.slow_call_rate)
        yield from (state, calls, failure_rate, slow_rate)


def register_breaker_metrics(
    registry: CollectorRegistry, breakers: Iterable[CircuitBreaker] = ()
) -> BreakerMetrics:
    """Create a ``BreakerMetrics`` for ``breakers`` and register it in ``registry``."""
    metrics = BreakerMetrics(breakers)
    registry.register(metrics)
    return metrics
