"""Builders for performance events as the dicts intperf accepts (docs/events.md).

Every builder stamps ``event_time`` (epoch ms) with the wall clock unless one is given, and
cuts text to the limits the service validates so an event is not refused for its length.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "Event",
    "api_response",
    "business",
    "cache_access",
    "circuit_breaker",
    "database_query",
    "now_ms",
]

Event = dict[str, Any]
"""One event as a JSON-able dict (snake_case keys)."""

#: Limits of the service's event model (intperf.stream.events): longer text is cut, not refused.
MAX_NAME: Final = 200
MAX_QUERY: Final = 8192
AttributeValue = str | int | float


def now_ms() -> int:
    """The wall clock as epoch milliseconds."""
    return time.time_ns() // 1_000_000


def _common(
    kind: str, service: str, event_time: int | None, attributes: Mapping[str, AttributeValue] | None
) -> Event:
    event: Event = {
        "kind": kind,
        "service": service[:MAX_NAME],
        "event_time": now_ms() if event_time is None else event_time,
    }
    if attributes:
        event["attributes"] = dict(attributes)
    return event


def api_response(
    service: str,
    endpoint: str,
    method: str,
    status: int,
    response_time_ms: float,
    *,
    event_time: int | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Event:
    """An ``API_RESPONSE`` event: ``endpoint`` is the route template, not the raw path."""
    event = _common("API_RESPONSE", service, event_time, attributes)
    event["endpoint"] = endpoint[:MAX_NAME]
    event["method"] = method.upper()
    event["status"] = status
    event["response_time_ms"] = float(response_time_ms)
    return event


def database_query(
    service: str,
    query: str,
    execution_time_ms: float,
    *,
    rows: int | None = None,
    fingerprint: str | None = None,
    event_time: int | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Event:
    """A ``DATABASE_QUERY`` event: ``query`` is the statement text, never its parameters."""
    event = _common("DATABASE_QUERY", service, event_time, attributes)
    event["query"] = query[:MAX_QUERY]
    if fingerprint is not None:
        event["fingerprint"] = fingerprint[:MAX_NAME]
    event["execution_time_ms"] = float(execution_time_ms)
    if rows is not None and rows >= 0:
        event["rows"] = rows
    return event


def cache_access(
    service: str,
    region: str,
    hit: bool,
    latency_ms: float = 0.0,
    *,
    event_time: int | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Event:
    """A ``CACHE_ACCESS`` event: one lookup in ``region``."""
    event = _common("CACHE_ACCESS", service, event_time, attributes)
    event["region"] = region[:MAX_NAME]
    event["hit"] = bool(hit)
    event["latency_ms"] = float(latency_ms)
    return event


def circuit_breaker(
    service: str,
    breaker: str,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    rejected_calls: int = 0,
    event_time: int | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Event:
    """A ``CIRCUIT_BREAKER`` event: a state change and/or calls the breaker rejected."""
    event = _common("CIRCUIT_BREAKER", service, event_time, attributes)
    event["breaker"] = breaker[:MAX_NAME]
    if from_state is not None:
        event["from_state"] = from_state.upper()
    if to_state is not None:
        event["to_state"] = to_state.upper()
    event["rejected_calls"] = rejected_calls
    return event


def business(
    service: str,
    name: str,
    value: float | None = None,
    *,
    event_time: int | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Event:
    """A ``BUSINESS`` event such as ``order_created`` (``value``: an amount, optional)."""
    event = _common("BUSINESS", service, event_time, attributes)
    event["name"] = name[:MAX_NAME]
    if value is not None:
        event["value"] = float(value)
    return event
