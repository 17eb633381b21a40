"""Performance events at the JSON edge: one pydantic model per kind, told apart by ``kind``,
and their JSON schema (docs/events.md). Validation of many events: ``stream/ingest.py``.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

__all__ = [
    "MAX_FUTURE_MS",
    "ApiResponseEvent",
    "BreakerState",
    "BusinessEvent",
    "CacheAccessEvent",
    "CircuitBreakerEvent",
    "DatabaseQueryEvent",
    "EventKind",
    "PerformanceEvent",
    "event_json_schema",
    "event_json_schema_text",
    "short_repr",
]

#: Largest event time accepted: 9999-12-31T23:59:59.999Z in epoch ms.
MAX_TIME_MS: Final = 253_402_300_799_999
#: Largest duration accepted (response, execution, cache latency): one day in ms.
MAX_DURATION_MS: Final = 86_400_000.0
#: Largest row or rejected-call count accepted (the largest integer a double holds exactly).
MAX_COUNT: Final = 2**53
#: Default for how far ahead of ``now_ms`` an event time may be. A clock far in the future would
#: advance stream time and turn every other event late (docs/stream.md, "Windows").
MAX_FUTURE_MS: Final = 3_600_000
MAX_NAME = 200
MAX_QUERY = 8192
MAX_ATTRIBUTES = 32
MAX_ATTRIBUTE_KEY = 64
MAX_ATTRIBUTE_TEXT = 256

_NO_NUL = r"^[^\x00]*$"  # PostgreSQL cannot store NUL in text: refuse it at the edge.
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class EventKind(StrEnum):
    """What a performance event measures (the reference's ``PerformanceEventType``)."""

    API_RESPONSE = "API_RESPONSE"
    DATABASE_QUERY = "DATABASE_QUERY"
    CACHE_ACCESS = "CACHE_ACCESS"
    CIRCUIT_BREAKER = "CIRCUIT_BREAKER"
    BUSINESS = "BUSINESS"


class BreakerState(StrEnum):
    """Circuit-breaker states (Resilience4j's names)."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"
    DISABLED = "DISABLED"
    FORCED_OPEN = "FORCED_OPEN"
    METRICS_ONLY = "METRICS_ONLY"


def parse_time_ms(value: Any) -> Any:
    """Epoch milliseconds from a number or an RFC 3339 string; other input is left to pydantic."""
    if isinstance(value, bool):
        raise ValueError("expected epoch milliseconds or an RFC 3339 date-time, got a boolean")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"time must be finite, got {value!r}")
        return math.floor(value)
    if isinstance(value, str):
        m = _RFC3339.match(value)
        if m is None:
            raise ValueError(
                "expected epoch milliseconds or an RFC 3339 date-time such as "
                f"'2026-11-25T10:00:00.123Z', got {value[:40]!r}"
            )
        day, clock, frac, zone = m.groups()
        micros = (frac or ".0")[1:7].ljust(6, "0")  # sub-microsecond digits are truncated
        zone = "+00:00" if zone in ("Z", "z") else zone
        try:
            dt = datetime.fromisoformat(f"{day}T{clock}.{micros}{zone}")
        except ValueError as exc:
            raise ValueError(f"not a valid date-time: {value[:40]!r} ({exc})") from None
        return (dt - _EPOCH) // _MS
    return value


_TIME_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": MAX_TIME_MS, "description": "epoch ms"},
        {"type": "string", "format": "date-time", "description": "RFC 3339 with an offset"},
    ]
}

TimeMs = Annotated[
    int,
    BeforeValidator(parse_time_ms),
    Field(ge=0, le=MAX_TIME_MS, strict=True),
    WithJsonSchema(_TIME_SCHEMA),
]
Millis = Annotated[float, Field(ge=0.0, le=MAX_DURATION_MS, strict=True, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT, strict=True)]
Name = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=MAX_NAME, pattern=_NO_NUL)
]
AttributeKey = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ATTRIBUTE_KEY, pattern=_NO_NUL)
]


def short_repr(value: Any) -> str:
    """``repr`` cut to 60 characters, for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _attribute_value(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) > MAX_ATTRIBUTE_TEXT or "\x00" in value:
            raise ValueError(
                f"attribute text must be at most {MAX_ATTRIBUTE_TEXT} characters, without NUL"
            )
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_COUNT:
            raise ValueError(f"attribute integers must be within +-2**53, got {value}")
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise ValueError(f"attribute values must be strings or finite numbers, got {short_repr(value)}")


AttributeValue = Annotated[
    str | int | float,
    BeforeValidator(_attribute_value),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "maxLength": MAX_ATTRIBUTE_TEXT}, {"type": "number"}]}
    ),
]


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


