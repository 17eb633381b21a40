"""Live performance analytics: the event model, columnar batches and their binary frames,
mergeable aggregates and event-time windows (docs/events.md, docs/stream.md)."""

from intperf.stream.aggregates import Aggregate, CacheStats, CountStats, LatencyStats
from intperf.stream.batch import EventBatch
from intperf.stream.codec import decode, encode
from intperf.stream.events import (
    ApiResponseEvent,
    BreakerState,
    BusinessEvent,
    CacheAccessEvent,
    CircuitBreakerEvent,
    DatabaseQueryEvent,
    EventKind,
    PerformanceEvent,
    event_json_schema,
)
from intperf.stream.ingest import (
    Rejection,
    ValidationOutcome,
    decode_ndjson,
    encode_ndjson,
    validate_events,
)
from intperf.stream.windows import (
    Assigner,
    Hopping,
    LateEvent,
    LateOutput,
    Session,
    Sliding,
    Tumbling,
    WindowedAggregation,
    WindowResult,
)

__all__ = [
    "Aggregate",
    "ApiResponseEvent",
    "Assigner",
    "BreakerState",
    "BusinessEvent",
    "CacheAccessEvent",
    "CacheStats",
    "CircuitBreakerEvent",
    "CountStats",
    "DatabaseQueryEvent",
    "EventBatch",
    "EventKind",
    "Hopping",
    "LateEvent",
    "LateOutput",
    "LatencyStats",
    "PerformanceEvent",
    "Rejection",
    "Session",
    "Sliding",
    "Tumbling",
    "ValidationOutcome",
    "WindowResult",
    "WindowedAggregation",
    "decode",
    "decode_ndjson",
    "encode",
    "encode_ndjson",
    "event_json_schema",
    "validate_events",
]
