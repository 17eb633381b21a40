"""Runs a scenario in one or several worker processes and merges their seconds exactly.

Workers compile the scenario, report ready, start together at a wall-clock instant chosen
by the parent, and stream one :class:`SecondWindow` per second back. The parent merges
them into one :class:`TimeSeries`, reports progress, and judges ``abort`` criteria live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import queue
import signal
import socket
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection as PipeEnd
from typing import Any, Literal

import uvloop

from intperf.errors import IntperfError, RunInterruptedError, TargetUnreachableError
from intperf.loadtest import populations
from intperf.loadtest.allowlist import ResolvedTarget, TargetPolicy
from intperf.loadtest.criteria import Criterion, CriterionResult, breached_now, evaluate_all
from intperf.loadtest.engine import Engine, WorkerShare, check_plan
from intperf.loadtest.plan import ExecutionPlan, compile_plan
from intperf.loadtest.request import Origin
from intperf.loadtest.results import RequestWindow, SecondWindow, TimeSeries
from intperf.loadtest.scenario import Scenario

log = logging.getLogger(__name__)

RunStatus = Literal["completed", "aborted", "interrupted"]


@dataclass(slots=True)
class Progress:
    """What a live view shows, updated once a second."""

    elapsed: float
    duration: float | None
    last: SecondWindow | None
    series: TimeSeries
    workers: int


@dataclass(slots=True)
class RunOutcome:
    """Everything measured by a run, before reports."""

    series: TimeSeries
    started_at: datetime
    ended_at: datetime
    duration_s: float
    status: RunStatus
    abort_reason: str | None
    criteria: list[CriterionResult] = field(default_factory=list)
    processes: int = 1

    @property
    def verdict(self) -> Literal["passed", "failed", "aborted", "interrupted"]:
        """The run's final status: how it ended, else whether every criterion passed."""
        if self.status == "interrupted":
            return "interrupted"
        if self.status == "aborted":
            return "aborted"
        return "passed" if all(r.passed for r in self.criteria) else "failed"


def planned_duration(scenario: Scenario) -> float | None:
    """Length of the load phase as scheduled (until the last population ends, start delays
    included), or None when iterations end a population."""
    return populations.planned_duration(scenario)


def preflight(
    scenario: Scenario,
    origins: list[Origin],
    targets: Mapping[Origin, ResolvedTarget] | None = None,
) -> None:
    """Refuse to start when a target does not accept TCP connections (exit code 3).

    With ``targets`` (checked by a :class:`TargetPolicy`), connect to their addresses only.
    """
    timeout = scenario.timeouts.connect
    for origin in origins:
        target = targets.get(origin) if targets is not None else None
        hosts = target.addresses if target is not None else (origin.host,)
        try:
            _connect_any(hosts, origin.port, timeout)
        except ConnectionRefusedError:
            raise TargetUnreachableError(
                f"cannot reach {origin.url}: connection refused (is the target running?)"
            ) from None
        except TimeoutError:
            raise TargetUnreachableError(
                f"cannot reach {origin.url}: no answer within the connect timeout {timeout:g}s"
            ) from None
        except OSError as exc:
            raise TargetUnreachableError(
                f"cannot reach {origin.url}: {exc.strerror or exc}"
            ) from None


def _connect_any(hosts: Sequence[str], port: int, timeout: float) -> None:
    """Open and close a TCP connection to the first of ``hosts`` that accepts one."""
    for i, host in enumerate(hosts):
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return
        except OSError:
            if i == len(hosts) - 1:
                raise


