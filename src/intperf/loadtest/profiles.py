"""Injection profiles: the ``load:`` section turned into user counts and arrival times.

Pure math, no I/O and no clock: the engine asks a :class:`ClosedSchedule` how many virtual
users should be active at time ``t``, and iterates an :class:`OpenSchedule`'s arrival times.
The semantics are written down in docs/workload.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from intperf.loadtest.workload import (
    AtOnceUsers,
    ConstantUsersPerSec,
    InjectionStep,
    LoadSpec,
    NothingFor,
    RampUsers,
    StressPeakUsers,
)

__all__ = ["ClosedSchedule", "OpenSchedule", "UserStage", "closed_schedule", "open_schedule"]

#: Arrival times are computed with NumPy in blocks of this many (the generators stay lazy).
_BLOCK = 4096
#: Expected counts such as ``0.1/s * 30s`` are 2.9999999999999996 in floating point; counts
#: are rounded with this relative tolerance so that they come out as the intended integer.
_TOL = 1e-9

Floats = npt.NDArray[np.float64]


def _running_total(durations: Iterator[float]) -> float:
    """Left-to-right float sum: the same additions the generators make, so ends agree."""
    total = 0.0
    for d in durations:
        total += d
    return total


def _check_share(i: int, n: int) -> None:
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"worker must satisfy 0 <= i < n, got i={i}, n={n}")


def _ceil_level(level: float) -> int:
    """Users active at a level: user k (0-based) is active while the level exceeds k."""
    return math.ceil(level)


# ---------------------------------------------------------------------------------------------
# Closed model
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class UserStage:
    """Move the number of users linearly to ``target`` over ``duration`` seconds."""

    duration: float
    target: float


@dataclass(frozen=True, slots=True)
class ClosedSchedule:
    """Virtual users over time (k6 stages). User ``k`` belongs to worker ``k % workers``.

    The level starts at 0 users and is interpolated linearly to each stage's target; user
    ``k`` (0-based) is active while the level exceeds ``k``, so a 0 -> 10 users ramp over 10 s
    starts user ``k`` at ``k`` seconds and the active users are always users ``0 .. T-1``.
    """

    stages: tuple[UserStage, ...]
    cap: int
    """LoadSpec.max_users: no more users than this are ever active."""
    iterations_per_user: int | None = None
    total_shared_iterations: int | None = None
    worker: int = 0
    workers: int = 1

    @property
    def duration(self) -> float:
        """Seconds until the load ends (``inf`` when it ends with the iterations)."""
        return _running_total(s.duration for s in self.stages)

    def _segments(self) -> Iterator[tuple[float, float, float, float]]:
        """``(t0, duration, from, to)`` of each stage that lasts; a 0 s stage only jumps."""
        level = 0.0
        t0 = 0.0
        for stage in self.stages:
            if stage.duration > 0.0:
                yield t0, stage.duration, level, stage.target
            level = stage.target
            t0 += stage.duration

    def _global_max_users(self) -> int:
        peak = max((max(a, b) for _, _, a, b in self._segments()), default=0.0)
        return min(_ceil_level(peak), self.cap)

    @property
    def max_users(self) -> int:
        """Peak number of this schedule's users active at once."""
        return len(range(self.worker, self._global_max_users(), self.workers))

    @property
    def users(self) -> range:
        """Numbers of the users this schedule runs (all workers together: 0 .. max_users-1)."""
        return range(self.worker, self._global_max_users(), self.workers)

    @property
    def shared_iterations(self) -> int | None:
        """This schedule's share of ``shared_iterations`` (shares of all workers add up).

        Iteration ``j`` is given to user ``j % max_users``, hence to that user's worker.
        """
        total = self.total_shared_iterations
        if total is None or self.workers == 1:
            return total
        m = self._global_max_users()
        if m == 0:
            return total if self.worker == 0 else 0
        per_user, rest = divmod(total, m)
        return per_user * self.max_users + len(range(self.worker, rest, self.workers))

    def _global_target(self, t: float) -> int:
        if t < 0.0:
            return 0
        for t0, d, a, b in self._segments():
            if t < t0 + d:
                if b > a:
                    count = _rising_count(a, b, t0, d, t)
                elif b < a:
                    count = _falling_count(a, b, t0, d, t)
                else:
                    count = _ceil_level(a)
                return min(count, self.cap)
        return 0

    def target_users(self, t: float) -> int:
        """Users of this schedule that should be active at ``t`` seconds (0 after the end)."""
        return len(range(self.worker, self._global_target(t), self.workers))

    def start_times(self) -> list[float]:
        """Time at which each of :attr:`users` first becomes active, in user order."""
        starts: list[float] = []
        cap = self._global_max_users()
        for t0, d, a, b in self._segments():
            # Users below the level are active from the stage's start (after a jump) ...
            starts.extend(t0 for _ in range(len(starts), min(_ceil_level(a), cap)))
            # ... and, while it rises, user k from the moment the level exceeds k.
            new = range(len(starts), min(_ceil_level(b), cap))
            starts.extend(_rise_time(a, b, t0, d, k) for k in new)
        return starts[self.worker :: self.workers]

    def for_worker(self, i: int, n: int) -> ClosedSchedule:
        """The share of worker ``i`` of ``n``: users ``i, i+n, i+2n, ...`` of this schedule."""
        _check_share(i, n)
        return replace(self, worker=self.worker + self.workers * i, workers=self.workers * n)


