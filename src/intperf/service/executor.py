"""The run queue: a bounded queue, N concurrent runs, one child process per run, cancel.

The API never runs load itself: each run is a spawned process (service/child.py), so a busy
run cannot slow the API down, and a crashed run cannot take the service with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection as PipeEnd
from typing import Any

from intperf.config import Settings
from intperf.service.child import run_child
from intperf.service.errors import ApiError
from intperf.store import RunRepository

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Running:
    process: mp.process.BaseProcess
    pipe: PipeEnd


@dataclass(slots=True)
class RunExecutor:
    """Queue and slots; live figures and subscribers for the runs in flight."""

    settings: Settings
    runs: RunRepository
    on_finished: Callable[[str], None] | None = None
    live: dict[str, dict[str, Any]] = field(default_factory=dict)
    _queue: asyncio.Queue[str] | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _running: dict[str, _Running] = field(default_factory=dict)
    _cancelled: set[str] = field(default_factory=set)
    _subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = field(default_factory=dict)

    async def start(self) -> None:
        """Start the worker slots."""
        limits = self.settings.intperf.limits
        # max-queued-runs 0 means no waiting line; asyncio's 0 would mean unbounded.
        self._queue = asyncio.Queue(maxsize=max(1, limits.max_queued_runs))
        for i in range(limits.max_concurrent_runs):
            self._tasks.append(asyncio.create_task(self._slot(), name=f"run-slot-{i}"))

    async def stop(self) -> None:
        """Stop taking runs; running children are asked to stop (they end as interrupted)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for running in list(self._running.values()):
            with contextlib.suppress(ProcessLookupError, TypeError):
                os.kill(running.process.pid or 0, signal.SIGTERM)
        for running in list(self._running.values()):
            await asyncio.to_thread(running.process.join, 15)

    # -- submitting and cancelling ---------------------------------------------------------
    @property
    def queued(self) -> int:
        """Runs waiting for a slot."""
        return self._queue.qsize() if self._queue is not None else 0

    @property
    def active(self) -> list[str]:
        """Runs in flight."""
        return list(self._running)

    def has_room(self) -> bool:
        """Whether one more run can be queued now."""
        return self._queue is not None and not self._queue.full()

    def submit(self, run_id: str) -> None:
        """Queue a run already stored with status ``queued`` (503 when the queue is full)."""
        assert self._queue is not None, "executor not started"
        try:
            self._queue.put_nowait(run_id)
        except asyncio.QueueFull:
            self.runs.set_status(run_id, "error", error="the run queue is full",
                                 ended_at=datetime.now(UTC))
            raise ApiError(503, f"the run queue is full ({self._queue.maxsize} waiting); "
                                "try again later", retry_after=30) from None

    def cancel(self, run_id: str) -> bool:
        """Cancel a queued or running run; False when it is not in flight."""
        running = self._running.get(run_id)
        if running is not None:
            self._cancelled.add(run_id)
            with contextlib.suppress(ProcessLookupError, TypeError):
                os.kill(running.process.pid or 0, signal.SIGTERM)
            return True
        record = self.runs.get(run_id)
        if record is not None and record.status == "queued":
            self._cancelled.add(run_id)
            self.runs.set_status(run_id, "cancelled", ended_at=datetime.now(UTC))
            self._publish(run_id, {"type": "end", "status": "cancelled"})
            return True
        return False

    # -- live updates ----------------------------------------------------------------------
    def subscribe(self, run_id: str) -> asyncio.Queue[dict[str, Any]]:
        """A queue of live messages for ``run_id`` (``progress`` then ``end``)."""
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=100)
        self._subscribers.setdefault(run_id, set()).add(q)
        return q

    def unsubscribe(self, run_id: str, q: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop delivering to ``q``."""
        subs = self._subscribers.get(run_id)
        if subs is not None:
            subs.discard(q)
            if not subs:
                del self._subscribers[run_id]

    def _publish(self, run_id: str, message: dict[str, Any]) -> None:
        for q in list(self._subscribers.get(run_id, ())):
            if q.full():  # a slow reader loses old progress, never the end
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(message)

    # -- running ---------------------------------------------------------------------------
    async def _slot(self) -> None:
        assert self._queue is not None
        while True:
            run_id = await self._queue.get()
            if run_id in self._cancelled:
                self._cancelled.discard(run_id)
                continue
            try:
                await self._execute(run_id)
            except Exception:
                log.exception("run %s could not be executed", run_id)
                with contextlib.suppress(Exception):
                    self.runs.set_status(run_id, "error", error="the run process failed",
                                         ended_at=datetime.now(UTC))

    async def _execute(self, run_id: str) -> None:
        loop = asyncio.get_running_loop()
        ctx = mp.get_context("spawn")
        parent_end, child_end = ctx.Pipe(duplex=False)
        process = ctx.Process(target=run_child, name=f"intperf-run-{run_id}",
                              args=(self.settings.model_dump(by_alias=True), run_id, child_end))
        process.start()
        child_end.close()
        self._running[run_id] = _Running(process, parent_end)
        loop.add_reader(parent_end.fileno(), self._on_message, run_id, parent_end)
        try:
            await asyncio.to_thread(process.join)
        finally:
            loop.remove_reader(parent_end.fileno())
            # Messages still buffered in the pipe are the last progress and the end.
            while True:
                try:
                    if not parent_end.poll():
                        break
                    self._handle(run_id, parent_end.recv())
                except (EOFError, OSError):
                    break
            parent_end.close()
            del self._running[run_id]
        record = self.runs.get(run_id)
        if run_id in self._cancelled:
            self._cancelled.discard(run_id)
            self.runs.set_status(run_id, "cancelled", ended_at=datetime.now(UTC))
            status = "cancelled"
        elif record is not None and record.status in ("queued", "running"):
            status = "error" if process.exitcode else "interrupted"
            self.runs.set_status(run_id, status, ended_at=datetime.now(UTC),
                                 error=f"the run process exited with code {process.exitcode}")
        else:
            status = record.status if record is not None else "error"
        self.live.pop(run_id, None)
        self._publish(run_id, {"type": "end", "status": status})
        if self.on_finished is not None:
            self.on_finished(run_id)

    def _on_message(self, run_id: str, pipe: PipeEnd) -> None:
        try:
            message = pipe.recv()
        except (EOFError, OSError):
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(pipe.fileno())
            return
        self._handle(run_id, message)

    def _handle(self, run_id: str, message: dict[str, Any]) -> None:
        if message.get("type") == "progress":
            self.live[run_id] = message["live"]
            self._publish(run_id, message)
