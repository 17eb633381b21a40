"""Hypothesis state machine: the breaker against a naive reference model of Resilience4j's rules.

The model keeps every outcome as a list and recomputes the window each time; the breaker keeps
running totals in a ring or per-second buckets. Any disagreement is a bug in one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from intperf.resilience import (
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitState,
    SlidingWindowType,
    exponential_interval,
)

SLOW = 1.0


@dataclass
class Model:
    cfg: CircuitBreakerConfig
    state: str = "CLOSED"
    records: list[tuple[int, bool, bool]] = field(default_factory=list)  # (second, failed, slow)
    attempts: int = 0
    retry_after: float = 0.0
    permits: int = 0
    deadline: float = float("inf")
    rejected: int = 0
    half_open_metrics: bool = False  # OPEN keeps the metrics of the state it came from

    def window(self, now: float) -> list[tuple[int, bool, bool]]:
        if self.half_open_metrics:
            return self.records[-self.cfg.permitted_number_of_calls_in_half_open_state :]
        size = self.cfg.sliding_window_size
        if self.cfg.sliding_window_type is SlidingWindowType.COUNT_BASED:
            return self.records[-size:]
        return [r for r in self.records if r[0] > int(now) - size]

    def minimum(self) -> int:
        if self.half_open_metrics:
            return self.cfg.permitted_number_of_calls_in_half_open_state
        if self.cfg.sliding_window_type is SlidingWindowType.COUNT_BASED:
            return min(self.cfg.minimum_number_of_calls, self.cfg.sliding_window_size)
        return self.cfg.minimum_number_of_calls

    def verdict(self, now: float) -> str:
        recs = self.window(now)
        n = len(recs)
        if n == 0 or n < self.minimum():
            return "MIN"
        failed = sum(1 for r in recs if r[1])
        slow = sum(1 for r in recs if r[2])
        if (
            failed * 100.0 / n >= self.cfg.failure_rate_threshold
            or slow * 100.0 / n >= self.cfg.slow_call_rate_threshold
        ):
            return "ABOVE"
        return "BELOW"

    def go(self, new: str, now: float) -> None:
        if new == self.state:
            return
        if new == "OPEN":
            self.attempts += 1
            self.retry_after = now + self.cfg.wait_in_open(self.attempts)
        else:
            self.records = []
            self.half_open_metrics = new == "HALF_OPEN"
            if new == "HALF_OPEN":
                self.permits = self.cfg.permitted_number_of_calls_in_half_open_state
                mw = self.cfg.max_wait_duration_in_half_open_state
                self.deadline = now + mw if mw > 0 else float("inf")
            elif new == "CLOSED":
                self.attempts = 0
        self.state = new

    def timers(self, now: float) -> None:
        auto = self.cfg.automatic_transition_from_open_to_half_open_enabled
        if self.state == "OPEN" and auto and now >= self.retry_after:
            self.go("HALF_OPEN", now)
        if self.state == "HALF_OPEN" and now >= self.deadline:
            self.go("OPEN", now)

    def acquire(self, now: float) -> bool:
        if self.state == "CLOSED":
            return True
        self.timers(now)
        if self.state == "OPEN" and now >= self.retry_after:
            self.go("HALF_OPEN", now)
        if self.state == "HALF_OPEN" and self.permits > 0:
            self.permits -= 1
            return True
        if self.state in ("DISABLED", "METRICS_ONLY"):
            return True
        self.rejected += 1
        return False

    def complete(self, now: float, failed: bool, slow: bool) -> None:
        if self.state == "DISABLED":
            return
        self.timers(now)
        self.records.append((int(now), failed, slow))
        v = self.verdict(now)
        if self.state == "CLOSED" and v == "ABOVE":
            self.go("OPEN", now)
        elif self.state == "HALF_OPEN" and v != "MIN":
            self.go("OPEN" if v == "ABOVE" else "CLOSED", now)

    def release(self) -> None:
        if self.state == "HALF_OPEN":
            self.permits = min(
                self.permits + 1, self.cfg.permitted_number_of_calls_in_half_open_state
            )


configs = st.builds(
    CircuitBreakerConfig,
    failure_rate_threshold=st.sampled_from([20.0, 50.0, 100.0]),
    slow_call_rate_threshold=st.sampled_from([30.0, 100.0]),
    slow_call_duration_threshold=st.just(SLOW),
    permitted_number_of_calls_in_half_open_state=st.integers(1, 3),
    max_wait_duration_in_half_open_state=st.sampled_from([0.0, 4.0]),
    sliding_window_type=st.sampled_from(list(SlidingWindowType)),
    sliding_window_size=st.integers(1, 5),
    minimum_number_of_calls=st.integers(1, 6),
    wait_duration_in_open_state=st.sampled_from([0.0, 3.0, 10.0]),
    wait_interval_function_in_open_state=st.sampled_from([None, exponential_interval(2.0, 2.0)]),
    automatic_transition_from_open_to_half_open_enabled=st.booleans(),
)


class BreakerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 100.0
        self.in_flight = 0

    @initialize(cfg=configs)
    def setup(self, cfg: CircuitBreakerConfig) -> None:
        self.breaker = CircuitBreaker("m", cfg, clock=lambda: self.now)
        self.model = Model(cfg)

    @rule(dt=st.sampled_from([0.0, 0.3, 1.0, 2.5, 4.0, 11.0]))
    def advance(self, dt: float) -> None:
        self.now += dt

    @rule()
    def acquire(self) -> None:
        got = self.breaker.try_acquire_permission()
        assert got == self.model.acquire(self.now)
        self.in_flight += got

    @precondition(lambda self: self.in_flight > 0)
    @rule(failed=st.booleans(), slow=st.booleans())
    def complete(self, failed: bool, slow: bool) -> None:
        self.in_flight -= 1
        duration = 2 * SLOW if slow else SLOW / 2
        if failed:
            self.breaker.on_error(duration, OSError("x"))
        else:
            self.breaker.on_success(duration)
        self.model.complete(self.now, failed, slow)

    @precondition(lambda self: self.in_flight > 0)
    @rule()
    def cancel(self) -> None:
        self.in_flight -= 1
        self.breaker.release_permission()
        self.model.release()

    @rule(to=st.sampled_from(["CLOSED", "OPEN", "HALF_OPEN", "DISABLED", "METRICS_ONLY"]))
    def force(self, to: str) -> None:
        getattr(self.breaker, f"transition_to_{to.lower()}")()
        self.model.go(to, self.now)

    @invariant()
    def same_state(self) -> None:
        if not hasattr(self, "breaker"):
            return
        self.model.timers(self.now)
        assert self.breaker.state is CircuitState(self.model.state)
        snap = self.breaker.snapshot()
        recs = self.model.window(self.now)
        assert snap.total_calls == len(recs)
        assert snap.failed_calls == sum(r[1] for r in recs)
        assert snap.slow_calls == sum(r[2] for r in recs)
        assert self.breaker.not_permitted_calls == self.model.rejected


BreakerMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
test_breaker_matches_model = BreakerMachine.TestCase