def _rise_time(a: float, b: float, t0: float, d: float, k: int) -> float:
    """When a level rising from ``a`` to ``b`` over [t0, t0+d) starts exceeding ``k``."""
    return t0 + (d * (k - a)) / (b - a)


def _fall_time(a: float, b: float, t0: float, d: float, k: int) -> float:
    """When a level falling from ``a`` to ``b`` over [t0, t0+d) stops exceeding ``k``."""
    return t0 + (d * (a - k)) / (a - b)


def _rising_count(a: float, b: float, t0: float, d: float, t: float) -> int:
    # Users below ceil(a) are active; user k in [ceil(a), ceil(b)) from _rise_time(k) on.
    # The estimate is corrected with the very formula start_times() uses, so both agree.
    lo, hi = _ceil_level(a), _ceil_level(b)
    k = min(max(math.floor(a + (t - t0) * (b - a) / d), lo - 1), hi - 1)
    while k + 1 < hi and _rise_time(a, b, t0, d, k + 1) <= t:
        k += 1
    while k >= lo and _rise_time(a, b, t0, d, k) > t:
        k -= 1
    return k + 1


def _falling_count(a: float, b: float, t0: float, d: float, t: float) -> int:
    # Users below ceil(b) stay active; user k in [ceil(b), ceil(a)) until _fall_time(k).
    lo, hi = _ceil_level(b), _ceil_level(a)
    k = min(max(math.ceil(a - (t - t0) * (a - b) / d) - 1, lo - 1), hi - 1)
    while k + 1 < hi and _fall_time(a, b, t0, d, k + 1) > t:
        k += 1
    while k >= lo and _fall_time(a, b, t0, d, k) <= t:
        k -= 1
    return k + 1


def closed_schedule(load: LoadSpec) -> ClosedSchedule:
    """The closed-model schedule of ``load`` (``users`` + ramps, or k6 ``stages``)."""
    if load.is_open:
        raise ValueError("this load is an open model: use open_schedule()")
    iterations = load.iterations
    if load.stages is not None:
        stages = tuple(UserStage(s.duration, s.target) for s in load.stages)
    else:
        users = load.users if load.users is not None else 1  # k6's default: one user
        hold = load.duration
        if hold is None:
            # No duration: the users run their iterations (k6's default is one) and stop.
            hold = math.inf
            if iterations is None and load.shared_iterations is None:
                iterations = 1
        stages = (
            UserStage(load.ramp_up, users),  # ramp_up 0: every user starts at t = 0
            UserStage(hold, users),
            UserStage(load.ramp_down, 0.0),
        )
    return ClosedSchedule(
        stages=stages,
        cap=load.max_users,
        iterations_per_user=iterations,
        total_shared_iterations=load.shared_iterations,
    )


