"""Compose guards in one documented order, that of resilience4j-spring-boot's aspects::

    Retry( CircuitBreaker( RateLimiter( TimeLimiter( Bulkhead( fn ) ) ) ) )

Retry is outermost so each attempt passes through the breaker (a rejection is not retried:
``CallNotPermittedError.retriable`` is False); the breaker sees timeouts as failures; the
bulkhead is innermost so a slot is held only while the call really runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

from intperf.resilience.breaker import CircuitBreaker
from intperf.resilience.bulkhead import Bulkhead
from intperf.resilience.rate_limiter import RateLimiter
from intperf.resilience.retry import Retry
from intperf.resilience.time_limiter import TimeLimiter

P = ParamSpec("P")
R = TypeVar("R")


def decorate(
    fn: Callable[P, R],
    *,
    retry: Retry | None = None,
    circuit_breaker: CircuitBreaker | None = None,
    rate_limiter: RateLimiter | None = None,
    time_limiter: TimeLimiter | None = None,
    bulkhead: Bulkhead | None = None,
) -> Callable[P, R]:
    """Wrap a sync or async ``fn`` in the given guards, in the documented order."""
    is_async = inspect.iscoroutinefunction(fn)
    if time_limiter is not None and not is_async:
        raise TypeError("a TimeLimiter guards async functions only (see intperf.resilience)")
    wrapped: Callable[..., Any] = fn
    if bulkhead is not None:
        wrapped = bulkhead(wrapped)
    if time_limiter is not None:
        wrapped = time_limiter(wrapped)
    if rate_limiter is not None:
        wrapped = rate_limiter(wrapped)
    if circuit_breaker is not None:
        wrapped = circuit_breaker(wrapped)
    if retry is not None:
        wrapped = retry(wrapped)
    return cast(Callable[P, R], wrapped)
