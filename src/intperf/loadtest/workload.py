"""The ``load`` section of a scenario: closed (virtual users) or open (arrival rate) models.

The schedule math lives in :mod:`intperf.loadtest.profiles`; this module only validates.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from intperf.loadtest.fields import STRICT, Duration


class Stage(BaseModel):
    """k6-style stage: move linearly to ``target`` over ``duration``."""

    model_config = STRICT
    duration: Duration
    target: Annotated[float, Field(ge=0)]


# --- Gatling injection steps (open model); each is a one-key mapping in YAML ----------------
class NothingFor(BaseModel):
    model_config = STRICT
    nothing_for: Duration


class AtOnceUsers(BaseModel):
    model_config = STRICT
    at_once_users: Annotated[int, Field(ge=0)]


class RampUsers(BaseModel):
    model_config = STRICT
    ramp_users: Annotated[int, Field(ge=0)]
    during: Duration


class ConstantUsersPerSec(BaseModel):
    model_config = STRICT
    constant_users_per_sec: Annotated[float, Field(ge=0)]
    during: Duration
    randomized: bool = False


class RateRange(BaseModel):
    model_config = STRICT
    from_: Annotated[float, Field(ge=0, alias="from")]
    to: Annotated[float, Field(ge=0)]


class RampUsersPerSec(BaseModel):
    model_config = STRICT
    ramp_users_per_sec: RateRange
    during: Duration
    randomized: bool = False


class StressPeakUsers(BaseModel):
    model_config = STRICT
    stress_peak_users: Annotated[int, Field(ge=0)]
    during: Duration


InjectionStep = (
    NothingFor | AtOnceUsers | RampUsers | ConstantUsersPerSec | RampUsersPerSec | StressPeakUsers
)


class ConstantArrivalRate(BaseModel):
    """k6 constant-arrival-rate: ``rate`` iterations per ``time_unit`` for ``duration``."""

    model_config = STRICT
    rate: Annotated[float, Field(ge=0)]
    time_unit: Duration = 1.0
    duration: Duration


class RampingArrivalRate(BaseModel):
    """k6 ramping-arrival-rate: start at ``start_rate`` per ``time_unit``, then stages of rate."""

    model_config = STRICT
    start_rate: Annotated[float, Field(ge=0)] = 0.0
    time_unit: Duration = 1.0
    stages: Annotated[list[Stage], Field(min_length=1)]


class LoadSpec(BaseModel):
    """How much load, and how it is shaped over time.

    Closed model: ``users`` with ``ramp_up``/``duration``/``ramp_down``, or ``stages``;
    optional ``iterations`` (per user) or ``shared_iterations`` (all users together).
    Open model: exactly one of ``injection`` (Gatling steps), ``constant_arrival_rate`` or
    ``ramping_arrival_rate``; each arrival is a new user running one journey. ``max_users``
    caps concurrent users in either model; an arrival beyond the cap is counted as dropped.
    ``max_connections`` caps connections per origin (requests then wait for one).
    ``start_after`` shifts the whole schedule (several populations start at different times).
    """

    model_config = STRICT
    users: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    ramp_up: Duration = 0.0
    duration: Duration | None = None
    ramp_down: Duration = 0.0
    stages: list[Stage] | None = None
    iterations: Annotated[int, Field(ge=1)] | None = None
    shared_iterations: Annotated[int, Field(ge=1)] | None = None
    injection: list[InjectionStep] | None = None
    constant_arrival_rate: ConstantArrivalRate | None = None
    ramping_arrival_rate: RampingArrivalRate | None = None
    max_users: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    max_connections: Annotated[int, Field(ge=1)] | None = None
    graceful_stop: Duration = 5.0
    """How long in-flight iterations may finish after the load ends before they are cut."""
    start_after: Duration = 0.0
    """Delay from the start of the run to the start of this load (k6 ``startTime``, JMeter's
    thread-group start-up delay); the whole schedule is shifted by it."""

    @model_validator(mode="after")
    def _one_model(self) -> LoadSpec:
        open_parts = [
            n
            for n in ("injection", "constant_arrival_rate", "ramping_arrival_rate")
            if getattr(self, n) is not None
        ]
        if len(open_parts) > 1:
            raise ValueError(f"choose one open model, not {' and '.join(open_parts)}")
        if open_parts and (self.users is not None or self.stages is not None):
            raise ValueError(
                f"'{open_parts[0]}' (open model) cannot be combined with 'users' or 'stages' "
                "(closed model); use max_users to cap concurrency"
            )
        if self.users is not None and self.stages is not None:
            raise ValueError("give either 'users' (with ramp_up/duration/ramp_down) or 'stages'")
        if self.iterations is not None and self.shared_iterations is not None:
            raise ValueError("give either 'iterations' (per user) or 'shared_iterations'")
        return self

    @property
    def is_open(self) -> bool:
        """True for an arrival-rate (open) model."""
        return any(
            x is not None
            for x in (self.injection, self.constant_arrival_rate, self.ramping_arrival_rate)
        )

    @property
    def model(self) -> Literal["open", "closed"]:
        """``open`` or ``closed``."""
        return "open" if self.is_open else "closed"
