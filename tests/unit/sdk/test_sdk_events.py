"""The SDK's event builders produce what the service's event model accepts."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from intperf.sdk import api_response, business, cache_access, circuit_breaker, database_query
from intperf.sdk.events import MAX_QUERY, now_ms
from intperf.stream.events import PerformanceEvent


def test_every_builder_validates_against_the_service_model() -> None:
    events = [
        api_response("shop", "/api/orders/{id}", "get", 200, 12.5, attributes={"region": "eu"}),
        database_query("shop", "SELECT 1", 0.8, rows=1, fingerprint="abc"),
        database_query("shop", "x" * (MAX_QUERY + 100), 3.0),
        cache_access("shop", "products", True, 0.2),
        circuit_breaker("shop", "payments", from_state="closed", to_state="open"),
        circuit_breaker("shop", "payments", rejected_calls=3),
        business("shop", "order_created", 42.0),
        business("shop", "payment_failed"),
    ]
    decoded = [json.loads(json.dumps(e)) for e in events]  # as they travel
    adapter: TypeAdapter[Any] = TypeAdapter(PerformanceEvent)
    for event in decoded:
        model = adapter.validate_python(event)  # raises ValidationError when refused
        assert model.kind == event["kind"]


def test_builders_stamp_time_and_keep_given_time() -> None:
    before = now_ms()
    event = business("shop", "order_created")
    assert before <= event["event_time"] <= now_ms()
    assert business("shop", "x", event_time=5)["event_time"] == 5
    assert "value" not in event and "attributes" not in event


def test_api_response_fields() -> None:
    event = api_response("shop", "/x", "post", 201, 3)
    assert event["kind"] == "API_RESPONSE"
    assert (event["method"], event["status"], event["response_time_ms"]) == ("POST", 201, 3.0)
    assert isinstance(event["response_time_ms"], float)


def test_negative_rowcount_is_left_out() -> None:
    assert "rows" not in database_query("s", "SELECT 1", 1.0, rows=-1)
