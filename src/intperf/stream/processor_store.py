"""Where the stream processor's progress goes: the repository, called from one worker thread.

One thread, one call at a time: a store is retried only after the previous attempt failed
(rolled back), so a retry never writes the same outputs twice. Retriable failures (the
database went away) back off exponentially; the processor pauses meanwhile and commits nothing.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from intperf.errors import StorageError
from intperf.store.stream_repository import Checkpoint, StreamProgress

__all__ = ["Backoff", "ProgressStore", "StoreRunner"]

log = logging.getLogger(__name__)


class ProgressStore(Protocol):
    """What the processor needs of ``intperf.store.StreamRepository``."""

    def store_progress(self, group_id: str, progress: StreamProgress) -> None:
        """Store windows, late events, dead letters, slow queries and checkpoints atomically."""
        ...

    def checkpoints(self, group_id: str) -> dict[tuple[str, int], Checkpoint]:
        """The stored checkpoints of ``group_id``."""
        ...


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff between store attempts: ``initial_s * 2**n``, at most ``max_s``."""

    initial_s: float = 0.2
    max_s: float = 5.0

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` consecutive failures (from 1)."""
        return float(min(self.max_s, self.initial_s * 2 ** max(0, failures - 1)))


class StoreRunner:
    """Runs repository calls for one group in a dedicated worker thread."""

    def __init__(self, store: ProgressStore, group: str) -> None:
        self.store = store
        self.group = group
        self._pool: ThreadPoolExecutor | None = None

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"stream-store-{self.group}")
        return self._pool

    async def store_progress(self, progress: StreamProgress) -> None:
        """Store ``progress`` in one transaction (StorageError when the database fails)."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor(), self.store.store_progress, self.group,
                                   progress)

    async def checkpoints(self) -> dict[tuple[str, int], Checkpoint]:
        """The group's stored checkpoints."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), self.store.checkpoints, self.group)

    async def checkpoints_with_retry(self, backoff: Backoff,
                                     stopping: asyncio.Event) -> dict[tuple[str, int], Checkpoint]:
        """:meth:`checkpoints`, retried while the database is away (until ``stopping``)."""
        failures = 0
        while True:
            try:
                return await self.checkpoints()
            except StorageError as exc:
                if not exc.retriable or stopping.is_set():
                    raise
                failures += 1
                delay = backoff.delay(failures)
                log.warning("cannot read the checkpoints of group %s (%s); retrying in %.1f s",
                            self.group, exc, delay)
                try:
                    async with asyncio.timeout(delay):
                        await stopping.wait()
                except TimeoutError:
                    pass

    def close(self) -> None:
        """Release the thread (a call still running finishes on its own)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
