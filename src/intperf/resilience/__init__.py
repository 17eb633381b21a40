"""Resilience guards for outbound calls (Resilience4j semantics): circuit breaker, retry,
bulkhead, rate limiter, time limiter, and their composition. See docs/resilience.md."""

from intperf.errors import (
    BulkheadFullError,
    CallNotPermittedError,
    CallTimeoutError,
    RequestNotPermittedError,
    ResilienceError,
)
from intperf.resilience.breaker import (
    BreakerEvent,
    BreakerEventKind,
    CircuitBreaker,
    CircuitState,
)
from intperf.resilience.bulkhead import Bulkhead, BulkheadConfig
from intperf.resilience.compose import decorate
from intperf.resilience.config import (
    CircuitBreakerConfig,
    SlidingWindowType,
    exponential_interval,
    fixed_interval,
)
from intperf.resilience.outbound import OutboundGuards, OutboundPolicy
from intperf.resilience.rate_limiter import RateLimiter, RateLimiterConfig
from intperf.resilience.retry import (
    Retry,
    RetryBudget,
    RetryConfig,
    RetryEvent,
    RetryEventKind,
    default_retry_on,
)
from intperf.resilience.time_limiter import TimeLimiter, TimeLimiterConfig

__all__ = [
    "BreakerEvent",
    "BreakerEventKind",
    "Bulkhead",
    "BulkheadConfig",
    "BulkheadFullError",
    "CallNotPermittedError",
    "CallTimeoutError",
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "CircuitState",
    "OutboundGuards",
    "OutboundPolicy",
    "RateLimiter",
    "RateLimiterConfig",
    "RequestNotPermittedError",
    "ResilienceError",
    "Retry",
    "RetryBudget",
    "RetryConfig",
    "RetryEvent",
    "RetryEventKind",
    "SlidingWindowType",
    "TimeLimiter",
    "TimeLimiterConfig",
    "decorate",
    "default_retry_on",
    "exponential_interval",
    "fixed_interval",
]
