"""``POST /api/v1/events``: every rejection reason, gzip, limits, and dead letters kept."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import pytest
from service_support import LiveService, MakeService

from intperf.store import Database, StreamRepository

pytestmark = pytest.mark.integration

EVENTS = "/api/v1/events"


def _now() -> int:
    return int(time.time() * 1000)


def _api(i: int = 0, **over: Any) -> dict[str, Any]:
    event = {"kind": "API_RESPONSE", "service": "orders", "endpoint": "/api/orders/{id}",
             "method": "GET", "status": 200, "response_time_ms": 12.5 + i,
             "event_time": _now()}
    event.update(over)
    return event


def _dead_letters(service: LiveService) -> list[Any]:
    with Database(service.settings.intperf.storage_url) as db:
        return StreamRepository(db).dead_letters(limit=1000)


def test_a_valid_array_is_accepted(service: LiveService) -> None:
    with service.client("operator") as c:
        r = c.post(EVENTS, json=[_api(i) for i in range(5)])
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 5, "rejected": [], "topic": "performance-events"}


def test_ndjson_and_gzip(service: LiveService) -> None:
    body = b"\n".join(json.dumps(_api(i)).encode() for i in range(3)) + b"\n\n"
    with service.client("operator") as c:
        r = c.post(EVENTS, content=gzip.compress(body),
                   headers={"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})
        assert r.status_code == 202, r.text
        assert r.json()["accepted"] == 3
        # The reference's camelCase Java field names are accepted too.
        java = {"type": "API_RESPONSE", "serviceName": "orders", "endpoint": "/api/x",
                "method": "GET", "status": 200, "responseTime": 5, "timestamp": _now()}
        r = c.post(EVENTS, json=[java])
        assert r.status_code == 202, r.text


@pytest.mark.parametrize(("event", "field", "reason"), [
    ({"kind": "NOPE", "service": "s", "event_time": 1}, "kind", "unknown kind 'NOPE'"),
    ({"service": "s", "event_time": 1}, "kind", "missing"),
    ("just a string", "", "expected a JSON object"),
    (_api(status="two hundred"), "status", "integer"),
    (_api(response_time_ms=-1), "response_time_ms", "greater than or equal to 0"),
    (_api(event_time=_now() + 86_400_000), "event_time", "ahead"),
    (_api(event_time="yesterday"), "event_time", "RFC 3339"),
    (_api(service="a\x00b"), "service", ""),
    (_api(service=""), "service", ""),
    ({"kind": "CACHE_ACCESS", "service": "s", "region": "r", "event_time": 1}, "hit", "required"),
])
def test_each_rejection_names_its_field(service: LiveService, event: Any, field: str,
                                        reason: str) -> None:
    with service.client("operator") as c:
        r = c.post(EVENTS, json=[_api(), event])
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["accepted"] == 1
    [rejected] = body["rejected"]
    assert rejected["index"] == 1
    assert rejected["field"] == field
    assert reason.lower() in rejected["reason"].lower(), rejected


def test_nothing_valid_is_a_422_listing_every_rejection(service: LiveService) -> None:
    before = len(_dead_letters(service))
    with service.client("operator") as c:
        r = c.post(EVENTS, json=[{"kind": "NOPE", "service": "x", "event_time": 1},
                                 _api(status="x")])
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == "[0].kind"
    assert [d["index"] for d in body["detail"]] == [0, 1]
    letters = _dead_letters(service)
    assert len(letters) == before + 2
    assert letters[0].reason.startswith("[1].status")
    assert json.loads(letters[0].payload)["status"] == "x"
    assert letters[0].source == "api:test-operator"


@pytest.mark.parametrize(("content", "headers", "status", "message"), [
    (b"", {}, 400, "empty"),
    (b"[1, 2", {"Content-Type": "application/json"}, 400, "not valid JSON"),
    (b'{"kind": "BUSINESS"}', {"Content-Type": "application/json"}, 422, "no valid event"),
    (b"not gzip", {"Content-Encoding": "gzip"}, 400, "not valid gzip"),
    (gzip.compress(b"[" + b"0," * 100, mtime=0)[:-4], {"Content-Encoding": "gzip"}, 400,
     "truncated"),
    (gzip.compress(b" " * 200_000, mtime=0), {"Content-Encoding": "gzip"}, 413, "inflates"),
    (b"x" * 5000, {}, 413, ""),
], ids=["empty", "bad-json", "no-valid-event", "not-gzip", "truncated-gzip", "gzip-bomb",
        "too-big"])
def test_bad_bodies(service: LiveService, content: bytes, headers: dict[str, str], status: int,
                    message: str) -> None:
    with service.client("operator") as c:
        r = c.post(EVENTS, content=content, headers=headers)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]


def test_too_many_events_in_one_request(make_service: MakeService) -> None:
    svc = make_service(extra_env={"INTPERF_INTPERF__STREAM__MAX_EVENTS_PER_REQUEST": "3"})
    with svc.client("operator") as c:
        r = c.post(EVENTS, json=[_api(i) for i in range(4)])
        assert r.status_code == 413, r.text
        assert r.json()["field"] == "body"
        assert "at most 3" in r.json()["error"]
        assert c.post(EVENTS, json=[_api(i) for i in range(3)]).status_code == 202


def test_viewers_cannot_post_events(service: LiveService) -> None:
    with service.client("viewer") as c:
        assert c.post(EVENTS, json=[_api()]).status_code == 403


def test_analytics_endpoints_read_what_the_stream_stored(service: LiveService) -> None:
    from datetime import UTC, datetime

    from intperf.loadtest.results import ErrorClass, SecondWindow
    from intperf.store.stream_repository import (
        LiveWindow,
        SlowQuery,
        StreamProgress,
        live_run_id,
    )

    now = datetime.now(UTC)
    start_ms = int(now.timestamp() * 1000) // 60_000 * 60_000
    sw = SecondWindow(0)
    w = sw.window("GET /api/orders/{id}")
    w.ok = 9
    w.add_error(ErrorClass.HTTP_5XX, None)
    w.latency.record_many([10.0] * 9 + [100.0])
    w.service.record_many([10.0] * 9 + [100.0])
    with Database(service.settings.intperf.storage_url) as db:
        StreamRepository(db).store_progress("test", StreamProgress(
            windows=[LiveWindow("analytics-svc", start_ms, sw)],
            slow=[SlowQuery("analytics-svc", "abc", "select $1", 900.0, start_ms, 5000,
                            ("paginate",))]))
    with service.client("viewer") as c:
        services = c.get("/api/v1/analytics/services").json()
        [mine] = [s for s in services if s["service"] == "analytics-svc"]
        assert mine["runId"] == live_run_id("analytics-svc", now)
        assert (mine["requests"], mine["errors"], mine["errorRate"]) == (10, 1, 0.1)
        assert mine["p50Ms"] == pytest.approx(10.0, rel=0.02)
        assert mine["p99Ms"] == pytest.approx(100.0, rel=0.02)
        assert mine["endpoints"] == ["GET /api/orders/{id}"]
        # The live run reads like any run.
        run = c.get(mine["links"]["run"])
        assert run.status_code == 200, run.text
        slow = c.get("/api/v1/analytics/slow-queries",
                     params={"service": "analytics-svc"}).json()["items"]
        assert [(q["fingerprint"], q["advice"]) for q in slow] == [("abc", ["paginate"])]
        status = c.get("/api/v1/analytics/status").json()
        assert status["bus"] == "memory" and status["running"] is True
        assert status["stored"]["slow_queries"] >= 1
        assert c.get("/api/v1/analytics/dead-letters", params={"limit": 0}).status_code == 422
