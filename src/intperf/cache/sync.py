"""The thin synchronous face of :class:`~intperf.cache.Cache`: the async cache runs on a
private event loop in one thread; sync calls submit to it and wait."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, Self, TypeVar, cast

from intperf.cache.decorators import default_key

if TYPE_CHECKING:
    from intperf.cache.multilevel import Cache

__all__ = ["SyncCache"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class SyncCache:
    """``with SyncCache(lambda: Cache("users", redis=...)) as cache: cache.get_or_load(...)``.

    ``factory`` runs on the cache's own loop, so the Redis client it makes belongs there.
    Sync loaders run in a worker thread so a slow loader does not block other callers.
    """

    def __init__(self, factory: Callable[[], Cache], *, timeout_s: float | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name="intperf-cache-sync", daemon=True)
        self._thread.start()
        self._timeout = timeout_s
        self.cache: Cache = self._run(self._build(factory))

    async def _build(self, factory: Callable[[], Cache]) -> Cache:
        cache = factory()
        await cache.start()
        return cache

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self._timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the cache and stop its loop thread."""
        if self._loop.is_closed():
            return
        self._run(self.cache.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def get(self, key: str) -> Any:
        """See :meth:`Cache.get`."""
        return self._run(self.cache.get(key))

    def set(self, key: str, value: Any, *, ttl_s: float | None = None) -> None:
        """See :meth:`Cache.set`."""
        self._run(self.cache.set(key, value, ttl_s=ttl_s))

    def delete(self, key: str) -> None:
        """See :meth:`Cache.delete`."""
        self._run(self.cache.delete(key))

    def get_or_load(self, key: str, loader: Callable[[], Any]) -> Any:
        """See :meth:`Cache.get_or_load`; ``loader`` is a plain function."""
        return self._run(self.cache.get_or_load(key, lambda: asyncio.to_thread(loader)))

    def cached(self, *, prefix: str | None = None, key: Callable[..., str] | None = None
               ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """``@cached`` for plain functions."""

        def decorate(func: Callable[P, R]) -> Callable[P, R]:
            name = prefix or f"{func.__module__}.{func.__qualname__}"

            @functools.wraps(func)
            def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
                k = key(*args, **kwargs) if key is not None else default_key(name, args, kwargs)
                return cast("R", self.get_or_load(k, lambda: func(*args, **kwargs)))

            return wrapper

        return decorate
