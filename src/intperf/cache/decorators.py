"""``@cached``: cache-aside for async functions, keyed by the function and its arguments."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

if TYPE_CHECKING:
    from intperf.cache.multilevel import Cache

__all__ = ["cached", "default_key"]

P = ParamSpec("P")
R = TypeVar("R")


def default_key(prefix: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """``prefix:arg1:arg2:k=v`` from the call's arguments (their ``repr`` for non-strings)."""
    parts = [a if isinstance(a, str) else repr(a) for a in args]
    parts += [f"{k}={v if isinstance(v, str) else repr(v)}" for k, v in sorted(kwargs.items())]
    return ":".join([prefix, *parts])


def cached(
    cache: Cache,
    *,
    prefix: str | None = None,
    key: Callable[..., str] | None = None,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Cache an async function's results in ``cache``.

    The key is ``key(*args, **kwargs)`` when given, else ``prefix:args`` where the prefix
    (default: the function's qualified name) is also the key class for TTLs.
    """

    def decorate(func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        name = prefix or f"{func.__module__}.{func.__qualname__}"

        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            k = key(*args, **kwargs) if key is not None else default_key(name, args, kwargs)
            return cast("R", await cache.get_or_load(k, lambda: func(*args, **kwargs)))

        return wrapper

    return decorate