class LoadTest:
    """One run of a scenario: workers, merging, live abort criteria.

    ``policy`` limits the targets (None = allow all, as the CLI does); worker processes get a
    pickled copy, so a custom resolver must be picklable (a module-level function).
    """

    def __init__(
        self,
        scenario: Scenario,
        criteria: list[Criterion],
        *,
        processes: int = 1,
        seed: int | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        policy: TargetPolicy | None = None,
    ) -> None:
        self.scenario = scenario
        self.policy = policy
        self.criteria = criteria
        self.processes = max(1, processes)
        self.seed = seed
        self.on_progress = on_progress
        self.series = TimeSeries()
        self.duration = planned_duration(scenario)
        self._abort_reason: str | None = None
        self._interrupted = False
        self._counts: dict[int, int] = {}
        self._abort_criteria = [c for c in criteria if c.abort]
        self._so_far: dict[str, RequestWindow] = {}  # running totals for live abort checks
        self._start = 0.0

    # -- merging and live criteria ---------------------------------------------------------
    def _accept(self, window: SecondWindow) -> bool:
        """Merge one worker's second; True when the run must be aborted."""
        self.series.add(window)
        n = self._counts.get(window.second, 0) + 1
        self._counts[window.second] = n
        if n < self.processes:
            return False
        merged = self.series.seconds[window.second]
        for w in merged.requests.values():  # sealed: kept for the whole run, only read now
            w.latency.compact()
            w.service.compact()
        if self.on_progress is not None:
            self.on_progress(
                Progress(
                    time.time() - self._start, self.duration, merged, self.series, self.processes
                )
            )
        if self._abort_reason is None and self._abort_criteria:
            for name, w in merged.requests.items():
                total = self._so_far.get(name)
                if total is None:
                    total = self._so_far[name] = RequestWindow()
                total.merge(w)
            for c in self._abort_criteria:
                res = breached_now(c, self.series, window.second + 1, so_far=self._so_far)
                if res is not None:
                    self._abort_reason = f"abort criterion breached: {res.message}"
                    log.warning("%s", self._abort_reason)
                    return True
        return False

    # -- running ---------------------------------------------------------------------------
    def run(self) -> RunOutcome:
        """Run to the end and return the merged measurements with the criteria verdicts."""
        plan = compile_plan(self.scenario, worker=0, workers=self.processes, seed=self.seed)
        # The policy first: a refused target must not get even the preflight's TCP connect.
        targets = check_plan(plan, self.policy)
        preflight(self.scenario, plan.origins, targets)
        started = datetime.now(UTC)
        load_seconds = self._run_inline(plan) if self.processes == 1 else self._run_processes()
        ended = datetime.now(UTC)
        status: RunStatus = "completed"
        if self._interrupted:
            status = "interrupted"
        elif self._abort_reason is not None:
            status = "aborted"
        duration = max(load_seconds, 1e-9)
        results = evaluate_all(self.criteria, self.series, run_seconds=duration)
        return RunOutcome(
            self.series,
            started,
            ended,
            duration,
            status,
            self._abort_reason,
            results,
            self.processes,
        )

    def _run_inline(self, plan: ExecutionPlan) -> float:
        engine_box: list[Engine] = []

        def on_second(w: SecondWindow) -> None:
            if self._accept(w):
                engine_box[0].stop()

        engine = Engine(
            plan, share=WorkerShare(0, 1, self.seed), on_second=on_second, policy=self.policy
        )
        engine_box.append(engine)

        async def main() -> None:
            loop = asyncio.get_running_loop()

            def interrupt() -> None:
                self._interrupted = True
                engine.stop(hard=True)

            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal.SIGINT, interrupt)
                loop.add_signal_handler(signal.SIGTERM, interrupt)
            self._start = time.time()
            await engine.run()

        uvloop.run(main())
        return engine.load_seconds

    def _run_processes(self) -> float:
        ctx = mp.get_context("spawn")
        results: mp.Queue[tuple[Any, ...]] = ctx.Queue()
        pipes: list[PipeEnd] = []
        procs = []
        for i in range(self.processes):
            parent_end, child_end = ctx.Pipe()
            p = ctx.Process(
                target=worker_main,
                name=f"intperf-worker-{i}",
                daemon=True,
                args=(
                    self.scenario,
                    WorkerShare(i, self.processes, self.seed),
                    results,
                    child_end,
                    self.policy,
                ),
            )
            p.start()
            child_end.close()
            pipes.append(parent_end)
            procs.append(p)
        old = signal.getsignal(signal.SIGINT)

        def interrupt(_sig: int, _frame: object) -> None:
            self._interrupted = True
            for pe in pipes:
                with contextlib.suppress(OSError):
                    pe.send(("stop", True))

        signal.signal(signal.SIGINT, interrupt)
        try:
            return self._supervise(results, pipes, procs)
        except RunInterruptedError as exc:
            # Keep what was merged so far: the caller reports an interrupted run.
            log.warning("%s", exc)
            self._interrupted = True
            self._abort_reason = str(exc)
            for pe in pipes:
                with contextlib.suppress(OSError):
                    pe.send(("stop", True))
            return max(0.0, time.time() - self._start)
        finally:
            signal.signal(signal.SIGINT, old)
            for p in procs:
                p.join(timeout=5)
                if p.is_alive():
                    p.kill()
            for pe in pipes:
                pe.close()

    def _supervise(
        self,
        results: mp.Queue[tuple[Any, ...]],
        pipes: list[PipeEnd],
        procs: Sequence[mp.process.BaseProcess],
    ) -> float:
        ready = 0
        while ready < len(procs):
            msg = self._next(results, procs)
            if msg[0] == "ready":
                ready += 1
            elif msg[0] == "error":
                raise IntperfError(f"worker {msg[1]} failed to start:\n{msg[2]}")
        self._start = time.time() + 0.05
        for pe in pipes:
            pe.send(("start", self._start))
        done = 0
        load_seconds = 0.0
        stop_sent = False
        while done < len(procs):
            msg = self._next(results, procs)
            kind = msg[0]
            if kind == "second":
                if self._accept(SecondWindow.from_dict(msg[1])) and not stop_sent:
                    stop_sent = True
                    for pe in pipes:
                        pe.send(("stop", False))
            elif kind == "done":
                done += 1
                load_seconds = max(load_seconds, float(msg[2]))
            elif kind == "error":
                self._interrupted = True
                for pe in pipes:
                    with contextlib.suppress(OSError):
                        pe.send(("stop", True))
                log.error("worker %s failed: %s", msg[1], msg[2])
                done += 1
        return load_seconds

    def _next(
        self, results: mp.Queue[tuple[Any, ...]], procs: Sequence[mp.process.BaseProcess]
    ) -> tuple[Any, ...]:
        while True:
            try:
                return results.get(timeout=0.5)
            except queue.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    self._interrupted = True
                    raise RunInterruptedError(
                        f"worker process {dead[0].name} died with exit code {dead[0].exitcode}; "
                        "the data received so far is kept"
                    ) from None


