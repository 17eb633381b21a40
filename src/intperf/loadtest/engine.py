"""The load engine of one worker: drives virtual users on one event loop.

It turns a schedule (closed: users over time; open: arrival times) into virtual users,
flushes a :class:`SecondWindow` every second through ``on_second``, enforces timeouts, and
stops gracefully: at the end of the load no new request is sent, in-flight ones may finish
for ``graceful_stop`` seconds, then everything left is cut.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from intperf import __version__
from intperf.loadtest.allowlist import ResolvedTarget, TargetPolicy
from intperf.loadtest.http import Connection, Pool
from intperf.loadtest.plan import CompiledRequest, ExecutionPlan
from intperf.loadtest.profiles import ClosedSchedule, OpenSchedule, closed_schedule, open_schedule
from intperf.loadtest.recorder import Recorder
from intperf.loadtest.request import Origin
from intperf.loadtest.results import ErrorClass, SecondWindow
from intperf.loadtest.user import VirtualUser

log = logging.getLogger(__name__)

CONTROL_INTERVAL = 0.05
SWEEP_INTERVAL = 0.1
ARRIVAL_LOOKAHEAD = 0.2
#: Bound on a run whose load has no natural end (iterations without a duration).
UNBOUNDED_RUN_LIMIT = 24 * 3600.0
TIMER_SLACK = 0.005


@dataclass(frozen=True, slots=True)
class WorkerShare:
    """Which part of the load this engine runs."""

    worker: int = 0
    workers: int = 1
    seed: int | None = None


class Engine:
    """Runs one worker's share of a scenario's load."""

    def __init__(
        self,
        plan: ExecutionPlan,
        *,
        share: WorkerShare | None = None,
        on_second: Callable[[SecondWindow], None] | None = None,
        start_at_wall: float | None = None,
        duration: float | None = None,
        policy: TargetPolicy | None = None,
    ) -> None:
        self.plan = plan
        self.policy = policy if policy is not None else TargetPolicy.allow_all()
        """The allowed targets; None given = allow all (the CLI: the user names the target)."""
        self._path_limits: dict[Origin, ResolvedTarget] = {}
        """Origins allowed only under URL prefixes: their redirect targets' paths are checked."""
        scenario = plan.scenario
        self.load = scenario.load
        self.share = share or WorkerShare()
        self.on_second = on_second
        self.start_at_wall = start_at_wall
        seed = self.share.seed
        self.rng = random.Random(None if seed is None else seed * 7919 + self.share.worker)
        self.recorder = Recorder(list(plan.request_names))
        self.initial_vars: dict[str, str] = {k: str(v) for k, v in scenario.variables.items()}
        self.cookies_enabled: bool = scenario.cookies
        self.corrected = self.load.is_open
        """Open model: latency counts from the scheduled (intended) send time."""
        timeouts = scenario.timeouts
        self.connect_timeout = timeouts.connect
        self.read_timeout = timeouts.read
        self.total_timeout = timeouts.total
        self.default_header_lines = b"user-agent: intperf/%s\r\n" % __version__.encode() + b"".join(
            f"{k}: {v}\r\n".encode("latin-1")
            for k, v in scenario.headers.items()
            if k.lower() not in ("host", "content-length", "user-agent")
        )
        self.inflight: set[Connection] = set()
        self.pools: dict[Origin, Pool] = {}
        self.users: dict[int, VirtualUser] = {}
        self.accepting = True
        self.stopped = False
        self.exhausted = False
        self.connect_attempts = 0
        self._uids = itertools.count(self.share.worker, self.share.workers)
        self._shared_left: int | None = None
        self.has_shared_iterations = False
        self._closed: ClosedSchedule | None = None
        self._open: OpenSchedule | None = None
        self._arrivals: Iterator[float] | None = None
        self._next_arrival: float | None = None
        self._spawned = 0
        self._duration_override = duration
        self._done: asyncio.Future[None] | None = None
        self._t0 = 0.0
        self._planned = UNBOUNDED_RUN_LIMIT
        self._second = 0
        self._ssl: ssl.SSLContext | None = None
        self.loop: asyncio.AbstractEventLoop  # set when run() starts
        self.load_seconds = 0.0
        """How long the load phase lasted (until the schedule ended or the run was stopped)."""

    # -- public ----------------------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        """Seconds since the load started."""
        return self.loop.time() - self._t0

    async def run(self) -> None:
        """Run the load to its end (or until :meth:`stop`)."""
        loop = asyncio.get_running_loop()
        self.loop = loop
        # Refuses before any connection (TargetNotAllowedError) when a target is not allowed.
        for target in check_plan(self.plan, self.policy).values():
            self._add_pool(target)
        for req in self.plan.requests():
            req.pool = self.pools[req.origin]
        if self.start_at_wall is not None:
            delay = self.start_at_wall - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._t0 = loop.time() - (time.time() - self.start_at_wall)
        else:
            self._t0 = loop.time()
        self._done = loop.create_future()
        share = self.share
        load = self.load
        if load.is_open:
            self._open = open_schedule(load, seed=share.seed or 0).for_worker(
                share.worker, share.workers
            )
            self._arrivals = iter(self._open.arrivals())
            self._next_arrival = next(self._arrivals, None)
            duration = self._open.duration
            loop.call_soon(self._schedule_arrivals)
        else:
            self._closed = closed_schedule(load).for_worker(share.worker, share.workers)
            self._shared_left = self._closed.shared_iterations
            self.has_shared_iterations = self._shared_left is not None
            duration = self._closed.duration
            loop.call_soon(self._control)
        if self._duration_override is not None:
            duration = self._duration_override
        if duration is None or duration == float("inf"):
            duration = UNBOUNDED_RUN_LIMIT
        # libuv timers have millisecond granularity and fire in the order they were armed:
        # a little slack keeps an arrival due just before the end from losing to this timer.
        self._planned = duration
        loop.call_at(self._t0 + duration + TIMER_SLACK, self._load_ended)
        loop.call_at(self._t0 + 1.0, self._tick)
        loop.call_at(self._t0 + SWEEP_INTERVAL, self._sweep)
        try:
            await self._done
        finally:
            self._shutdown()
        self._emit(self.recorder.flush(self._second))

    def stop(self, *, hard: bool = False) -> None:
        """End the load now (abort criterion, signal); ``hard`` skips the graceful period."""
        if not self.accepting and not hard:
            return
        self._load_ended()
        if hard:
            self._hard_stop()

    # -- callbacks used by virtual users ---------------------------------------------------
    def add_origin(self, origin: Origin) -> bool:
        """Create the pool for ``origin``; raises TargetNotAllowedError when it is refused."""
        if origin in self.pools:
            return True
        self._add_pool(self.policy.resolve(origin))
        return True

    def check_redirect(self, url: str, origin: Origin, path: str) -> None:
        """Admit a redirect to ``url`` (a pool for its origin); raises TargetNotAllowedError."""
        if origin not in self.pools:
            self.add_origin(origin)
        limited = self._path_limits.get(origin)
        if limited is not None:
            limited.require_path(path, what=url)

    def _add_pool(self, target: ResolvedTarget) -> None:
        """The pool of an allowed origin, pinned to the addresses the policy checked."""
        origin = target.origin
        if target.paths is not None:
            self._path_limits[origin] = target
        ctx = None
        if origin.tls:
            ctx = self._ssl_context()
        pool = Pool(
            self.loop,
            origin,
            connect_timeout=self.connect_timeout,
            max_connections=self._max_connections(),
            ssl_context=ctx,
            inflight=self.inflight,
            connect_host=target.addresses,
        )
        pool.on_connect_attempt = self._count_connect
        self.pools[origin] = pool

    def take_shared_iteration(self) -> bool:
        """Claim one of the shared iterations; False when none are left."""
        if self._shared_left is None:
            return True
        if self._shared_left <= 0:
            self.exhausted = True
            return False
        self._shared_left -= 1
        return True

    def feeder_exhausted(self) -> None:
        """A queue feeder ran dry: no new users or iterations from now on."""
        if not self.exhausted:
            log.info("a queue feeder is exhausted; users finish their current iteration")
        self.exhausted = True

    def user_finished(self, vu: VirtualUser) -> None:
        """Bookkeeping when a virtual user leaves."""
        if self.users.pop(vu.uid, None) is not None:
            self.recorder.user_finished()
        self._maybe_done()

    # -- scheduling ------------------------------------------------------------------------
    def _spawn(self, *, once: bool, intended: float) -> None:
        uid = next(self._uids)
        closed = self._closed
        iterations = closed.iterations_per_user if closed is not None else None
        vu = VirtualUser(self, uid, once=once, iterations=iterations)
        self.users[uid] = vu
        self._spawned += 1
        self.recorder.user_started()
        vu.start_iteration(intended)

    def _control(self) -> None:
        """Closed model: match active users to the schedule's target every 50 ms."""
        if not self.accepting:
            return
        sched = self._closed
        assert sched is not None
        now = self.loop.time()
        target = sched.target_users(now - self._t0)
        replace = sched.iterations_per_user is None and sched.shared_iterations is None
        if not self.exhausted:
            count = len(self.users) if replace else self._spawned
            for _ in range(max(0, target - count)):
                self._spawn(once=False, intended=now)
                if self._halted():  # the new user may have exhausted a feeder
                    break
        excess = len(self.users) - target
        if excess > 0:
            # Ramp-down: the newest users leave after their current iteration (as k6 does).
            candidates = (vu for vu in reversed(list(self.users.values()))
                          if not vu.stop_requested)
            for vu in itertools.islice(candidates, excess):
                vu.stop_requested = True
        if not replace and self._spawned >= sched.max_users and not self.users:
            self._load_ended()
            return
        if self.exhausted and not self.users:
            self._load_ended()
            return
        self.loop.call_later(CONTROL_INTERVAL, self._control)

    def _halted(self) -> bool:
        return not self.accepting or self.exhausted

    def _schedule_arrivals(self) -> None:
        """Open model: arm a timer for every arrival due in the next 200 ms."""
        if not self.accepting:
            return
        horizon = self.loop.time() - self._t0 + ARRIVAL_LOOKAHEAD
        arrivals = self._arrivals
        assert arrivals is not None
        nxt = self._next_arrival
        t0 = self._t0
        call_at = self.loop.call_at
        while nxt is not None and nxt <= horizon:
            call_at(t0 + nxt, self._arrive, t0 + nxt)
            nxt = next(arrivals, None)
        self._next_arrival = nxt
        if nxt is not None:
            self.loop.call_later(CONTROL_INTERVAL, self._schedule_arrivals)

    def _arrive(self, at: float) -> None:
        if not self.accepting or self.exhausted:
            return
        if len(self.users) >= self._max_users():
            # Never silently skipped: counted, and visible in the time series.
            self.recorder.dropped += 1
            return
        self._spawn(once=True, intended=at)

    def _max_users(self) -> int:
        if self._open is not None:
            return self._open.max_users  # this worker's exact share
        return max(1, self.load.max_users // self.share.workers)

    def _max_connections(self) -> int | None:
        m = self.load.max_connections
        return None if m is None else max(1, m // self.share.workers)

    # -- time ------------------------------------------------------------------------------
    def _tick(self) -> None:
        self._emit(self.recorder.flush(self._second))
        self._second += 1
        if not self.stopped:
            self.loop.call_at(self._t0 + self._second + 1.0, self._tick)

    def _emit(self, window: SecondWindow) -> None:
        if self.on_second is not None:
            self.on_second(window)

    def _sweep(self) -> None:
        """Enforce read and total timeouts on in-flight and queued requests.

        The read timeout bounds the wait for the *next* bytes: progress is noticed here, by
        the byte count moving between sweeps, so the hot path pays nothing for it.
        """
        if self.stopped:
            return
        now = self.loop.time()
        read = self.read_timeout
        late: list[tuple[Connection, str]] = []
        for c in self.inflight:
            if c.nbytes != c.seen_bytes:
                c.seen_bytes = c.nbytes
                c.last_activity = now
            if now > c.deadline:
                late.append((c, f"no complete response within the total timeout "
                                f"{self.total_timeout:g}s"))
            elif now - c.last_activity > read:
                late.append((c, f"no bytes received for the read timeout {read:g}s"))
        for conn, message in late:
            conn.timeout(message)
        total = self.total_timeout
        for pool in self.pools.values():
            if pool.waiters:
                queued = [
                    w
                    for w in pool.waiters
                    if isinstance(w, VirtualUser) and now - w.intended > total
                ]
                for vu in queued:
                    pool.waiters.remove(vu)
                    vu.on_error(
                        ErrorClass.READ_TIMEOUT,
                        f"no free connection within the total timeout {total:g}s",
                    )
        self.loop.call_later(SWEEP_INTERVAL, self._sweep)

    def _load_ended(self) -> None:
        """No new work from now on; in-flight requests get ``graceful_stop`` to finish."""
        if not self.accepting:
            return
        self.accepting = False
        self.load_seconds = min(self.loop.time() - self._t0, self._planned)
        for vu in list(self.users.values()):
            if vu.timer is not None:  # thinking or pacing: nothing in flight, leave now
                vu.finish()
        self.loop.call_later(self.load.graceful_stop, self._hard_stop)
        self._maybe_done()

    def _maybe_done(self) -> None:
        if not self.accepting and not self.users:
            self._hard_stop()

    def _hard_stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.accepting = False
        for vu in list(self.users.values()):
            vu.cancel()
        done = self._done
        if done is not None and not done.done():
            done.set_result(None)

    def _shutdown(self) -> None:
        self.stopped = True
        for pool in self.pools.values():
            pool.close()
        for conn in list(self.inflight):
            conn.exchange = None
            conn.abort()

    def _count_connect(self) -> None:
        self.connect_attempts += 1

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            ctx = ssl.create_default_context()
            if not self.plan.scenario.tls_verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self._ssl = ctx
        return self._ssl


def request_target(req: CompiledRequest) -> tuple[str, bool]:
    """The path of ``req`` as far as it is literal, and whether that is the whole path."""
    if req.static_head is not None:
        return req.static_head.split(b" ", 2)[1].decode("latin-1").split("?", 1)[0], True
    pieces = req.template.head_pieces
    first = pieces[0] if pieces and isinstance(pieces[0], str) else ""
    target = first[len(req.template.method) + 1 :]
    end = target.find(" HTTP/1.1\r\n")
    complete = end >= 0
    if complete:
        target = target[:end]
    if "?" in target:
        return target.split("?", 1)[0], True
    return target, complete


def check_plan(plan: ExecutionPlan, policy: TargetPolicy | None) -> dict[Origin, ResolvedTarget]:
    """Check every origin (and, under URL prefixes, every request path) of ``plan``.

    Returns the resolved targets by origin; raises TargetNotAllowedError. Connects nowhere.
    """
    policy = policy if policy is not None else TargetPolicy.allow_all()
    targets = {origin: policy.resolve(origin) for origin in plan.origins}
    for req in plan.requests():
        target = targets[req.origin]
        if target.paths is not None:
            path, complete = request_target(req)
            what = f"request '{req.name}' ({req.origin.url}{path}{'' if complete else '...'})"
            target.require_path(path, complete=complete, what=what)
    return targets