# ---------------------------------------------------------------------------------------------
# Open model: segments that know their arrival count and the time of arrival k
# ---------------------------------------------------------------------------------------------
def _index_blocks(ks: range) -> Iterator[Floats]:
    for j in range(0, len(ks), _BLOCK):
        sub = ks[j : j + _BLOCK]
        yield np.arange(sub.start, sub.stop, sub.step, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Pause:
    """No arrivals for ``duration`` seconds (Gatling nothingFor)."""

    duration: float
    count: int = 0

    def times(self, ks: range) -> Iterator[float]:
        """Local arrival times of arrivals ``ks`` (none)."""
        return iter(())


@dataclass(frozen=True, slots=True)
class AtOnce:
    """``count`` arrivals at the step's start (Gatling atOnceUsers)."""

    count: int
    duration: float = 0.0

    def times(self, ks: range) -> Iterator[float]:
        """Local arrival times of arrivals ``ks``: all 0."""
        return (0.0 for _ in ks)


@dataclass(frozen=True, slots=True)
class EvenRamp:
    """``count`` arrivals evenly spaced: arrival k at ``k * duration / count`` (rampUsers)."""

    count: int
    duration: float

    def times(self, ks: range) -> Iterator[float]:
        """Local arrival times of arrivals ``ks``."""
        for block in _index_blocks(ks):
            yield from (block * self.duration / self.count).tolist()


@dataclass(frozen=True, slots=True)
class StressPeak:
    """Gatling stressPeakUsers: arrivals follow a normal CDF (a smoothed Heaviside step).

    Gatling's ``HeavisideOpenInjection``: arrival i = 1..n at
    ``duration * (x(i) - x(1)) / (2 * |x(1)|)`` with ``x(i) = erfinv(2 i / (n + 2) - 1)``;
    ``erfinv(2p - 1) = Phi^-1(p) / sqrt 2`` and the ``sqrt 2`` cancels.
    """

    count: int
    duration: float

    def times(self, ks: range) -> Iterator[float]:
        """Local arrival times of arrivals ``ks``."""
        n, d = self.count, self.duration
        inv = NormalDist().inv_cdf
        x1 = inv(1.0 / (n + 2))
        for k in ks:
            yield min(max(d * (inv((k + 1) / (n + 2)) - x1) / (-2.0 * x1), 0.0), d)


@dataclass(frozen=True, slots=True)
class RatePiece:
    """The arrival rate moves linearly from ``start`` to ``end`` (per second) over ``duration``."""

    duration: float
    start: float
    end: float

    @property
    def area(self) -> float:
        """Expected arrivals in the piece."""
        return (self.start + self.end) * 0.5 * self.duration


@dataclass(frozen=True, slots=True)
class RateSteps:
    """Arrivals of a piecewise-linear rate: arrival k when its integral reaches ``k + phase``.

    ``randomized``: a Poisson process conditioned on ``count`` arrivals (their times are the
    order statistics of ``count`` draws from the normalized rate), seeded by ``seed``/``stream``.
    """

    pieces: tuple[RatePiece, ...]
    count: int
    phase: float = 0.0
    randomized: bool = False
    seed: int = 0
    stream: int = 0

    @property
    def duration(self) -> float:
        """Seconds the step lasts."""
        return _running_total(p.duration for p in self.pieces)

    def _invert(self, x: Floats) -> Floats:
        """Times at which the integral of the rate reaches ``x`` (exact quadratic inverse)."""
        areas = np.array([p.area for p in self.pieces])
        ends = np.cumsum(areas)
        starts = np.concatenate(([0.0], np.cumsum([p.duration for p in self.pieces])[:-1]))
        j = np.minimum(np.searchsorted(ends, x, side="left"), len(self.pieces) - 1)
        dur = np.array([p.duration for p in self.pieces])[j]
        b = np.array([p.start for p in self.pieces])[j]
        slope = np.array(
            [(p.end - p.start) / (2.0 * p.duration) if p.duration > 0 else 0.0 for p in self.pieces]
        )[j]
        xp = np.maximum(x - (ends - areas)[j], 0.0)
        # Solve slope*s^2 + b*s = xp in the cancellation-free form 2xp / (b + sqrt(b^2 + 4 a xp)).
        den = b + np.sqrt(np.maximum(b * b + 4.0 * slope * xp, 0.0))
        s = np.divide(2.0 * xp, den, out=np.zeros_like(xp), where=den > 0.0)
        return np.asarray(starts[j] + np.minimum(s, dur), dtype=np.float64)

    def times(self, ks: range) -> Iterator[float]:
        """Local arrival times of arrivals ``ks``."""
        if not ks:
            return
        if not self.randomized:
            for block in _index_blocks(ks):
                yield from self._invert(block + self.phase).tolist()
            return
        # Every worker draws the whole sequence (same seed, same blocks) and keeps its share.
        total = math.fsum(p.area for p in self.pieces)
        rng = np.random.default_rng([self.seed, self.stream])
        n = self.count
        log_rest = 0.0  # log(1 - U_(j)) of the last order statistic drawn
        last = 0.0
        for j0 in range(0, n, _BLOCK):
            m = min(_BLOCK, n - j0)
            # Sequential order statistics of n uniforms: 1 - U_(j) = prod V_i ** (1 / (n - i)).
            steps = np.log1p(-rng.random(m)) / (n - j0 - np.arange(m, dtype=np.float64))
            logs = log_rest + np.cumsum(steps)
            log_rest = float(logs[-1])
            t = np.maximum.accumulate(np.maximum(self._invert(-np.expm1(logs) * total), last))
            last = float(t[-1])
            sel = ks[_first_at_or_after(ks, j0) : _first_at_or_after(ks, j0 + m)]
            if sel:
                yield from t[sel.start - j0 : sel.stop - j0 : sel.step].tolist()


def _first_at_or_after(ks: range, k: int) -> int:
    """Position in ``ks`` of its first element >= k."""
    if not ks or ks[0] >= k:
        return 0
    return min(len(ks), -((ks.start - k) // ks.step))


OpenSegment = Pause | AtOnce | EvenRamp | StressPeak | RateSteps


@dataclass(frozen=True, slots=True)
class OpenSchedule:
    """Arrival times of an open model; worker ``i`` of ``n`` takes arrivals i, i+n, i+2n, ..."""

    segments: tuple[OpenSegment, ...]
    total_max_users: int
    """LoadSpec.max_users: arrivals finding this many users active are dropped."""
    worker: int = 0
    workers: int = 1

    @property
    def duration(self) -> float:
        """Seconds from the start to the end of the last step."""
        return _running_total(s.duration for s in self.segments)

    @property
    def max_users(self) -> int:
        """This schedule's share of the cap on concurrently active users."""
        return len(range(self.worker, self.total_max_users, self.workers))

    def expected_count(self) -> int:
        """Exact number of arrivals :meth:`arrivals` yields."""
        return len(range(self.worker, sum(s.count for s in self.segments), self.workers))

    def arrivals(self) -> Iterator[float]:
        """Arrival times in seconds from the start, sorted, computed lazily."""
        t0 = 0.0
        first = 0  # global number of the segment's first arrival
        for seg in self.segments:
            ks = range((self.worker - first) % self.workers, seg.count, self.workers)
            for t in seg.times(ks):
                yield t0 + t
            first += seg.count
            t0 += seg.duration

    def __iter__(self) -> Iterator[float]:
        return self.arrivals()

    def for_worker(self, i: int, n: int) -> OpenSchedule:
        """The share of worker ``i`` of ``n``: arrivals i, i+n, i+2n, ... of this schedule."""
        _check_share(i, n)
        return replace(self, worker=self.worker + self.workers * i, workers=self.workers * n)


def _round_count(x: float) -> int:
    """Nearest integer, halves up (Gatling rounds a step's user count so)."""
    return math.floor(x + 0.5 + _TOL * max(1.0, x))


def _gatling_segment(step: InjectionStep, seed: int, stream: int) -> OpenSegment:
    if isinstance(step, NothingFor):
        return Pause(step.nothing_for)
    if isinstance(step, AtOnceUsers):
        return AtOnce(step.at_once_users)
    if isinstance(step, RampUsers):
        if step.during > 0.0:
            return EvenRamp(step.ramp_users, step.during)
        return AtOnce(step.ramp_users)
    if isinstance(step, StressPeakUsers):
        if step.during > 0.0 and step.stress_peak_users > 0:
            return StressPeak(step.stress_peak_users, step.during)
        return AtOnce(step.stress_peak_users, step.during)  # Gatling: at once, or a pause
    if isinstance(step, ConstantUsersPerSec):
        r = step.constant_users_per_sec
        piece = RatePiece(step.during, r, r)
    else:
        piece = RatePiece(step.during, step.ramp_users_per_sec.from_, step.ramp_users_per_sec.to)
    # Gatling: the step's user count is its expected count rounded; arrival k at Lambda^-1(k).
    return RateSteps((piece,), _round_count(piece.area), 0.0, step.randomized, seed, stream)


def open_schedule(load: LoadSpec, seed: int = 0) -> OpenSchedule:
    """The open-model schedule of ``load``; ``seed`` (>= 0) drives ``randomized`` steps."""
    segments: list[OpenSegment]
    if load.injection is not None:
        segments = [_gatling_segment(s, seed, i) for i, s in enumerate(load.injection)]
    elif load.constant_arrival_rate is not None:
        c = load.constant_arrival_rate
        r = c.rate / _positive(c.time_unit)
        piece = RatePiece(c.duration, r, r)
        # k6: the first iteration at t = 0, then one every time_unit/rate while t < duration.
        segments = [RateSteps((piece,), math.ceil(piece.area - _TOL * max(1.0, piece.area)))]
    elif load.ramping_arrival_rate is not None:
        ra = load.ramping_arrival_rate
        unit = _positive(ra.time_unit)
        pieces = []
        rate = ra.start_rate / unit
        for stage in ra.stages:
            pieces.append(RatePiece(stage.duration, rate, stage.target / unit))
            rate = stage.target / unit
        total = math.fsum(p.area for p in pieces)
        # k6 (ramping_arrival_rate.go, cal): iteration i = 1, 2, ... starts when the area
        # under the rate curve reaches i, across stage boundaries.
        segments = [RateSteps(tuple(pieces), math.floor(total + _TOL * max(1.0, total)), 1.0)]
    else:
        raise ValueError("this load is a closed model: use closed_schedule()")
    return OpenSchedule(segments=tuple(segments), total_max_users=load.max_users)


def _positive(time_unit: float) -> float:
    if time_unit <= 0.0:
        raise ValueError(f"time_unit must be positive, got {time_unit}")
    return time_unit
