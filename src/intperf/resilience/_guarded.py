"""The decorators of ``CircuitBreaker``: the success path inlined, it is what every call pays."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from intperf.errors import CallNotPermittedError
from intperf.resilience.states import CircuitState
from intperf.resilience.window import SLOW_SUCCESS, SUCCESS

if TYPE_CHECKING:
    from intperf.resilience.breaker import CircuitBreaker

P = ParamSpec("P")
R = TypeVar("R")
_CLOSED = CircuitState.CLOSED


def wrap_sync(self: CircuitBreaker, fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` guarded by the breaker ``self``."""
    clock = self._clock
    slow = self._slow
    record_result = self._record_result

    @functools.wraps(fn)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        if self._state is not _CLOSED and not self.try_acquire_permission():
            raise CallNotPermittedError(self.name, self._state.value)
        start = clock()
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            self.on_error(clock() - start, exc)
            raise
        except BaseException:
            self.release_permission()
            raise
        end = clock()
        if record_result is None:
            self._record(SLOW_SUCCESS if end - start > slow else SUCCESS, end)
        else:
            self.on_result(end - start, result, end)
        return result

    return guarded


def wrap_async(self: CircuitBreaker, fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Async ``fn`` guarded by the breaker ``self``."""
    clock = self._clock
    slow = self._slow
    record_result = self._record_result

    @functools.wraps(fn)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        if self._state is not _CLOSED and not self.try_acquire_permission():
            raise CallNotPermittedError(self.name, self._state.value)
        start = clock()
        try:
            result = await fn(*args, **kwargs)
        except Exception as exc:
            self.on_error(clock() - start, exc)
            raise
        except BaseException:
            self.release_permission()
            raise
        end = clock()
        if record_result is None:
            self._record(SLOW_SUCCESS if end - start > slow else SUCCESS, end)
        else:
            self.on_result(end - start, result, end)
        return result

    return guarded