_KIND_ALIAS = _alias("kind", "type", "eventType")


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class _Event(BaseModel):
    """Fields every event has. ``kind`` is redeclared as a literal by each subclass."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",  # Java producers serialize every getter of one event class; see docs
        loc_by_alias=False,
        validate_by_name=True,
        validate_by_alias=True,
        use_enum_values=False,
    )

    kind: EventKind = Field(validation_alias=_KIND_ALIAS)
    service: Name = Field(validation_alias=_alias("service", "serviceName"))
    event_time: TimeMs = Field(validation_alias=_alias("event_time", "eventTime", "timestamp"))
    ingested_ms: TimeMs | None = Field(
        None, validate_default=True, validation_alias=_alias("ingested_ms", "ingestedMs")
    )
    attributes: dict[AttributeKey, AttributeValue] = Field(
        default_factory=dict, max_length=MAX_ATTRIBUTES
    )

    @field_validator("event_time", mode="after")
    @classmethod
    def _not_far_ahead(cls, value: int, info: ValidationInfo) -> int:
        ctx = info.context
        if ctx and ctx.get("max_future_ms") is not None:
            limit = ctx["now_ms"] + ctx["max_future_ms"]
            if value > limit:
                raise ValueError(
                    f"event time {value} is {value - ctx['now_ms']} ms ahead of the ingestion "
                    f"clock (at most {ctx['max_future_ms']} ms allowed)"
                )
        return value

    @field_validator("ingested_ms", mode="after")
    @classmethod
    def _stamp_ingestion(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is None and info.context:
            now: int | None = info.context.get("now_ms")
            return now
        return value


class ApiResponseEvent(_Event):
    """One HTTP request served by ``service``: ``API_RESPONSE``."""

    kind: Annotated[Literal[EventKind.API_RESPONSE], BeforeValidator(_upper)] = Field(
        validation_alias=_KIND_ALIAS
    )
    endpoint: Name | None = None
    method: (
        Annotated[
            str,
            StringConstraints(strict=True, pattern=r"^[A-Za-z]{1,16}$"),
            BeforeValidator(_upper),
        ]
        | None
    ) = Field(None, validation_alias=_alias("method", "httpMethod"))
    status: Annotated[int, Field(strict=True, ge=100, le=599)] | None = Field(
        None, validation_alias=_alias("status", "statusCode")
    )
    response_time_ms: Millis = Field(
        validation_alias=_alias("response_time_ms", "responseTime", "responseTimeMs")
    )
    error: Annotated[bool, Field(strict=True)] = False
    """The producer flags the call failed (errors also include every status >= 500)."""


class DatabaseQueryEvent(_Event):
    """One SQL statement run by ``service``: ``DATABASE_QUERY``."""

    kind: Annotated[Literal[EventKind.DATABASE_QUERY], BeforeValidator(_upper)] = Field(
        validation_alias=_KIND_ALIAS
    )
    query: (
        Annotated[
            str, StringConstraints(strict=True, min_length=1, max_length=MAX_QUERY, pattern=_NO_NUL)
        ]
        | None
    ) = Field(None, validation_alias=_alias("query", "queryText"))
    fingerprint: Name | None = Field(None, validation_alias=_alias("fingerprint", "queryId"))
    execution_time_ms: Millis = Field(
        validation_alias=_alias("execution_time_ms", "executionTime", "executionTimeMs")
    )
    rows: Count = Field(0, validation_alias=_alias("rows", "rowsAffected"))

    @model_validator(mode="after")
    def _identified(self) -> DatabaseQueryEvent:
        if self.query is None and self.fingerprint is None:
            raise ValueError("a DATABASE_QUERY event needs 'query' (text) or 'fingerprint'")
        return self


class CacheAccessEvent(_Event):
    """One cache lookup in ``region``: ``CACHE_ACCESS``."""

    kind: Annotated[Literal[EventKind.CACHE_ACCESS], BeforeValidator(_upper)] = Field(
        validation_alias=_KIND_ALIAS
    )
    region: Name = Field(validation_alias=_alias("region", "cacheRegion"))
    hit: Annotated[bool, Field(strict=True)] = Field(validation_alias=_alias("hit", "cacheHit"))
    latency_ms: Millis = Field(0.0, validation_alias=_alias("latency_ms", "latency", "latencyMs"))


class CircuitBreakerEvent(_Event):
    """A breaker changed state and/or rejected calls: ``CIRCUIT_BREAKER``."""

    kind: Annotated[Literal[EventKind.CIRCUIT_BREAKER], BeforeValidator(_upper)] = Field(
        validation_alias=_KIND_ALIAS
    )
    breaker: Name = Field(validation_alias=_alias("breaker", "breakerName", "circuitBreaker"))
    from_state: Annotated[BreakerState, BeforeValidator(_upper)] | None = Field(
        None, validation_alias=_alias("from_state", "fromState")
    )
    to_state: Annotated[BreakerState, BeforeValidator(_upper)] | None = Field(
        None, validation_alias=_alias("to_state", "toState")
    )
    rejected_calls: Count = Field(0, validation_alias=_alias("rejected_calls", "rejectedCalls"))

    @model_validator(mode="after")
    def _says_something(self) -> CircuitBreakerEvent:
        if self.from_state is not None and self.to_state is None:
            raise ValueError("'from_state' needs 'to_state'")
        if self.to_state is None and self.rejected_calls == 0:
            raise ValueError("a CIRCUIT_BREAKER event needs 'to_state' or 'rejected_calls' > 0")
        return self


class BusinessEvent(_Event):
    """A business occurrence (``order_created``, ``payment_failed``...): ``BUSINESS``."""

    kind: Annotated[Literal[EventKind.BUSINESS], BeforeValidator(_upper)] = Field(
        validation_alias=_KIND_ALIAS
    )
    name: Name = Field(validation_alias=_alias("name", "eventName", "metric"))
    value: Annotated[float, Field(strict=True, allow_inf_nan=False)] | None = None
    """An amount (order total, items...); absent when the event is only counted."""


def _discriminate(value: Any) -> str | None:
    if isinstance(value, dict):
        for name in ("kind", "type", "eventType"):
            if name in value:
                kind = value[name]
                return kind.upper() if isinstance(kind, str) else None
        return None
    kind = getattr(value, "kind", None)
    return str(kind) if kind is not None else None


PerformanceEvent = Annotated[
    Annotated[ApiResponseEvent, Tag(EventKind.API_RESPONSE)]
    | Annotated[DatabaseQueryEvent, Tag(EventKind.DATABASE_QUERY)]
    | Annotated[CacheAccessEvent, Tag(EventKind.CACHE_ACCESS)]
    | Annotated[CircuitBreakerEvent, Tag(EventKind.CIRCUIT_BREAKER)]
    | Annotated[BusinessEvent, Tag(EventKind.BUSINESS)],
    Discriminator(_discriminate),
]
"""Any performance event: the models above, told apart by ``kind``."""

EVENT_ADAPTER: TypeAdapter[PerformanceEvent] = TypeAdapter(PerformanceEvent)


def event_json_schema_text() -> str:
    """:func:`event_json_schema` as committed in docs/performance-event.schema.json."""
    return json.dumps(event_json_schema(), indent=2, ensure_ascii=False) + "\n"


def event_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one performance event, as committed in docs/."""
    schema = EVENT_ADAPTER.json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://intperf.dev/schemas/performance-event.schema.json"
    schema["title"] = "PerformanceEvent"
    schema["description"] = (
        "One performance event (docs/events.md). Validation also accepts the reference's "
        "camelCase names (serviceName, responseTime, executionTime, queryText, rowsAffected, "
        "cacheRegion, type) and ignores unknown members."
    )
    return schema
