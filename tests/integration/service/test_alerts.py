"""WebhookSink against a real HTTP receiver on 127.0.0.1: retries with backoff, one accepted
delivery with the right JSON, and failures (down, always 500, too slow) logged without secrets."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from intperf.service.alerts import AlertDispatcher, AlertEvent, LogSink, WebhookSink

pytestmark = pytest.mark.integration

TOKEN_PATH = "/services/T000/B000/SECRETTOKEN?token=hunter2"
EVENT = AlertEvent(kind="regression", severity="critical", title="p95 regressed by 31%",
                   details={"scenario": "social-commerce", "metric": "p95", "delta": 0.31},
                   run_id="run-42", at=datetime(2025, 1, 1, 2, 20, tzinfo=UTC))


@dataclass
class Receiver:
    """A webhook receiver that answers 500 to its first ``fail_first`` requests, then 200."""

    fail_first: int = 0
    status_when_failing: int = 500
    stall: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)
    port: int = 0


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.lock:
                record = {"path": self.path, "content_type": self.headers["Content-Type"],
                          "json": json.loads(body)}
                receiver.requests.append(record)
                failing = len(receiver.requests) <= receiver.fail_first
                if not failing and not receiver.stall:
                    receiver.accepted.append(record)
            if receiver.stall:
                receiver.release.wait(10)
                return
            self.send_response(receiver.status_when_failing if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    # a short poll interval so shutdown() returns promptly at teardown
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class RecordedSleep:
    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def loopback_client(timeout: float = 5.0) -> Any:
    # trust_env=False: no proxy from the environment; traffic stays on 127.0.0.1
    return lambda: httpx.AsyncClient(timeout=timeout, trust_env=False)


def sink(urls: list[str], sleep: RecordedSleep, retries: int = 3,
         timeout: float = 5.0) -> WebhookSink:
    return WebhookSink(urls, loopback_client(timeout), retries=retries, backoff=0.001,
                       sleep=sleep)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_retries_until_accepted_and_delivers_exactly_once(receiver: Receiver) -> None:
    receiver.fail_first = 2
    sleep = RecordedSleep()
    webhooks = sink([f"http://127.0.0.1:{receiver.port}{TOKEN_PATH}"], sleep)
    await webhooks.send(EVENT)
    assert len(receiver.requests) == 3
    assert len(receiver.accepted) == 1
    accepted = receiver.accepted[0]
    assert accepted["path"] == TOKEN_PATH
    assert accepted["content_type"] == "application/json"
    assert accepted["json"] == {
        "source": "intperf", "kind": "regression", "severity": "critical",
        "title": "p95 regressed by 31%", "text": "[critical] p95 regressed by 31%",
        "run_id": "run-42", "at": "2025-01-01T02:20:00+00:00",
        "details": {"scenario": "social-commerce", "metric": "p95", "delta": 0.31}}
    assert sleep.delays == [0.001, 0.002]  # exponential backoff
    assert webhooks.stats.delivered == 1
    assert webhooks.stats.retries == 2
    assert webhooks.stats.failed == 0


async def test_gives_up_after_the_retries_and_logs_only_the_origin(
        receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.fail_first = 100
    sleep = RecordedSleep()
    webhooks = sink([f"http://127.0.0.1:{receiver.port}{TOKEN_PATH}"], sleep, retries=2)
    with caplog.at_level(logging.DEBUG):
        await webhooks.send(EVENT)
    assert len(receiver.requests) == 3 and receiver.accepted == []
    assert sleep.delays == [0.001, 0.002]
    assert webhooks.stats.failed == 1 and webhooks.stats.delivered == 0
    assert f"webhook http://127.0.0.1:{receiver.port} failed after 3 attempt(s): HTTP 500" \
        in caplog.text
    assert "SECRETTOKEN" not in caplog.text and "hunter2" not in caplog.text


async def test_a_client_error_is_not_retried(receiver: Receiver) -> None:
    receiver.fail_first, receiver.status_when_failing = 100, 404
    sleep = RecordedSleep()
    webhooks = sink([f"http://127.0.0.1:{receiver.port}/hook"], sleep)
    await webhooks.send(EVENT)
    assert len(receiver.requests) == 1
    assert sleep.delays == []
    assert webhooks.stats.failed == 1


async def test_a_receiver_that_is_down_costs_a_logged_failure_not_an_exception(
        caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    sleep = RecordedSleep()
    webhooks = sink([f"http://127.0.0.1:{port}{TOKEN_PATH}"], sleep, retries=2)
    with caplog.at_level(logging.WARNING):
        await webhooks.send(EVENT)
    assert webhooks.stats.failed == 1 and webhooks.stats.retries == 2
    assert f"webhook http://127.0.0.1:{port} failed after 3 attempt(s): ConnectError" \
        in caplog.text
    assert "SECRETTOKEN" not in caplog.text and "hunter2" not in caplog.text


async def test_a_receiver_that_does_not_answer_times_out_and_is_retried(
        receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.stall = True
    sleep = RecordedSleep()
    webhooks = sink([f"http://127.0.0.1:{receiver.port}/hook"], sleep, retries=1, timeout=0.2)
    with caplog.at_level(logging.WARNING):
        await webhooks.send(EVENT)
    assert len(receiver.requests) == 2
    assert webhooks.stats.failed == 1
    assert "ReadTimeout" in caplog.text


async def test_dispatcher_delivers_to_every_url_and_sink_despite_one_down(
        receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    sleep = RecordedSleep()
    webhooks = sink([f"http://127.0.0.1:{free_port()}/down",
                     f"http://127.0.0.1:{receiver.port}/up"], sleep, retries=1)
    dispatcher = AlertDispatcher([LogSink(), webhooks])
    with caplog.at_level(logging.INFO):
        await dispatcher.emit(EVENT)
    assert [r["path"] for r in receiver.accepted] == ["/up"]
    assert webhooks.stats.delivered == 1 and webhooks.stats.failed == 1
    assert "alert regression [critical]: p95 regressed by 31% (run run-42)" in caplog.text


async def test_an_always_failing_receiver_opens_its_breaker_and_is_then_not_called(
        receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.fail_first = 1000
    now = [0.0]
    webhooks = WebhookSink([f"http://127.0.0.1:{receiver.port}{TOKEN_PATH}"], loopback_client(),
                           retries=1, backoff=0.001, sleep=RecordedSleep(), clock=lambda: now[0])
    for _ in range(3):  # 2 + 2 + 1 failed attempts: the 5th opens the breaker (5 of 5 failed)
        await webhooks.send(EVENT)
    assert len(receiver.requests) == 5
    with caplog.at_level(logging.WARNING):
        await webhooks.send(EVENT)
    assert len(receiver.requests) == 5  # not attempted while open
    assert webhooks.stats.failed == 4 and webhooks.stats.not_attempted == 1
    assert "circuit breaker is open" in caplog.text and "SECRETTOKEN" not in caplog.text
    now[0] = 61.0  # after the wait in open, one trial call goes through (and fails again)
    await webhooks.send(EVENT)
    assert len(receiver.requests) == 6
