"""Performance event models: kinds, aliases, rejections with one precise reason, NDJSON, schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intperf.stream.events import (
    EVENT_ADAPTER,
    ApiResponseEvent,
    BreakerState,
    BusinessEvent,
    CacheAccessEvent,
    CircuitBreakerEvent,
    DatabaseQueryEvent,
    EventKind,
    event_json_schema,
    event_json_schema_text,
)
from intperf.stream.ingest import decode_ndjson, encode_ndjson, validate_events

SCHEMA_FILE = Path(__file__).resolve().parents[3] / "docs" / "performance-event.schema.json"
NOW = 1_764_064_800_000  # 2025-11-25T10:00:00Z


def api(**kw: Any) -> dict[str, Any]:
    return {
        "kind": "API_RESPONSE",
        "service": "orders",
        "event_time": NOW,
        "response_time_ms": 12.5,
        **kw,
    }


EXAMPLES: list[dict[str, Any]] = [
    api(endpoint="/api/orders", method="POST", status=201),
    {
        "kind": "DATABASE_QUERY",
        "service": "orders",
        "event_time": NOW,
        "query": "SELECT * FROM orders WHERE id = $1",
        "execution_time_ms": 3.2,
        "rows": 1,
    },
    {
        "kind": "CACHE_ACCESS",
        "service": "catalog",
        "event_time": NOW,
        "region": "products",
        "hit": True,
        "latency_ms": 0.4,
    },
    {
        "kind": "CIRCUIT_BREAKER",
        "service": "payments",
        "event_time": NOW,
        "breaker": "psp",
        "from_state": "CLOSED",
        "to_state": "OPEN",
        "rejected_calls": 3,
    },
    {
        "kind": "BUSINESS",
        "service": "orders",
        "event_time": NOW,
        "name": "order_created",
        "value": 99.9,
        "attributes": {"currency": "EUR", "items": 3},
    },
]


def one(item: Any, **kw: Any) -> Any:
    out = validate_events([item], now_ms=NOW, **kw)
    assert len(out.accepted) + len(out.rejected) == 1
    return out.accepted[0] if out.accepted else out.rejected[0]


def test_every_kind_validates_and_gets_its_model() -> None:
    out = validate_events(EXAMPLES, now_ms=NOW)
    assert out.rejected == []
    types = [type(e) for e in out.accepted]
    assert types == [
        ApiResponseEvent,
        DatabaseQueryEvent,
        CacheAccessEvent,
        CircuitBreakerEvent,
        BusinessEvent,
    ]
    assert [e.kind for e in out.accepted] == list(EventKind)
    assert all(e.ingested_ms == NOW for e in out.accepted)  # stamped on ingestion
    cb = out.accepted[3]
    assert isinstance(cb, CircuitBreakerEvent)
    assert (cb.from_state, cb.to_state) == (BreakerState.CLOSED, BreakerState.OPEN)


def test_reference_camel_case_names_are_accepted() -> None:
    e = one(
        {
            "type": "API_RESPONSE",
            "serviceName": "orders",
            "responseTime": 120,
            "timestamp": "2025-11-25T10:00:00.250Z",
            "statusCode": 503,
        }
    )
    assert isinstance(e, ApiResponseEvent)
    assert (e.service, e.response_time_ms, e.event_time, e.status) == (
        "orders",
        120.0,
        NOW + 250,
        503,
    )
    q = one(
        {
            "type": "DATABASE_QUERY",
            "serviceName": "db",
            "executionTime": 7,
            "queryText": "select 1",
            "rowsAffected": 5000,
            "timestamp": NOW,
        }
    )
    assert isinstance(q, DatabaseQueryEvent)
    assert (q.query, q.execution_time_ms, q.rows) == ("select 1", 7.0, 5000)
    c = one(
        {
            "type": "CACHE_ACCESS",
            "serviceName": "s",
            "cacheRegion": "users",
            "hit": False,
            "eventTime": NOW,
        }
    )
    assert isinstance(c, CacheAccessEvent)
    assert c.region == "users"


def test_java_style_events_with_every_getter_and_nulls_validate() -> None:
    # One Java class serialized with Jackson: fields of other kinds present as null.
    e = one(
        {
            "type": "API_RESPONSE",
            "serviceName": "s",
            "responseTime": 5,
            "timestamp": NOW,
            "queryText": None,
            "cacheRegion": None,
            "executionTime": None,
            "id": "x1",
        }
    )
    assert isinstance(e, ApiResponseEvent)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (NOW, NOW),
        (NOW + 0.9, NOW),  # fractional ms are floored
        ("2025-11-25T10:00:00Z", NOW),
        ("2025-11-25T11:00:00.5+01:00", NOW + 500),
        ("2025-11-25t10:00:00.1234567z", NOW + 123),
        ("2025-11-25 10:00:00.001Z", NOW + 1),
    ],
)
def test_event_time_accepts_epoch_ms_and_rfc3339(value: Any, expected: int) -> None:
    assert one(api(event_time=value)).event_time == expected


@pytest.mark.parametrize(
    ("item", "path", "fragment"),
    [
        (api(response_time_ms=-1), "[0].response_time_ms", "greater than or equal to 0"),
        (api(response_time_ms=True), "[0].response_time_ms", "valid number"),
        (api(response_time_ms="12"), "[0].response_time_ms", "valid number"),
        (api(response_time_ms=float("nan")), "[0].response_time_ms", "finite"),
        (api(response_time_ms=1e12), "[0].response_time_ms", "less than or equal"),
        (api(status=42), "[0].status", "greater than or equal to 100"),
        (api(method="GET /"), "[0].method", "pattern"),
        (api(service=""), "[0].service", "at least 1 character"),
        (api(service="s" * 201), "[0].service", "at most 200 characters"),
        (api(service="a\x00b"), "[0].service", "pattern"),
        (api(event_time="2025-11-25T10:00:00"), "[0].event_time", "RFC 3339"),
        (api(event_time="yesterday"), "[0].event_time", "RFC 3339"),
        (api(event_time="2025-02-30T00:00:00Z"), "[0].event_time", "not a valid date-time"),
        (api(event_time=-5), "[0].event_time", "greater than or equal to 0"),
        (api(event_time=True), "[0].event_time", "boolean"),
        (api(event_time=NOW + 2 * 3_600_000), "[0].event_time", "ahead of the ingestion clock"),
        (api(attributes={"k": [1]}), "[0].attributes.k", "strings or finite numbers"),
        (api(attributes={"k": "v" * 300}), "[0].attributes.k", "at most 256"),
        (api(attributes={f"k{i}": i for i in range(40)}), "[0].attributes", "at most 32"),
        (
            {"kind": "API_RESPONSE", "service": "s", "event_time": NOW},
            "[0].response_time_ms",
            "Field required",
        ),
        ({"kind": "LOG_LINE", "service": "s", "event_time": NOW}, "[0].kind", "unknown kind"),
        ({"service": "s"}, "[0].kind", "missing"),
        ({"kind": 5}, "[0].kind", "missing or not a string"),
        ([1, 2], "[0]", "expected a JSON object, got list"),
        (
            {
                "kind": "DATABASE_QUERY",
                "service": "s",
                "event_time": NOW,
                "execution_time_ms": 1,
                "query": "q" * 8193,
            },
            "[0].query",
            "at most 8192",
        ),
        (
            {"kind": "DATABASE_QUERY", "service": "s", "event_time": NOW, "execution_time_ms": 1},
            "[0]",
            "'query' (text) or 'fingerprint'",
        ),
        (
            {
                "kind": "DATABASE_QUERY",
                "service": "s",
                "event_time": NOW,
                "execution_time_ms": 1,
                "fingerprint": "f",
                "rows": 1.5,
            },
            "[0].rows",
            "valid integer",
        ),
        (
            {
                "kind": "CACHE_ACCESS",
                "service": "s",
                "event_time": NOW,
                "region": "r",
                "hit": "yes",
            },
            "[0].hit",
            "valid boolean",
        ),
        (
            {
                "kind": "CIRCUIT_BREAKER",
                "service": "s",
                "event_time": NOW,
                "breaker": "b",
                "to_state": "AJAR",
            },
            "[0].to_state",
            "Input should be",
        ),
        (
            {"kind": "CIRCUIT_BREAKER", "service": "s", "event_time": NOW, "breaker": "b"},
            "[0]",
            "needs 'to_state' or 'rejected_calls'",
        ),
        (
            {
                "kind": "BUSINESS",
                "service": "s",
                "event_time": NOW,
                "name": "x",
                "value": float("inf"),
            },
            "[0].value",
            "finite",
        ),
    ],
)
def test_rejections_name_the_field_and_the_reason(item: Any, path: str, fragment: str) -> None:
    r = one(item)
    assert r.path == path, r
    assert fragment in r.reason, r
    assert str(r).startswith(path + ": ")


def test_future_check_can_be_disabled_and_ingestion_time_is_kept_when_given() -> None:
    e = one(api(event_time=NOW + 10 * 3_600_000, ingested_ms=NOW - 5), max_future_ms=None)
    assert (e.event_time, e.ingested_ms) == (NOW + 10 * 3_600_000, NOW - 5)


def test_kind_is_case_insensitive_and_states_too() -> None:
    e = one(
        {
            "kind": "circuit_breaker",
            "service": "s",
            "event_time": NOW,
            "breaker": "b",
            "from_state": "closed",
            "to_state": "half_open",
        }
    )
    assert isinstance(e, CircuitBreakerEvent)
    assert e.to_state is BreakerState.HALF_OPEN


def test_bad_events_do_not_stop_good_ones_and_indexes_are_kept() -> None:
    items = [EXAMPLES[0], {"kind": "X"}, EXAMPLES[1], 7, EXAMPLES[2]]
    out = validate_events(items, now_ms=NOW)
    assert len(out.accepted) == 3
    assert [r.index for r in out.rejected] == [1, 3]


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "kind",
                        "type",
                        "service",
                        "event_time",
                        "response_time_ms",
                        "region",
                        "hit",
                        "attributes",
                        "name",
                        "breaker",
                        "to_state",
                        "rows",
                        "query",
                        "value",
                    ]
                )
                | st.text(max_size=5),
                inner,
                max_size=8,
            )
        ),
        max_leaves=20,
    )
)
@settings(max_examples=300, deadline=None)
def test_any_json_value_is_accepted_or_rejected_never_raises(item: Any) -> None:
    out = validate_events([item], now_ms=NOW)
    assert len(out.accepted) + len(out.rejected) == 1


def test_ndjson_decodes_line_by_line_with_line_numbers() -> None:
    lines = [
        json.dumps(EXAMPLES[0]),
        "",
        "{not json",
        json.dumps({"kind": "NOPE"}),
        json.dumps(EXAMPLES[4]),
        "x" * 1000,
    ]
    out = decode_ndjson("\n".join(lines).encode(), now_ms=NOW, max_line_bytes=999)
    assert [type(e) for e in out.accepted] == [ApiResponseEvent, BusinessEvent]
    assert [(r.index, r.field) for r in out.rejected] == [(2, ""), (3, "kind"), (5, "")]
    assert "Invalid JSON" in out.rejected[0].reason
    assert "longer than 999 bytes" in out.rejected[2].reason


def test_ndjson_round_trip() -> None:
    events = validate_events(EXAMPLES, now_ms=NOW).accepted
    again = decode_ndjson(encode_ndjson(events), now_ms=0, max_future_ms=None)
    assert again.rejected == []
    assert again.accepted == events
    assert encode_ndjson([]) == b""


def test_committed_schema_is_up_to_date() -> None:
    """Regenerate with the command in docs/events.md when this fails."""
    assert SCHEMA_FILE.read_text(encoding="utf-8") == event_json_schema_text()


def test_schema_accepts_canonical_events_and_refuses_bad_ones() -> None:
    schema = event_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    for e in validate_events(EXAMPLES, now_ms=NOW).accepted:
        v.validate(json.loads(EVENT_ADAPTER.dump_json(e)))
    for ex in EXAMPLES:
        v.validate(ex)
    assert not v.is_valid(api(response_time_ms=-1))
    assert not v.is_valid({"kind": "NOPE", "service": "s", "event_time": 1})
