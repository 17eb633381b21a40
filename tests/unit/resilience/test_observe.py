"""Breaker transitions as CIRCUIT_BREAKER events, and the Prometheus collector."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from intperf.resilience import CircuitBreaker, CircuitBreakerConfig
from intperf.resilience.observe import BreakerEventForwarder, register_breaker_metrics
from intperf.stream.events import CircuitBreakerEvent


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_transitions_and_coalesced_rejections_become_valid_events() -> None:
    clock = Clock()
    sent: list[Mapping[str, Any]] = []
    fwd = BreakerEventForwarder(sent.append, "shop", clock=clock, wall_ms=lambda: 1_700_000_000_000)
    b = CircuitBreaker(
        "payments",
        CircuitBreakerConfig(sliding_window_size=1, minimum_number_of_calls=1),
        clock=clock,
        on_event=fwd,
    )
    b.on_error(0.1, OSError())
    for _ in range(5):
        assert not b.try_acquire_permission()
    clock.now = 2.0
    assert not b.try_acquire_permission()
    fwd.flush()
    assert [e.get("to_state") for e in sent] == ["OPEN", None]
    assert [e["rejected_calls"] for e in sent] == [
        0,
        6,
    ]  # rejections within 1 s of the transition are summed
    for e in sent:
        parsed = CircuitBreakerEvent.model_validate(dict(e))
        assert parsed.breaker == "payments"
    assert sent[0]["from_state"] == "CLOSED"
    assert sent[0]["service"] == "shop"


def test_prometheus_metrics() -> None:
    clock = Clock()
    registry = CollectorRegistry()
    b = CircuitBreaker(
        "db",
        CircuitBreakerConfig(sliding_window_size=2, minimum_number_of_calls=2),
        clock=clock,
    )
    register_breaker_metrics(registry, [b])
    b.on_success(0.1)
    b.on_error(0.1, OSError())
    b.try_acquire_permission()
    text = generate_latest(registry).decode()
    assert 'resilience_circuitbreaker_state{name="db",state="open"} 1.0' in text
    assert 'resilience_circuitbreaker_calls_total{kind="failed",name="db"} 1.0' in text
    assert 'resilience_circuitbreaker_calls_total{kind="not_permitted",name="db"} 1.0' in text
    assert 'resilience_circuitbreaker_failure_rate{name="db"} 50.0' in text
