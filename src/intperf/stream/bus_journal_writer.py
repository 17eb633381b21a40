"""Group commit for the embedded bus's journal: one worker-thread write per gathered batch.

What the bus enqueues while a batch is being written and fsynced goes into the next batch, so
one fsync covers every publish and commit of that time and the event loop never waits on disk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from intperf.errors import BusError
from intperf.stream.bus_journal import Journal, JournalBatch, Replay, journal_error

__all__ = ["JournalWriter"]

log = logging.getLogger(__name__)


class JournalWriter:
    """Writes batches in order in a worker thread; ``on_durable`` runs (on the loop) after each.

    After a failed write the journal is not trusted any more (a failed fsync may have dropped
    dirty pages for good, PostgreSQL's "fsyncgate", 2018): ``failure`` is set and every later
    call raises it.
    """

    def __init__(self, journal: Journal, on_durable: Callable[[JournalBatch], None]) -> None:
        self.journal = journal
        self.failure: BusError | None = None
        self._on_durable = on_durable
        self._batch = JournalBatch()
        self._future: asyncio.Future[None] | None = None  # the gathering batch's
        self._last: asyncio.Future[None] | None = None  # the latest batch's (gathering or written)
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> Replay:
        """Lock and read back the journal (in a worker thread)."""
        return await asyncio.to_thread(self.journal.open)

    def batch(self) -> JournalBatch:
        """The batch being gathered; the writer picks it up at its next turn."""
        if self.failure is not None:
            raise self.failure
        if self._future is None:
            loop = asyncio.get_running_loop()
            self._future = self._last = loop.create_future()
            if self._task is None or self._task.done():
                self._task = loop.create_task(self._run(), name="intperf-bus-journal")
        return self._batch

    async def sync(self) -> None:
        """Return once everything enqueued so far is durable (or raise the failure)."""
        if self.failure is not None:
            raise self.failure
        if self._last is not None and not self._last.done():
            await asyncio.shield(self._last)
        elif self._last is not None:
            self._last.result()

    async def close(self) -> None:
        """Write what is still gathered, then release the journal."""
        try:
            if self._task is not None:
                await self._task
        finally:
            await asyncio.to_thread(self.journal.close)

    async def _run(self) -> None:
        while self._future is not None:
            batch, future = self._batch, self._future
            self._batch, self._future = JournalBatch(), None
            try:
                await asyncio.to_thread(self.journal.write, batch)
            except OSError as exc:
                log.exception("stream journal %s: write failed", self.journal.dir)
                self._fail(future, journal_error(self.journal.dir, exc))
                return
            except BaseException as exc:
                self._fail(future, BusError(f"the stream journal failed: {exc!r}",
                                            retriable=False))
                raise
            self._on_durable(batch)
            future.set_result(None)

    def _fail(self, future: asyncio.Future[None], failure: BusError) -> None:
        self.failure = failure
        for f in (future, self._future):
            if f is not None and not f.done():
                f.set_exception(failure)
                f.exception()  # retrieved: callers get ``failure`` from ``sync``
        self._future = None
        self._batch = JournalBatch()
