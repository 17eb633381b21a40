"""Circuit-breaker configuration with Resilience4j's names and defaults, and interval functions.

Durations are seconds (floats); rates are percentages in (0, 100].
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

IntervalFunction = Callable[[int], float]
"""Maps the attempt number (1 for the first) to a wait in seconds."""


def fixed_interval(seconds: float) -> IntervalFunction:
    """The same wait for every attempt (Resilience4j ``IntervalFunction.of``)."""
    if seconds < 0:
        raise ValueError(f"interval must be >= 0, got {seconds}")

    def interval(attempt: int) -> float:
        return seconds

    return interval


def exponential_interval(
    initial: float, multiplier: float = 1.5, max_interval: float | None = None
) -> IntervalFunction:
    """``initial * multiplier**(attempt - 1)``, capped at ``max_interval``.

    Resilience4j ``IntervalFunction.ofExponentialBackoff`` (default multiplier 1.5).
    """
    if initial < 0 or multiplier < 1:
        raise ValueError("exponential interval needs initial >= 0 and multiplier >= 1")
    cap = float("inf") if max_interval is None else max_interval

    def interval(attempt: int) -> float:
        return min(cap, initial * multiplier ** max(0, attempt - 1))

    return interval


class SlidingWindowType(enum.Enum):
    """How the closed state aggregates outcomes: the last N calls, or the last N seconds."""

    COUNT_BASED = "COUNT_BASED"
    TIME_BASED = "TIME_BASED"


ExceptionPredicate = Callable[[BaseException], bool]
ResultPredicate = Callable[[object], bool]


def _counts_as_failure(exc: BaseException) -> bool:
    return bool(getattr(exc, "counts_as_failure", True))


@dataclass(frozen=True, slots=True)
class CircuitBreakerConfig:
    """Resilience4j ``CircuitBreakerConfig`` with its defaults (durations in seconds).

    Exception classification follows Resilience4j: an exception matching ``ignore_exceptions``
    or ``ignore_exception`` is neither success nor failure (its permission is released); else one
    matching ``record_exceptions`` or ``record_exception`` is a failure; else it counts as a
    success. With no record rule at all every exception is recorded, except intperf errors whose
    ``counts_as_failure`` is False, which are ignored. ``record_result`` marks results that count
    as failures (Resilience4j ``recordResult``).
    """

    failure_rate_threshold: float = 50.0
    slow_call_rate_threshold: float = 100.0
    slow_call_duration_threshold: float = 60.0
    permitted_number_of_calls_in_half_open_state: int = 10
    max_wait_duration_in_half_open_state: float = 0.0
    sliding_window_type: SlidingWindowType = SlidingWindowType.COUNT_BASED
    sliding_window_size: int = 100
    minimum_number_of_calls: int = 100
    wait_duration_in_open_state: float = 60.0
    wait_interval_function_in_open_state: IntervalFunction | None = None
    automatic_transition_from_open_to_half_open_enabled: bool = False
    record_exceptions: tuple[type[BaseException], ...] = ()
    ignore_exceptions: tuple[type[BaseException], ...] = ()
    record_exception: ExceptionPredicate | None = None
    ignore_exception: ExceptionPredicate | None = field(default=None)
    record_result: ResultPredicate | None = None

    def __post_init__(self) -> None:
        if not 0 < self.failure_rate_threshold <= 100:
            raise ValueError("failure_rate_threshold must be in (0, 100]")
        if not 0 < self.slow_call_rate_threshold <= 100:
            raise ValueError("slow_call_rate_threshold must be in (0, 100]")
        if self.slow_call_duration_threshold < 0:
            raise ValueError("slow_call_duration_threshold must be >= 0")
        if self.permitted_number_of_calls_in_half_open_state < 1:
            raise ValueError("permitted_number_of_calls_in_half_open_state must be >= 1")
        if self.max_wait_duration_in_half_open_state < 0:
            raise ValueError("max_wait_duration_in_half_open_state must be >= 0")
        if self.sliding_window_size < 1:
            raise ValueError("sliding_window_size must be >= 1")
        if self.minimum_number_of_calls < 1:
            raise ValueError("minimum_number_of_calls must be >= 1")
        if self.wait_duration_in_open_state < 0:
            raise ValueError("wait_duration_in_open_state must be >= 0")

    @property
    def effective_minimum_number_of_calls(self) -> int:
        """Resilience4j caps the minimum at the window size for count-based windows."""
        if self.sliding_window_type is SlidingWindowType.COUNT_BASED:
            return min(self.minimum_number_of_calls, self.sliding_window_size)
        return self.minimum_number_of_calls

    def wait_in_open(self, attempt: int) -> float:
        """Seconds to stay OPEN on the ``attempt``-th consecutive opening (1-based)."""
        fn = self.wait_interval_function_in_open_state
        return self.wait_duration_in_open_state if fn is None else fn(attempt)

    def classify(self, exc: BaseException) -> bool | None:
        """True: a failure; False: counts as a success; None: ignored."""
        if isinstance(exc, self.ignore_exceptions) or (
            self.ignore_exception is not None and self.ignore_exception(exc)
        ):
            return None
        if not self.record_exceptions and self.record_exception is None:
            return True if _counts_as_failure(exc) else None
        return isinstance(exc, self.record_exceptions) or (
            self.record_exception is not None and self.record_exception(exc)
        )
