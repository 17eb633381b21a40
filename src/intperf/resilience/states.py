"""The states of a circuit breaker and the events it reports (Resilience4j's names)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


class CircuitState(enum.Enum):
    """The states of Resilience4j's breaker."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"
    DISABLED = "DISABLED"
    FORCED_OPEN = "FORCED_OPEN"
    METRICS_ONLY = "METRICS_ONLY"


class BreakerEventKind(enum.Enum):
    """What an event reports."""

    STATE_TRANSITION = "STATE_TRANSITION"
    NOT_PERMITTED = "NOT_PERMITTED"
    IGNORED_ERROR = "IGNORED_ERROR"
    THRESHOLDS_EXCEEDED = "THRESHOLDS_EXCEEDED"


@dataclass(frozen=True, slots=True)
class BreakerEvent:
    """A transition, a rejection, an ignored error, or (METRICS_ONLY) exceeded thresholds."""

    breaker: str
    kind: BreakerEventKind
    from_state: CircuitState
    to_state: CircuitState
    time: float
    not_permitted_calls: int


EventListener = Callable[[BreakerEvent], None]
