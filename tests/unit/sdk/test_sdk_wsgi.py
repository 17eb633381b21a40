"""The WSGI middleware called directly: status from start_response, time until close()."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from intperf.sdk import ROUTE_KEY, EventEmitter, IntperfWSGIMiddleware, MemoryTransport


class Recorder(EventEmitter):
    def __init__(self) -> None:
        super().__init__(MemoryTransport())
        self.events: list[dict[str, Any]] = []

    def emit(self, event: Any) -> bool:
        self.events.append(dict(event))
        return True


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    yield rec
    rec.close()


def environ(path: str, method: str = "GET", **extra: Any) -> dict[str, Any]:
    env: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": method, **extra}
    setup_testing_defaults(env)
    return env


def call(app: Any, env: dict[str, Any]) -> tuple[str, bytes]:
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], Any]:
        statuses.append(status)
        return lambda data: None

    body = app(env, start_response)
    try:
        data = b"".join(body)
    finally:
        body.close()
    return statuses[0], data


class Body:
    """A response iterable that records close() and the clock at that moment."""

    def __init__(self, chunks: list[bytes], fail: bool = False) -> None:
        self.chunks = chunks
        self.fail = fail
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        if self.fail:
            raise OSError("disk gone")

    def close(self) -> None:
        self.closed = True


def test_status_endpoint_and_time_until_close(recorder: Recorder) -> None:
    ticks = iter([1.0, 1.5])
    body = Body([b"a", b"b"])

    def app(env: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("201 Created", [("Content-Type", "text/plain")])
        return body

    wrapped = IntperfWSGIMiddleware(app, recorder, "shop", clock=lambda: next(ticks))
    assert call(wrapped, environ("/api/orders/42", "POST")) == ("201 Created", b"ab")
    assert body.closed
    [event] = recorder.events
    assert (event["method"], event["endpoint"], event["status"]) == (
        "POST",
        "/api/orders/{id}",
        201,
    )
    assert event["response_time_ms"] == pytest.approx(500.0)


def test_route_from_environ_key_and_script_name(recorder: Recorder) -> None:
    def app(env: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        env[ROUTE_KEY] = "/orders/<int:order_id>"  # what a Flask before_request hook sets
        start_response("200 OK", [])
        return [b"ok"]

    wrapped = IntperfWSGIMiddleware(app, recorder, "shop")
    call(wrapped, environ("/orders/9", SCRIPT_NAME="/shop"))
    call(wrapped, environ("/orders/9"))
    assert [e["endpoint"] for e in recorder.events] == [
        "/shop/orders/<int:order_id>",
        "/orders/<int:order_id>",
    ]


def test_exception_from_app_is_500_and_reraised(recorder: Recorder) -> None:
    def app(env: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        raise KeyError("missing")

    wrapped = IntperfWSGIMiddleware(app, recorder, "shop")
    with pytest.raises(KeyError):
        wrapped(environ("/x"), _ignore_start)
    assert [e["status"] for e in recorder.events] == [500]


def test_exception_while_iterating_is_500(recorder: Recorder) -> None:
    body = Body([b"a"], fail=True)

    def app(env: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [])
        return body

    wrapped = IntperfWSGIMiddleware(app, recorder, "shop")
    with pytest.raises(OSError, match="disk gone"):
        call(wrapped, environ("/files/1"))
    assert body.closed
    assert [(e["endpoint"], e["status"]) for e in recorder.events] == [("/files/{id}", 500)]


def test_endpoint_of_and_broken_emitter() -> None:
    class Broken(Recorder):
        def emit(self, event: Any) -> bool:
            raise RuntimeError("broken")

    def app(env: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [])
        return [b"fine"]

    broken = Broken()
    wrapped = IntperfWSGIMiddleware(app, broken, "shop", endpoint_of=lambda env: "custom")
    assert call(wrapped, environ("/a")) == ("200 OK", b"fine")
    broken.close()


def _ignore_start(status: str, headers: Any, exc_info: Any = None, /) -> Callable[[bytes], object]:
    return lambda data: None
