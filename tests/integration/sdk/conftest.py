"""A loopback receiver of ``POST /api/v1/events`` for the SDK's tests, and helpers that serve
an ASGI app with uvicorn and a WSGI app with wsgiref, all on 127.0.0.1 free ports."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import WSGIApplication

import pytest
import uvicorn
from pydantic import TypeAdapter, ValidationError

from intperf.stream.events import PerformanceEvent

API_KEY = "sdk-test-key-7f3a9c"  # a fake key: tests assert it never reaches a log
_EVENT: TypeAdapter[Any] = TypeAdapter(PerformanceEvent)


def rejections(events: list[Any]) -> list[dict[str, Any]]:
    """What the service would answer for ``events``: one entry per event its model refuses."""
    out = []
    for index, event in enumerate(events):
        try:
            _EVENT.validate_python(event)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in err["loc"][1:])  # loc[0] is the kind (union tag)
            out.append({"index": index, "field": field, "reason": err["msg"]})
    return out


@dataclass
class Request:
    """One request the receiver got."""

    headers: dict[str, str]
    client_port: int
    events: list[dict[str, Any]]
    raw: bytes


@dataclass
class Receiver:
    """Decodes gzip NDJSON, validates events like the service, answers from ``actions``.

    Actions (consumed one per request, then ``"ok"``): ``"ok"``; ``"close"`` (drop the
    connection without an answer); ``"stall"`` (wait until :meth:`release`, then ok);
    ``(status, headers[, doc])`` (answer that status with ``doc``, default ``{}``).
    """

    url: str = ""
    actions: deque[Any] = field(default_factory=deque)
    requests: list[Request] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    cond: threading.Condition = field(default_factory=threading.Condition)

    @property
    def events(self) -> list[dict[str, Any]]:
        with self.cond:
            return [e for r in self.requests for e in r.events]

    def wait_for_events(self, count: int, timeout_s: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while sum(len(r.events) for r in self.requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.cond.wait(remaining)
            return True

    def release(self) -> None:
        self.released.set()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _answer(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with receiver.cond:
                action = receiver.actions.popleft() if receiver.actions else "ok"
            if action == "close":
                self.close_connection = True
                return
            if action == "stall":
                receiver.released.wait(60)
            if isinstance(action, tuple):
                status, headers, *doc = action
                self._answer(status, doc[0] if doc else {}, headers)
                return
            if self.path != "/api/v1/events":
                self._answer(404, {"detail": "not found"})
                return
            if self.headers.get("X-API-Key") != API_KEY:
                self._answer(401, {"detail": "an API key is required"})
                return
            assert self.headers["Content-Encoding"] == "gzip"
            data = gzip.decompress(raw)
            events = [json.loads(line) for line in data.splitlines() if line]
            rejected = rejections(events)
            bad = {r["index"] for r in rejected}
            with receiver.cond:
                receiver.requests.append(
                    Request(
                        dict(self.headers.items()),
                        self.client_address[1],
                        [e for i, e in enumerate(events) if i not in bad],
                        data,
                    )
                )
                receiver.cond.notify_all()
            self._answer(
                207 if rejected else 200,
                {"accepted": len(events) - len(rejected), "rejected": rejected},
            )

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A fresh receiver on a free loopback port (stalled requests released at the end)."""
    rec = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    server.daemon_threads = True
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=lambda: server.serve_forever(0.05), name="sdk-receiver", daemon=True
    )
    thread.start()
    try:
        yield rec
    finally:
        rec.release()
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextlib.contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, ws="none", log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=lambda: server.run(sockets=[sock]), daemon=True, name=f"sdk-uvicorn-{port}"
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        thread.join(0.02)  # wait on the server thread, not a bare sleep
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextlib.contextmanager
def serve_wsgi(app: WSGIApplication) -> Iterator[str]:
    """Serve ``app`` with wsgiref on a free loopback port; yields its base URL."""
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(
        target=lambda: server.serve_forever(0.05), daemon=True, name="sdk-wsgiref"
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
