"""The load engine of one worker: drives virtual users on one event loop.

It runs every population of the scenario (one :class:`Launcher` each turns its schedule,
closed: users over time, open: arrival times, into virtual users), flushes a
:class:`SecondWindow` of run totals every second through ``on_second``, enforces timeouts,
and stops gracefully: at the end of a population's load it starts no new iteration,
in-flight ones may finish for ``graceful_stop`` seconds, then what is left is cut. The run
ends when every population has.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from intperf import __version__
from intperf.loadtest.allowlist import ResolvedTarget, TargetPolicy
from intperf.loadtest.http import Connection, Pool
from intperf.loadtest.launcher import Launcher
from intperf.loadtest.plan import CompiledRequest, ExecutionPlan
from intperf.loadtest.populations import populations, total_max_connections
from intperf.loadtest.recorder import Recorder
from intperf.loadtest.request import Origin
from intperf.loadtest.results import ErrorClass, SecondWindow
from intperf.loadtest.user import VirtualUser

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 0.1


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
        self.populations = populations(scenario)
        self.share = share or WorkerShare()
        self.on_second = on_second
        self.start_at_wall = start_at_wall
        seed = self.share.seed
        self.rng = random.Random(None if seed is None else seed * 7919 + self.share.worker)
        self.recorder = Recorder(list(plan.request_names))
        self.initial_vars: dict[str, str] = {k: str(v) for k, v in scenario.variables.items()}
        self.cookies_enabled: bool = scenario.cookies
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
        self.accepting = True
        """False once every population's load has ended."""
        self.stopped = False
        self.connect_attempts = 0
        self.uids = itertools.count(self.share.worker, self.share.workers)
        """User numbers, unique in the run (across populations and workers)."""
        self._duration_override = duration
        self._done: asyncio.Future[None] | None = None
        self.t0 = 0.0
        """Loop time of the start of the run."""
        self._second = 0
        self._ssl: ssl.SSLContext | None = None
        self.loop: asyncio.AbstractEventLoop  # set when run() starts
        self.load_seconds = 0.0
        """How long the load phase lasted: until the last population's schedule ended, or
        the run was stopped."""
        self.launchers: list[Launcher] = [
            Launcher(self, number, pop,
                     plan.only_journey if pop.journey is None else plan.journeys[pop.journey],
                     self.share)
            for number, pop in enumerate(self.populations)
        ]
        """One per population, in the scenario's order."""

    # -- public ----------------------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        """Seconds since the load started."""
        return self.loop.time() - self.t0

    @property
    def users(self) -> dict[int, VirtualUser]:
        """The active virtual users of every population (a snapshot)."""
        return {uid: vu for launcher in self.launchers for uid, vu in launcher.users.items()}

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
            self.t0 = loop.time() - (time.time() - self.start_at_wall)
        else:
            self.t0 = loop.time()
        self._done = loop.create_future()
        for launcher in self.launchers:
            launcher.start(self.t0, self._duration_override)
        loop.call_at(self.t0 + 1.0, self._tick)
        loop.call_at(self.t0 + SWEEP_INTERVAL, self._sweep)
        try:
            await self._done
        finally:
            self._shutdown()
        self._emit(self.recorder.flush(self._second))

    def stop(self, *, hard: bool = False) -> None:
        """End the load now (abort criterion, signal); ``hard`` skips the graceful period."""
        if not self.accepting and not hard:
            return
        for launcher in self.launchers:
            launcher.end_load()
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

    def feeder_exhausted(self, vu: VirtualUser | None = None) -> None:
        """A queue feeder ran dry for ``vu``: its population (every one when None) starts no
        new users or iterations from now on."""
        launchers = self.launchers if vu is None else [vu.pop]
        for launcher in launchers:
            if not launcher.exhausted:
                log.info("a queue feeder is exhausted; users of %r finish their current "
                         "iteration", launcher.name)
            launcher.exhausted = True

    def user_finished(self, vu: VirtualUser) -> None:
        """Bookkeeping when a virtual user leaves."""
        if vu.pop.users.pop(vu.uid, None) is not None:
            self.recorder.user_finished()
        if not self.accepting:
            self._maybe_done()

    def population_ended(self) -> None:
        """A population's load ended; the run's load ends with the last one."""
        if any(launcher.accepting for launcher in self.launchers):
            return
        self.accepting = False
        self.load_seconds = max((launcher.load_seconds for launcher in self.launchers),
                                default=0.0)
        self._maybe_done()

    def _max_connections(self) -> int | None:
        m = total_max_connections(self.populations)
        return None if m is None else max(1, m // self.share.workers)

    # -- time ------------------------------------------------------------------------------
    def _tick(self) -> None:
        self._emit(self.recorder.flush(self._second))
        self._second += 1
        if not self.stopped:
            self.loop.call_at(self.t0 + self._second + 1.0, self._tick)

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

    def _maybe_done(self) -> None:
        if not self.accepting and not any(launcher.users for launcher in self.launchers):
            self._hard_stop()

    def _hard_stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.accepting = False
        for launcher in self.launchers:
            launcher.cancel_all()
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
