"""One population's share on one worker: starts its virtual users on schedule, then ends it.

Closed model: every 50 ms the population's active users are matched to its
:class:`ClosedSchedule`. Open model: one timer per arrival, armed 200 ms ahead. A population
starts ``start_after`` seconds into the run and ends with its schedule (or when its
iterations or a queue feeder run out); its in-flight iterations then have ``graceful_stop``
seconds to finish before they are cut. The engine's run ends when every population has.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

from intperf.loadtest.plan import CompiledJourney
from intperf.loadtest.populations import Population, share_index
from intperf.loadtest.profiles import ClosedSchedule, OpenSchedule, closed_schedule, open_schedule
from intperf.loadtest.user import VirtualUser

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Iterator

    from intperf.loadtest.engine import Engine, WorkerShare

CONTROL_INTERVAL = 0.05
ARRIVAL_LOOKAHEAD = 0.2
#: Bound on a load that has no natural end (iterations without a duration).
UNBOUNDED_RUN_LIMIT = 24 * 3600.0
#: libuv timers have millisecond granularity and fire in the order they were armed: a little
#: slack keeps an arrival due just before the end from losing to the end timer.
TIMER_SLACK = 0.005


class Launcher:
    """Starts and stops the users of one population's share on one worker."""

    def __init__(
        self,
        engine: Engine,
        number: int,
        population: Population,
        journey: CompiledJourney | None,
        share: WorkerShare,
    ) -> None:
        load = population.load
        self.engine = engine
        self.name = population.name
        self.journey = journey
        """The journey every user of this population runs; None: picked by weight."""
        self.corrected = load.is_open
        """Open model: latency counts from the scheduled (intended) send time."""
        self.offset = load.start_after
        self.graceful_stop = load.graceful_stop
        self.users: dict[int, VirtualUser] = {}
        self.accepting = True
        self.exhausted = False
        self.has_shared_iterations = False
        self.load_seconds = 0.0
        """When the load ended, in seconds from the start of the run."""
        self.end = UNBOUNDED_RUN_LIMIT
        self.closed: ClosedSchedule | None = None
        self.open: OpenSchedule | None = None
        self._shared_left: int | None = None
        self._spawned = 0
        self._arrivals: Iterator[float] | None = None
        self._next_arrival: float | None = None
        self._base = 0.0
        self._cut: asyncio.TimerHandle | None = None
        i = share_index(number, share.worker, share.workers)
        if load.is_open:
            # Populations after the first draw their randomized arrivals from their own
            # streams; the first keeps the run's seed (a one-population run is unchanged).
            seed = (share.seed or 0) + number * 2**32
            self.open = open_schedule(load, seed=seed).for_worker(i, share.workers)
            self.duration = self.open.duration
        else:
            self.closed = closed_schedule(load).for_worker(i, share.workers)
            self._shared_left = self.closed.shared_iterations
            self.has_shared_iterations = self._shared_left is not None
            self.duration = self.closed.duration

    def start(self, t0: float, end: float | None = None) -> None:
        """Arm the schedule; ``t0`` is the run's start in loop time, ``end`` overrides when
        the load ends (seconds from ``t0``)."""
        loop = self.engine.loop
        self._base = t0 + self.offset
        if end is None:
            end = self.offset + self.duration
        self.end = UNBOUNDED_RUN_LIMIT if math.isinf(end) else end
        first = self._schedule_arrivals if self.open is not None else self._control
        if self.open is not None:
            self._arrivals = iter(self.open.arrivals())
            self._next_arrival = next(self._arrivals, None)
        if self.offset > 0:
            loop.call_at(self._base, first)
        else:
            loop.call_soon(first)
        loop.call_at(t0 + self.end + TIMER_SLACK, self.end_load)

    # -- used by virtual users -------------------------------------------------------------
    def take_shared_iteration(self) -> bool:
        """Claim one of the population's shared iterations; False when none are left."""
        if self._shared_left is None:
            return True
        if self._shared_left <= 0:
            self.exhausted = True
            return False
        self._shared_left -= 1
        return True

    # -- scheduling ------------------------------------------------------------------------
    def _spawn(self, *, once: bool, intended: float) -> None:
        engine = self.engine
        uid = next(engine.uids)
        closed = self.closed
        iterations = closed.iterations_per_user if closed is not None else None
        vu = VirtualUser(engine, uid, once=once, iterations=iterations, pop=self)
        self.users[uid] = vu
        self._spawned += 1
        engine.recorder.user_started()
        vu.start_iteration(intended)

    def _control(self) -> None:
        """Closed model: match active users to the schedule's target every 50 ms."""
        if not self.accepting:
            return
        sched = self.closed
        assert sched is not None
        loop = self.engine.loop
        now = loop.time()
        target = sched.target_users(now - self._base)
        replace = sched.iterations_per_user is None and sched.shared_iterations is None
        users = self.users
        if not self.exhausted:
            count = len(users) if replace else self._spawned
            for _ in range(max(0, target - count)):
                self._spawn(once=False, intended=now)
                if self._halted():  # e.g. the new user emptied a feeder
                    break
        excess = len(users) - target
        if excess > 0:
            # Ramp-down: the newest users leave after their current iteration (as k6 does).
            candidates = (vu for vu in reversed(list(users.values())) if not vu.stop_requested)
            for vu in itertools.islice(candidates, excess):
                vu.stop_requested = True
        if (not replace and self._spawned >= sched.max_users and not users) or (
            self.exhausted and not users
        ):
            self.end_load()
            return
        loop.call_later(CONTROL_INTERVAL, self._control)

    def _halted(self) -> bool:
        return not self.accepting or self.exhausted

    def _schedule_arrivals(self) -> None:
        """Open model: arm a timer for every arrival due in the next 200 ms."""
        if not self.accepting:
            return
        loop = self.engine.loop
        base = self._base
        horizon = loop.time() - base + ARRIVAL_LOOKAHEAD
        arrivals = self._arrivals
        assert arrivals is not None
        nxt = self._next_arrival
        call_at = loop.call_at
        arrive = self._arrive
        while nxt is not None and nxt <= horizon:
            call_at(base + nxt, arrive, base + nxt)
            nxt = next(arrivals, None)
        self._next_arrival = nxt
        if nxt is not None:
            loop.call_later(CONTROL_INTERVAL, self._schedule_arrivals)

    def _arrive(self, at: float) -> None:
        if not self.accepting or self.exhausted:
            return
        open_ = self.open
        assert open_ is not None
        if len(self.users) >= open_.max_users:  # this worker's exact share of the cap
            # Never silently skipped: counted, and visible in the time series.
            self.engine.recorder.dropped += 1
            return
        self._spawn(once=True, intended=at)

    # -- ending ----------------------------------------------------------------------------
    def end_load(self) -> None:
        """No new users or iterations; in-flight ones get ``graceful_stop`` to finish."""
        if not self.accepting:
            return
        self.accepting = False
        engine = self.engine
        self.load_seconds = min(engine.loop.time() - engine.t0, self.end)
        for vu in list(self.users.values()):
            if vu.timer is not None:  # thinking or pacing: nothing in flight, leave now
                vu.finish()
        if self.users:
            self._cut = engine.loop.call_later(self.graceful_stop, self.cut)
        engine.population_ended()

    def cut(self) -> None:
        """The graceful period is over: drop what this population still has in flight."""
        self._cut = None
        pools = self.engine.pools
        for vu in list(self.users.values()):
            if vu.conn is None and vu.timer is None:
                # Waiting for a connection, in line or being made: the pool may still hand it
                # one, which VirtualUser.on_connection gives back when it sees this mark.
                pool = pools.get(vu.origin) if vu.origin is not None else None
                if vu.waiting and pool is not None and vu in pool.waiters:
                    pool.waiters.remove(vu)
                vu.waiting = True
            vu.cancel()
            vu.finish()

    def cancel_all(self) -> None:
        """Hard stop of the whole run: drop every request and timer of this population."""
        if self._cut is not None:
            self._cut.cancel()
            self._cut = None
        for vu in list(self.users.values()):
            vu.cancel()
