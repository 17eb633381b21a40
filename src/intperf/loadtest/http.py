"""Callback-driven HTTP/1.1 keep-alive client on httptools, pooled per origin.

The hot path is ``asyncio.Protocol`` callbacks and httptools' C parser, never a coroutine
per request: that is what lets one Python process keep up with wrk (see
benchmarks/RESULTS.md). A request's owner implements :class:`Exchange`; the pool hands it a
connection, the connection calls back exactly once with a response or an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
import socket
import ssl
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any, Protocol

import httptools

from intperf.loadtest.request import Origin
from intperf.loadtest.results import ErrorClass

log = logging.getLogger(__name__)

Headers = list[tuple[bytes, bytes]]

NEED_HEADERS = 1
NEED_BODY = 2
_SET_COOKIE = re.compile(rb"(?im)^set-cookie:[ \t]*([^\r\n]*)")


class Exchange(Protocol):
    """The owner of one request: gets a connection, then one response or one error."""

    waiting: bool
    """Set by the pool while the exchange waits in line for a connection."""

    def on_connection(self, conn: Connection) -> None:
        """A connection is ready for this exchange's request."""

    def on_response(
        self, status: int, headers: Headers | None, body: bytes | None, nbytes: int
    ) -> None:
        """The response is complete; ``headers``/``body`` only when asked for."""

    def on_error(self, cls: ErrorClass, message: str) -> None:
        """The request failed before a complete response arrived."""


_METHODS_WITH_BODY = (b"POST ", b"PUT ", b"PATCH ")


def frame_request(head: bytes, cookie: bytes, body: bytes) -> bytes:
    """The bytes of a request: head, cookie line, Content-Length when needed, body."""
    if body or head.startswith(_METHODS_WITH_BODY):
        return b"".join((head, cookie, b"content-length: %d\r\n\r\n" % len(body), body))
    return b"".join((head, cookie, b"\r\n"))
MAX_REDIRECTS = 10


def _decode_body(body: bytes, headers: Headers | None) -> bytes:
    """Undo gzip/deflate content encoding (RFC 9110 §8.4)."""
    if not headers:
        return body
    for name, value in headers:
        if name == b"content-encoding":
            enc = value.strip().lower()
            if enc in (b"gzip", b"x-gzip"):
                return zlib.decompress(body, 16 + zlib.MAX_WBITS)
            if enc == b"deflate":
                try:
                    return zlib.decompress(body)
                except zlib.error:
                    return zlib.decompress(body, -zlib.MAX_WBITS)
    return body


class Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    __slots__ = (
        "_body",
        "_headers",
        "_parser",
        "_parsers",
        "_sniff_cookies",
        "closed",
        "deadline",
        "detached",
        "exchange",
        "last_activity",
        "nbytes",
        "pool",
        "reused",
        "seen_bytes",
        "served",
        "transport",
    )

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        # One parser per need: httptools looks its callbacks up once, so a parser made
        # without on_header/on_body costs no Python call per header or body chunk.
        self._parsers: dict[int, Any] = {}
        self._parser: Any = self._parser_for(0)
        self._sniff_cookies = False
        self.exchange: Exchange | None = None
        self._headers: Headers | None = None
        self._body: list[bytes] | None = None
        self.nbytes = 0
        self.seen_bytes = 0
        self.served = 0
        self.reused = False
        self.closed = False
        self.detached = False
        self.deadline = 0.0
        self.last_activity = 0.0

    def _parser_for(self, need: int) -> Any:
        """The parser for ``need``: bit 1 = headers, bit 2 = body."""
        parser = self._parsers.get(need)
        if parser is None:
            callbacks = SimpleNamespace(on_message_complete=self.on_message_complete)
            if need & NEED_HEADERS:
                callbacks.on_header = self.on_header
            if need & NEED_BODY:
                callbacks.on_body = self.on_body
            parser = self._parsers[need] = httptools.HttpResponseParser(callbacks)
        return parser

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # not TCP (unix sockets)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.nbytes += len(data)
        if self.exchange is None:
            # Bytes nobody asked for: the server is misbehaving; drop the connection.
            self.abort()
            return
        if self._sniff_cookies and (b"ookie" in data or b"OOKIE" in data):
            self._sniff(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ErrorClass.OTHER, "protocol upgrade is not supported")
        except httptools.HttpParserError as exc:
            self._fail(ErrorClass.OTHER, f"malformed response: {exc}")

    def eof_received(self) -> bool | None:
        with contextlib.suppress(httptools.HttpParserError):
            self._parser.feed_data(b"")  # completes a response delimited by connection close
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._detach()
        ex = self.exchange
        if ex is None:
            return
        if isinstance(exc, ssl.SSLError):
            self._fail(ErrorClass.TLS, f"TLS error: {exc.reason or exc}")
        elif self.reused and self.nbytes == 0 and self.pool.retry_stale(self, ex):
            # A keep-alive connection the server had already closed: resend once on a fresh one.
            self.exchange = None
        else:
            self._fail(ErrorClass.RESET, "connection closed before the response was complete")

    def _sniff(self, data: bytes) -> None:
        """Collect Set-Cookie lines without header callbacks (lean parser, cookie jar on)."""
        found = _SET_COOKIE.findall(data)
        if found:
            if self._headers is None:
                self._headers = []
            self._headers.extend((b"set-cookie", v) for v in found)

    # -- httptools callbacks ---------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        if self._headers is not None:
            self._headers.append((name, value))  # lower-cased once, in on_message_complete

    def on_body(self, body: bytes) -> None:
        if self._body is not None:
            self._body.append(body)

    def on_message_complete(self) -> None:
        ex = self.exchange
        if ex is None:
            return
        self.exchange = None
        self.served += 1
        parser = self._parser
        status = parser.get_status_code()
        keep = parser.should_keep_alive()
        headers = self._headers
        if headers and not self._sniff_cookies:
            headers = [(n.lower(), v) for n, v in headers]
        body: bytes | None = None
        if self._body is not None:
            try:
                body = _decode_body(b"".join(self._body), headers)
            except zlib.error as exc:
                self._release(keep)
                ex.on_error(ErrorClass.OTHER, f"bad content encoding: {exc}")
                return
        nbytes = self.nbytes
        self._release(keep)
        ex.on_response(status, headers, body, nbytes)

    # -- driving ---------------------------------------------------------------------------
    def send(self, exchange: Exchange, data: bytes, need: int, cookies: bool, deadline: float,
             now: float) -> None:
        """Write a request; ``exchange`` is called back with the outcome.

        ``need`` says what the exchange reads (NEED_HEADERS | NEED_BODY); ``cookies`` asks
        for Set-Cookie headers even when other headers are not needed.
        """
        self.exchange = exchange
        self._parser = self._parsers.get(need) or self._parser_for(need)
        self._headers = [] if need & NEED_HEADERS else None
        self._body = [] if need & NEED_BODY else None
        self._sniff_cookies = cookies and not need & NEED_HEADERS
        self.nbytes = 0
        self.seen_bytes = 0
        self.deadline = deadline
        self.last_activity = now
        self.reused = self.served > 0
        self.pool.inflight.add(self)
        self.transport.write(data)  # type: ignore[union-attr]  # set by connection_made

    def _release(self, keep_alive: bool) -> None:
        self.pool.inflight.discard(self)
        if keep_alive and not self.closed:
            self.pool.release(self)
        else:
            self.abort()

    def _fail(self, cls: ErrorClass, message: str) -> None:
        ex = self.exchange
        self.exchange = None
        self.pool.inflight.discard(self)
        self.abort()
        if ex is not None:
            ex.on_error(cls, message)

    def timeout(self, message: str) -> None:
        """Fail the in-flight request as a read timeout and drop the connection."""
        self._fail(ErrorClass.READ_TIMEOUT, message)

    def abort(self) -> None:
        """Close the connection now, without waiting for buffered writes."""
        if not self.closed:
            self.closed = True
            self._detach()
            if self.transport is not None:
                self.transport.abort()

    def _detach(self) -> None:
        if not self.detached:
            self.detached = True
            self.pool.forget(self)


