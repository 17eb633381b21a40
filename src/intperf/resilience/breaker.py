"""A circuit breaker with Resilience4j's ``CircuitBreakerStateMachine`` semantics.

The core is a pure state machine over an injected monotonic clock (seconds); ``@breaker``,
``with breaker:`` and ``async with breaker:`` are thin wrappers that time the call.
Not thread-safe: use one breaker per event loop, or guard it with a lock in threaded code.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from contextvars import ContextVar
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast

from intperf.errors import CallNotPermittedError
from intperf.resilience._guarded import wrap_async, wrap_sync
from intperf.resilience.config import CircuitBreakerConfig, SlidingWindowType
from intperf.resilience.states import (
    BreakerEvent,
    BreakerEventKind,
    CircuitState,
    EventListener,
)
from intperf.resilience.window import (
    ERROR,
    SLOW_ERROR,
    SLOW_SUCCESS,
    SUCCESS,
    CountWindow,
    Snapshot,
    TimeWindow,
)

__all__ = ["BreakerEvent", "BreakerEventKind", "CircuitBreaker", "CircuitState", "EventListener"]

P = ParamSpec("P")
R = TypeVar("R")
Clock = Callable[[], float]


_CLOSED = CircuitState.CLOSED
_OPEN = CircuitState.OPEN
_HALF_OPEN = CircuitState.HALF_OPEN
_BELOW_MINIMUM, _BELOW, _ABOVE = 0, 1, 2
_NO_CALL: tuple[float, Any] = (0.0, None)


class CircuitBreaker:
    """Resilience4j's breaker: ``try_acquire_permission`` then ``on_success``/``on_error``."""

    def __init__(
        self,
        name: str,
        config: CircuitBreakerConfig | None = None,
        *,
        clock: Clock = time.monotonic,
        on_event: EventListener | None = None,
    ) -> None:
        self.name = name
        self.config = config or CircuitBreakerConfig()
        self._clock = clock
        self._listeners: list[EventListener] = [] if on_event is None else [on_event]
        self._starts: ContextVar[tuple[float, Any]] = ContextVar(f"breaker:{name}")
        self._slow = self.config.slow_call_duration_threshold
        self._record_result = self.config.record_result
        self._time_based = self.config.sliding_window_type is SlidingWindowType.TIME_BASED
        self._attempts = 0
        self._retry_after = 0.0
        self._half_open_permits = 0
        self._half_open_deadline = float("inf")
        self.not_permitted_calls = 0
        self.successful_calls = 0  # cumulative, for metrics; never reset
        self.failed_calls = 0
        self.ignored_calls = 0
        self._state = _CLOSED
        self._window: CountWindow | TimeWindow
        self._minimum = 0
        self._closed_metrics()

    # -- metrics ------------------------------------------------------------------------------

    def _closed_metrics(self) -> None:
        cfg = self.config
        if cfg.sliding_window_type is SlidingWindowType.COUNT_BASED:
            self._window = CountWindow(cfg.sliding_window_size)
        else:
            self._window = TimeWindow(cfg.sliding_window_size)
        self._minimum = cfg.effective_minimum_number_of_calls

    def _half_open_metrics(self) -> None:
        permitted = self.config.permitted_number_of_calls_in_half_open_state
        self._window = CountWindow(permitted)
        self._minimum = permitted

    def _check(self, now: float) -> int:
        total, failed, slow = self._window.counts(now)
        if total == 0 or total < self._minimum:
            return _BELOW_MINIMUM
        cfg = self.config
        if (
            failed * 100.0 / total >= cfg.failure_rate_threshold
            or slow * 100.0 / total >= cfg.slow_call_rate_threshold
        ):
            return _ABOVE
        return _BELOW

    def snapshot(self) -> Snapshot:
        """Totals of the current state's window."""
        return self._window.snapshot(self._clock())

    @property
    def failure_rate(self) -> float:
        """Failure percentage, or -1 below the minimum number of calls (like Resilience4j)."""
        snap = self.snapshot()
        if snap.total_calls == 0 or snap.total_calls < self._minimum:
            return -1.0
        return snap.failed_calls * 100.0 / snap.total_calls

    @property
    def slow_call_rate(self) -> float:
        """Slow-call percentage, or -1 below the minimum number of calls."""
        snap = self.snapshot()
        if snap.total_calls == 0 or snap.total_calls < self._minimum:
            return -1.0
        return snap.slow_calls * 100.0 / snap.total_calls

    # -- transitions --------------------------------------------------------------------------

    def add_listener(self, listener: EventListener) -> None:
        """Call ``listener`` for every event of this breaker."""
        self._listeners.append(listener)

    def _emit(self, kind: BreakerEventKind, old: CircuitState, new: CircuitState) -> None:
        if self._listeners:
            event = BreakerEvent(self.name, kind, old, new, self._clock(), self.not_permitted_calls)
            for listener in self._listeners:
                listener(event)

    def _transition(self, new: CircuitState, now: float) -> None:
        old = self._state
        if old is new:
            return
        if new is _OPEN:
            self._attempts += 1
            self._retry_after = now + self.config.wait_in_open(self._attempts)
        elif new is _HALF_OPEN:
            self._half_open_permits = self.config.permitted_number_of_calls_in_half_open_state
            max_wait = self.config.max_wait_duration_in_half_open_state
            self._half_open_deadline = now + max_wait if max_wait > 0 else float("inf")
            self._half_open_metrics()
        else:
            if new is _CLOSED:
                self._attempts = 0
            self._closed_metrics()
        self._state = new
        self._emit(BreakerEventKind.STATE_TRANSITION, old, new)

    def _poll(self, now: float) -> None:
        """Time-driven transitions, applied lazily (Resilience4j schedules them)."""
        if (
            self._state is _OPEN
            and self.config.automatic_transition_from_open_to_half_open_enabled
            and now >= self._retry_after
        ):
            self._transition(_HALF_OPEN, now)
        if self._state is _HALF_OPEN and now >= self._half_open_deadline:
            self._transition(_OPEN, now)

    @property
    def state(self) -> CircuitState:
        """The current state (time-driven transitions applied)."""
        if self._state is _OPEN or self._state is _HALF_OPEN:
            self._poll(self._clock())
        return self._state

    @property
    def retry_after(self) -> float:
        """Clock time at which an OPEN breaker permits a trial call."""
        return self._retry_after

    @property
    def wait_remaining(self) -> float:
        """Seconds until an OPEN breaker permits a trial call (0 in other states)."""
        if self._state is not _OPEN:
            return 0.0
        return max(0.0, self._retry_after - self._clock())

    @property
    def attempts(self) -> int:
        """Consecutive openings since the breaker was last CLOSED."""
        return self._attempts

    def open_for(self, wait: float, attempts: int) -> None:
        """Go (or stay) OPEN for ``wait`` seconds: a decision shared by another process."""
        now = self._clock()
        old = self._state
        self._attempts = attempts
        self._retry_after = now + wait
        if old is not _OPEN:
            self._state = _OPEN
            self._emit(BreakerEventKind.STATE_TRANSITION, old, _OPEN)

    def transition_to_closed(self) -> None:
        """Force CLOSED with fresh metrics."""
        self._transition(_CLOSED, self._clock())

    def transition_to_open(self) -> None:
        """Force OPEN (the wait counts as one more attempt)."""
        self._transition(_OPEN, self._clock())

    def transition_to_half_open(self) -> None:
        """Force HALF_OPEN."""
        self._transition(_HALF_OPEN, self._clock())

    def transition_to_disabled(self) -> None:
        """Permit every call and record nothing."""
        self._transition(CircuitState.DISABLED, self._clock())

    def transition_to_forced_open(self) -> None:
        """Reject every call until another manual transition."""
        self._transition(CircuitState.FORCED_OPEN, self._clock())

    def transition_to_metrics_only(self) -> None:
        """Permit every call, record outcomes, never open."""
        self._transition(CircuitState.METRICS_ONLY, self._clock())

    def reset(self) -> None:
        """Back to CLOSED with fresh metrics and no attempts or rejections counted."""
        self._transition(_CLOSED, self._clock())
        self._closed_metrics()
        self._attempts = 0
        self.not_permitted_calls = 0

    # -- the Resilience4j call protocol -------------------------------------------------------

    def try_acquire_permission(self) -> bool:
        """True if a call may proceed; a HALF_OPEN breaker hands out its permitted calls."""
        state = self._state
        if state is _CLOSED:
            return True
        now = self._clock()
        self._poll(now)
        state = self._state
        if state is _OPEN and now >= self._retry_after:
            self._transition(_HALF_OPEN, now)
            state = self._state
        if state is _HALF_OPEN:
            if self._half_open_permits > 0:
                self._half_open_permits -= 1
                return True
        elif state is CircuitState.DISABLED or state is CircuitState.METRICS_ONLY:
            return True
        self.not_permitted_calls += 1
        self._emit(BreakerEventKind.NOT_PERMITTED, state, state)
        return False

    def acquire_permission(self) -> None:
        """Like ``try_acquire_permission`` but raises ``CallNotPermittedError``."""
        if not self.try_acquire_permission():
            raise CallNotPermittedError(self.name, self._state.value)

    def release_permission(self) -> None:
        """Give back a permission that was not used (the call was ignored or cancelled)."""
        if self._state is _HALF_OPEN:
            self._half_open_permits = min(
                self._half_open_permits + 1,
                self.config.permitted_number_of_calls_in_half_open_state,
            )

    def on_success(self, duration: float) -> None:
        """Record a successful call that took ``duration`` seconds."""
        self._record(SLOW_SUCCESS if duration > self._slow else SUCCESS, self._clock())

    def on_error(self, duration: float, exc: BaseException) -> None:
        """Record a call that raised ``exc``, classified by the config."""
        verdict = self.config.classify(exc)
        if verdict is None:
            self.ignored_calls += 1
            self.release_permission()
            self._emit(BreakerEventKind.IGNORED_ERROR, self._state, self._state)
        elif verdict:
            self._record(SLOW_ERROR if duration > self._slow else ERROR, self._clock())
        else:
            self.on_success(duration)

    def on_result(self, duration: float, result: object, now: float | None = None) -> None:
        """Record a returned ``result``: a failure if ``record_result`` says so."""
        predicate = self._record_result
        if now is None:
            now = self._clock()
        if predicate is not None and predicate(result):
            self._record(SLOW_ERROR if duration > self._slow else ERROR, now)
        else:
            self._record(SLOW_SUCCESS if duration > self._slow else SUCCESS, now)

    def _record(self, outcome: int, now: float) -> None:
        state = self._state
        if state is _CLOSED:
            total = self._window.record(outcome, now)
            if outcome & 1:
                self.failed_calls += 1
            else:
                self.successful_calls += 1
            # A fast success in a count window cannot raise a rate that was below the thresholds
            # at the previous call, except on the call that first reaches the minimum.
            may_open = outcome or self._time_based or total == self._minimum
            if may_open and self._check(now) == _ABOVE:
                self._transition(_OPEN, now)
            return
        if outcome & 1:
            self.failed_calls += 1
        else:
            self.successful_calls += 1
        if state is CircuitState.DISABLED:
            return
        if state is _OPEN or state is _HALF_OPEN:
            self._poll(now)  # a scheduled transition may be due before this outcome lands
            state = self._state
        self._window.record(outcome, now)
        if state is _HALF_OPEN:
            verdict = self._check(now)
            if verdict == _ABOVE:
                self._transition(_OPEN, now)
            elif verdict == _BELOW:
                self._transition(_CLOSED, now)
        elif state is CircuitState.METRICS_ONLY and self._check(now) == _ABOVE:
            self._emit(BreakerEventKind.THRESHOLDS_EXCEEDED, state, state)

    # -- wrappers -----------------------------------------------------------------------------

    # The start time lives in a ContextVar as a (start, parent) chain so concurrent tasks and
    # nested uses of one breaker each time their own call; enter/exit are inlined for speed.

    def _exit_slow(self, exc: BaseException, duration: float) -> None:
        if isinstance(exc, Exception):
            self.on_error(duration, exc)
        else:  # cancellation and interpreter exits say nothing about the callee
            self.release_permission()

    def __enter__(self) -> CircuitBreaker:
        if self._state is not _CLOSED and not self.try_acquire_permission():
            raise CallNotPermittedError(self.name, self._state.value)
        starts = self._starts
        starts.set((self._clock(), starts.get(_NO_CALL)))
        return self

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        end = self._clock()
        starts = self._starts
        start, parent = starts.get()
        starts.set(parent)
        if exc is None:
            self._record(SLOW_SUCCESS if end - start > self._slow else SUCCESS, end)
        else:
            self._exit_slow(exc, end - start)

    async def __aenter__(self) -> CircuitBreaker:
        if self._state is not _CLOSED and not self.try_acquire_permission():
            raise CallNotPermittedError(self.name, self._state.value)
        starts = self._starts
        starts.set((self._clock(), starts.get(_NO_CALL)))
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        end = self._clock()
        starts = self._starts
        start, parent = starts.get()
        starts.set(parent)
        if exc is None:
            self._record(SLOW_SUCCESS if end - start > self._slow else SUCCESS, end)
        else:
            self._exit_slow(exc, end - start)

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate a sync or async function; its results go through ``on_result``."""
        if inspect.iscoroutinefunction(fn):
            return cast(Callable[P, R], wrap_async(self, fn))
        return wrap_sync(self, fn)
