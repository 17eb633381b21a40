"""Live performance analytics: the event model, columnar batches and their binary frames,
mergeable aggregates, event-time windows and the bus (docs/events.md, docs/stream.md)."""

from intperf.stream.aggregates import Aggregate, CacheStats, CountStats, LatencyStats
from intperf.stream.batch import EventBatch
from intperf.stream.bus import Bus, Consumer, Message, TopicPartition, make_bus, partition_for_key
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
    "Bus",
    "BusinessEvent",
    "CacheAccessEvent",
    "CacheStats",
    "CircuitBreakerEvent",
    "Consumer",
    "CountStats",
    "DatabaseQueryEvent",
    "EventBatch",
    "EventKind",
    "Hopping",
    "LateEvent",
    "LateOutput",
    "LatencyStats",
    "Message",
    "PerformanceEvent",
    "Rejection",
    "Session",
    "Sliding",
    "TopicPartition",
    "Tumbling",
    "ValidationOutcome",
    "WindowResult",
    "WindowedAggregation",
    "decode",
    "decode_ndjson",
    "encode",
    "encode_ndjson",
    "event_json_schema",
    "make_bus",
    "partition_for_key",
    "validate_events",
]
