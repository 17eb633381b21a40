"""A semaphore bulkhead (Resilience4j ``SemaphoreBulkhead``): at most N calls at once.

``async with`` and async functions share one asyncio pool; ``with`` and sync functions share a
separate thread pool of the same size (a thread cannot wait on an asyncio semaphore).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import ParamSpec, TypeVar, cast

from intperf.errors import BulkheadFullError

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class BulkheadConfig:
    """Resilience4j defaults: 25 concurrent calls, no waiting (seconds)."""

    max_concurrent_calls: int = 25
    max_wait_duration: float = 0.0

    def __post_init__(self) -> None:
        if self.max_concurrent_calls < 1 or self.max_wait_duration < 0:
            raise ValueError("need max_concurrent_calls >= 1 and max_wait_duration >= 0")


class Bulkhead:
    """Limits concurrent calls; a call that finds no slot within the wait is rejected."""

    def __init__(
        self,
        name: str,
        config: BulkheadConfig | None = None,
        *,
        on_reject: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.config = config or BulkheadConfig()
        self._free = self.config.max_concurrent_calls
        self._waiters: asyncio.Semaphore | None = None
        self._threads = threading.BoundedSemaphore(self.config.max_concurrent_calls)
        self._on_reject = on_reject
        self.rejected_calls = 0

    @property
    def available_concurrent_calls(self) -> int:
        """Free slots of the asyncio pool."""
        return self._free

    def _reject(self) -> BulkheadFullError:
        self.rejected_calls += 1
        if self._on_reject is not None:
            self._on_reject(self.name)
        return BulkheadFullError(f"bulkhead {self.name!r} is full")

    async def acquire(self) -> None:
        """Take a slot, waiting up to ``max_wait_duration``; raises ``BulkheadFullError``."""
        if self._waiters is None:
            self._waiters = asyncio.Semaphore(self.config.max_concurrent_calls)
        sem = self._waiters
        if not sem.locked():
            await sem.acquire()  # does not suspend when a slot is free
        elif self.config.max_wait_duration <= 0:
            raise self._reject()
        else:
            try:
                async with asyncio.timeout(self.config.max_wait_duration):
                    await sem.acquire()
            except TimeoutError:
                raise self._reject() from None
        self._free -= 1

    def release(self) -> None:
        """Give a slot back."""
        self._free += 1
        if self._waiters is not None:
            self._waiters.release()

    def acquire_sync(self) -> None:
        """Thread version of ``acquire``."""
        wait = self.config.max_wait_duration
        got = self._threads.acquire(timeout=wait) if wait > 0 else self._threads.acquire(False)
        if not got:
            raise self._reject()

    def release_sync(self) -> None:
        """Thread version of ``release``."""
        self._threads.release()

    async def __aenter__(self) -> Bulkhead:
        await self.acquire()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def __enter__(self) -> Bulkhead:
        self.acquire_sync()
        return self

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release_sync()

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate a sync or async function."""
        if inspect.iscoroutinefunction(fn):
            afn = cast(Callable[P, Awaitable[object]], fn)

            @functools.wraps(fn)
            async def aguarded(*args: P.args, **kwargs: P.kwargs) -> object:
                async with self:
                    return await afn(*args, **kwargs)

            return cast(Callable[P, R], aguarded)

        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            with self:
                return fn(*args, **kwargs)

        return guarded
