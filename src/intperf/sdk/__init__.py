"""intperf's SDK for your own services: events to intperf without blocking your application.

``EventEmitter`` batches events to the service (``HttpTransport``) or to Kafka
(``KafkaTransport``); ASGI/WSGI middleware and a SQLAlchemy hook produce ``API_RESPONSE`` and
``DATABASE_QUERY`` events. Importing this package starts nothing and imports no framework.
See docs/sdk.md.
"""

from intperf.sdk.asgi import IntperfASGIMiddleware, route_template
from intperf.sdk.buffer import EventBuffer
from intperf.sdk.emitter import EmitterStats, EventEmitter, RetryPolicy
from intperf.sdk.events import (
    Event,
    api_response,
    business,
    cache_access,
    circuit_breaker,
    database_query,
    now_ms,
)
from intperf.sdk.fingerprint import fingerprint, normalize_sql
from intperf.sdk.http_transport import HttpTransport
from intperf.sdk.kafka import KafkaTransport
from intperf.sdk.paths import normalize_path
from intperf.sdk.sqlalchemy import EngineInstrumentation, instrument_engine, uninstrument
from intperf.sdk.transport import (
    Batch,
    DeliveryError,
    EncodedEvent,
    MemoryTransport,
    SendResult,
    ServerRejection,
    Transport,
)
from intperf.sdk.wsgi import ROUTE_KEY, IntperfWSGIMiddleware

__all__ = [
    "ROUTE_KEY",
    "Batch",
    "DeliveryError",
    "EmitterStats",
    "EncodedEvent",
    "EngineInstrumentation",
    "Event",
    "EventBuffer",
    "EventEmitter",
    "HttpTransport",
    "IntperfASGIMiddleware",
    "IntperfWSGIMiddleware",
    "KafkaTransport",
    "MemoryTransport",
    "RetryPolicy",
    "SendResult",
    "ServerRejection",
    "Transport",
    "api_response",
    "business",
    "cache_access",
    "circuit_breaker",
    "database_query",
    "fingerprint",
    "instrument_engine",
    "normalize_path",
    "normalize_sql",
    "now_ms",
    "route_template",
    "uninstrument",
]
