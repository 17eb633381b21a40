"""Alert events, URL redaction, the dispatcher, and WebhookSink's retry policy (mock transport)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
import pytest

from intperf.errors import UsageError
from intperf.service.alerts import (
    AlertDispatcher,
    AlertEvent,
    DeliveryStats,
    LogSink,
    WebhookSink,
    redact_url,
)

EVENT = AlertEvent("run-failed", "warning", "daily suite failed", {"error": "boom"}, "r1",
                   datetime(2025, 1, 1, tzinfo=UTC))


def test_event_payload() -> None:
    assert EVENT.to_dict() == {
        "source": "intperf", "kind": "run-failed", "severity": "warning",
        "title": "daily suite failed", "text": "[warning] daily suite failed", "run_id": "r1",
        "at": "2025-01-01T00:00:00+00:00", "details": {"error": "boom"}}
    assert AlertEvent("x", "info", "t").at.tzinfo is not None


@pytest.mark.parametrize(("url", "shown"), [
    ("https://hooks.slack.com/services/T0/B0/SECRET", "https://hooks.slack.com"),
    ("http://user:pass@127.0.0.1:8080/hook?token=abc", "http://127.0.0.1:8080"),
    ("http://[::1]:9000/x", "http://[::1]:9000"),
    ("http://host:notaport/x", "<invalid url>"),
])
def test_redact_url_keeps_scheme_host_and_port_only(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_webhook_urls_are_checked_without_echoing_secrets() -> None:
    with pytest.raises(UsageError) as info:
        WebhookSink(["https://ok.example/hook", "ftp://files.example/SECRET"])
    assert "intperf.webhooks[1]" in str(info.value)
    assert "SECRET" not in str(info.value)
    with pytest.raises(UsageError):
        WebhookSink(["https://ok.example/hook"], retries=-1)


async def test_log_sink_logs_by_severity(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        await LogSink().send(EVENT)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "alert run-failed [warning]: daily suite failed (run r1)"


class Exploding:
    async def send(self, event: AlertEvent) -> None:
        raise RuntimeError("sink bug")


class Collecting:
    def __init__(self) -> None:
        self.events: list[AlertEvent] = []

    async def send(self, event: AlertEvent) -> None:
        self.events.append(event)


async def test_a_failing_sink_stops_neither_the_others_nor_the_caller(
        caplog: pytest.LogCaptureFixture) -> None:
    collecting = Collecting()
    with caplog.at_level(logging.ERROR):
        await AlertDispatcher([Exploding(), collecting]).emit(EVENT)
    assert collecting.events == [EVENT]
    assert "alert sink Exploding failed: RuntimeError" in caplog.text


def mock_sink(statuses: list[int], retries: int = 3) -> tuple[WebhookSink, list[float],
                                                                 list[httpx.Request]]:
    seen: list[httpx.Request] = []
    delays: list[float] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(statuses[min(len(seen), len(statuses)) - 1])

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    sink = WebhookSink(["https://hooks.example/T/SECRET"],
                       lambda: httpx.AsyncClient(transport=httpx.MockTransport(handle)),
                       retries=retries, backoff=0.25, sleep=sleep)
    return sink, delays, seen


@pytest.mark.parametrize(("statuses", "requests", "stats"), [
    ([200], 1, DeliveryStats(1, 0, 0)),
    ([503, 429, 204], 3, DeliveryStats(1, 0, 2)),
    ([500], 4, DeliveryStats(0, 1, 3)),
    ([400], 1, DeliveryStats(0, 1, 0)),
    ([502, 401], 2, DeliveryStats(0, 1, 1)),
])
async def test_retry_policy(statuses: list[int], requests: int, stats: DeliveryStats) -> None:
    sink, delays, seen = mock_sink(statuses)
    await sink.send(EVENT)
    assert len(seen) == requests
    assert sink.stats == stats
    assert delays == [0.25 * 2 ** i for i in range(requests - 1)]


async def test_a_client_that_cannot_be_built_is_a_failure_not_an_exception(
        caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> httpx.AsyncClient:
        raise OSError("no sockets today")

    sink = WebhookSink(["https://hooks.example/T/SECRET"], broken)
    with caplog.at_level(logging.ERROR):
        await sink.send(EVENT)
    assert sink.stats.failed == 1
    assert "SECRET" not in caplog.text


async def test_no_urls_sends_nothing() -> None:
    sink = WebhookSink([])
    await sink.send(EVENT)
    assert sink.stats == DeliveryStats()