def worker_main(
    scenario: Scenario,
    share: WorkerShare,
    results: mp.Queue[tuple[Any, ...]],
    pipe: PipeEnd,
    policy: TargetPolicy | None = None,
) -> None:
    """Entry point of a worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides how to stop
    try:
        plan = compile_plan(scenario, worker=share.worker, workers=share.workers, seed=share.seed)
    except Exception:  # noqa: BLE001 - reported to the parent, which raises
        results.put(("error", share.worker, traceback.format_exc()))
        return
    results.put(("ready", share.worker))
    cmd = pipe.recv()
    if cmd[0] != "start":
        return
    engine = Engine(
        plan,
        share=share,
        start_at_wall=float(cmd[1]),
        on_second=lambda w: results.put(("second", w.to_dict())),
        policy=policy,
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def on_command() -> None:
            try:
                msg = pipe.recv()
            except EOFError:
                loop.remove_reader(pipe.fileno())
                engine.stop(hard=True)
                return
            if msg[0] == "stop":
                engine.stop(hard=bool(msg[1]))

        loop.add_reader(pipe.fileno(), on_command)
        try:
            await engine.run()
        finally:
            loop.remove_reader(pipe.fileno())

    try:
        uvloop.run(main())
    except Exception:  # noqa: BLE001 - reported to the parent
        results.put(("error", share.worker, traceback.format_exc()))
        return
    results.put(("done", share.worker, engine.load_seconds))