def classify_connect_error(exc: BaseException) -> tuple[ErrorClass, str]:
    """Map an exception from connecting to an error class and a short, stable message."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return ErrorClass.CONNECT_TIMEOUT, "connect timed out"
    if isinstance(exc, ConnectionRefusedError):
        return ErrorClass.CONNECTION_REFUSED, "connection refused"
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "verify_message", None) or exc.reason or str(exc)
        return ErrorClass.TLS, f"TLS handshake failed: {reason}"
    if isinstance(exc, socket.gaierror):
        return ErrorClass.OTHER, f"cannot resolve host: {exc.strerror}"
    if isinstance(exc, ConnectionResetError):
        return ErrorClass.RESET, "connection reset during connect"
    if isinstance(exc, OSError):
        if exc.errno in (errno.ECONNREFUSED,):
            return ErrorClass.CONNECTION_REFUSED, "connection refused"
        if exc.errno in (errno.ETIMEDOUT,):
            return ErrorClass.CONNECT_TIMEOUT, "connect timed out"
        return ErrorClass.OTHER, f"connect failed: {exc.strerror or exc}"
    return ErrorClass.OTHER, f"connect failed: {type(exc).__name__}"


class Pool:
    """Connections to one origin: idle stack, waiters queue, optional cap on connections."""

    __slots__ = (
        "_ssl",
        "connect_hosts",
        "connect_timeout",
        "idle",
        "inflight",
        "loop",
        "max_connections",
        "on_connect_attempt",
        "open",
        "origin",
        "waiters",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        origin: Origin,
        *,
        connect_timeout: float,
        max_connections: int | None,
        ssl_context: ssl.SSLContext | None,
        inflight: set[Connection],
        connect_host: str | Sequence[str] | None = None,
    ) -> None:
        self.loop = loop
        self.origin = origin
        # The addresses a target policy checked (DNS rebinding defence): connect to these,
        # in order, never to a fresh resolution of origin.host. TLS still uses origin.host.
        self.connect_hosts: tuple[str, ...] = (
            (origin.host,) if connect_host is None
            else (connect_host,) if isinstance(connect_host, str)
            else tuple(connect_host) or (origin.host,)
        )
        self.connect_timeout = connect_timeout
        self.max_connections = max_connections
        self._ssl = ssl_context
        self.idle: list[Connection] = []
        self.waiters: deque[Exchange] = deque()
        self.open = 0
        self.inflight = inflight
        self.on_connect_attempt: Callable[[], None] | None = None

    def acquire(self, exchange: Exchange) -> None:
        """Give ``exchange`` a connection now, when one is made, or when one frees up."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                exchange.on_connection(conn)
                return
        if self.max_connections is None or self.open < self.max_connections:
            self._connect(exchange)
        else:
            exchange.waiting = True
            self.waiters.append(exchange)

    def release(self, conn: Connection) -> None:
        """Return a healthy connection after a complete response."""
        if self.waiters:
            self.waiters.popleft().on_connection(conn)
        else:
            self.idle.append(conn)

    def forget(self, conn: Connection) -> None:
        """A connection closed: stop counting it, and serve a waiter with a new one."""
        self.open -= 1
        if self.waiters and (self.max_connections is None or self.open < self.max_connections):
            self._connect(self.waiters.popleft())

    def retry_stale(self, conn: Connection, exchange: Exchange) -> bool:
        """Resend on a fresh connection after a stale keep-alive close; False if not possible."""
        self.inflight.discard(conn)
        self._connect(exchange, retry=True)
        return True

    def _connect(self, exchange: Exchange, *, retry: bool = False) -> None:
        self.open += 1
        if self.on_connect_attempt is not None:
            self.on_connect_attempt()
        conn = Connection(self)
        o = self.origin
        hosts = self.connect_hosts
        coro = (
            self.loop.create_connection(
                lambda: conn,
                hosts[0],
                o.port,
                ssl=self._ssl,
                server_hostname=o.host if self._ssl is not None else None,
            )
            if len(hosts) == 1
            else self._connect_any(conn)
        )
        task = self.loop.create_task(asyncio.wait_for(coro, self.connect_timeout))

        def done(t: asyncio.Task[tuple[asyncio.Transport, asyncio.Protocol]]) -> None:
            if t.cancelled():
                self.open -= 1
                exchange.on_error(ErrorClass.OTHER, "connect cancelled")
                return
            exc = t.exception()
            if exc is not None:
                self.open -= 1
                cls, msg = classify_connect_error(exc)
                exchange.on_error(cls, msg)
                return
            if conn.closed:
                exchange.on_error(ErrorClass.RESET, "connection closed right after connect")
                return
            exchange.on_connection(conn)

        task.add_done_callback(done)

    async def _connect_any(self, conn: Connection) -> tuple[asyncio.Transport, Connection]:
        """Try the pinned addresses in order; the first that answers is tried first next time."""
        o = self.origin
        hosts = self.connect_hosts
        error: OSError | None = None
        for host in hosts:
            try:
                made = await self.loop.create_connection(
                    lambda: conn,
                    host,
                    o.port,
                    ssl=self._ssl,
                    server_hostname=o.host if self._ssl is not None else None,
                )
            except ssl.SSLError:
                raise  # the server answered: a TLS problem is not solved by another address
            except OSError as exc:
                error = exc
                continue
            if host != hosts[0]:
                self.connect_hosts = (host, *(h for h in hosts if h != host))
            return made
        assert error is not None
        raise error

    def close(self) -> None:
        """Close every connection of the pool."""
        for conn in list(self.idle):
            conn.abort()
        self.idle.clear()
