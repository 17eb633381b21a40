"""A virtual user: a callback-driven state machine walking a journey's steps.

No coroutine per user or per request: a response callback records the measurement, runs
checks and extraction, and writes the next request or arms a think-time timer.
A failed request ends the iteration (later steps usually depend on it); the user then
starts its next iteration, as Locust does when a task raises. A request with
``on_failure: continue`` lets the iteration go on (JMeter's default).
"""

from __future__ import annotations

import asyncio
import time
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, cast
from urllib.parse import urljoin, urlsplit

from intperf.errors import (
    FeederExhaustedError,
    IntperfError,
    TargetNotAllowedError,
    UsageError,
)
from intperf.loadtest.checks import ResponseView
from intperf.loadtest.feeders import Feeder
from intperf.loadtest.flow import (
    STEP_IF,
    OpenTransaction,
    abandon,
    count_request,
    exclude_pause,
    run_control,
)
from intperf.loadtest.http import Connection, Headers, frame_request
from intperf.loadtest.plan import STEP_FEED, STEP_REQUEST, CompiledJourney, CompiledRequest
from intperf.loadtest.request import Origin, origin_of
from intperf.loadtest.results import ErrorClass
from intperf.loadtest.scenario import ThinkTime
from intperf.loadtest.templating import BuiltinContext

if TYPE_CHECKING:
    from intperf.loadtest.engine import Engine
    from intperf.loadtest.launcher import Launcher

# Measurements use the monotonic clock at full resolution: uvloop's loop.time() is the same
# CLOCK_MONOTONIC but cached per loop iteration and rounded to milliseconds.
_clock = time.monotonic

REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
MAX_REDIRECTS = 10


class VirtualUser:
    """One simulated user with its own variables and cookie jar."""

    __slots__ = (
        "_cookie_lines",
        "active",
        "body",
        "conn",
        "cookies",
        "ctx",
        "engine",
        "head",
        "intended",
        "iteration_start",
        "iterations_left",
        "journey",
        "last_ok",
        "nout",
        "once",
        "origin",
        "paused_at",
        "pop",
        "redirects",
        "req",
        "sent_at",
        "step",
        "stop_requested",
        "timer",
        "txs",
        "uid",
        "url",
        "vars",
        "waiting",
    )

    def __init__(
        self, engine: Engine, uid: int, *, once: bool, iterations: int | None, pop: Launcher
    ) -> None:
        self.engine = engine
        self.pop = pop
        """The population this user belongs to (its journey, schedule and end)."""
        self.uid = uid
        self.once = once
        self.iterations_left = iterations
        self.vars: dict[str, str] = dict(engine.initial_vars)
        self.cookies: dict[str, dict[str, str]] = {}
        self._cookie_lines: dict[str, bytes] = {}
        self.ctx = BuiltinContext(rng=engine.rng, user_id=uid, iteration=0)
        self.journey: CompiledJourney | None = None
        self.step = 0
        self.req: CompiledRequest | None = None
        self.origin: Origin | None = None
        self.head = b""
        self.body = b""
        self.url = ""
        self.redirects = 0
        self.nout = 0
        self.intended = 0.0
        self.sent_at = 0.0
        self.iteration_start = 0.0
        self.waiting = False
        self.conn: Connection | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.stop_requested = False
        self.active = True
        self.last_ok = True
        """Did the previous request succeed (``last_ok`` in conditions; JMeter starts true)."""
        self.txs: list[OpenTransaction] = []
        """Transactions (groups) in progress, innermost last."""
        self.paused_at = 0.0

    # -- iterations ------------------------------------------------------------------------
    def start_iteration(self, intended: float) -> None:
        """Begin one pass through the population's journey (or one chosen by weight)."""
        engine = self.engine
        pop = self.pop
        self.timer = None
        if not pop.accepting or self.stop_requested:
            self.finish()
            return
        if pop.has_shared_iterations and not pop.take_shared_iteration():
            self.finish()
            return
        self.journey = pop.journey or engine.plan.pick_journey(engine.rng)
        self.step = 0
        self.iteration_start = intended
        self.intended = intended if pop.corrected else _clock()
        self.ctx.iteration += 1
        self.advance()

    def end_iteration(self, *, from_io: bool = False) -> None:
        """The journey is done (or was cut short by a failure).

        ``from_io``: called from a response or error callback, so starting the next
        iteration right away cannot recurse without bound.
        """
        engine = self.engine
        engine.recorder.iterations += 1
        if self.iterations_left is not None:
            self.iterations_left -= 1
        if self.once or not self.pop.accepting or self.stop_requested or self.iterations_left == 0:
            self.finish()
            return
        journey = self.journey
        if journey is not None and journey.pacing is not None:
            start = max(_clock(), self.iteration_start + journey.pacing)
            self.timer = engine.loop.call_at(start, self.start_iteration, start)
        elif from_io:
            self.start_iteration(_clock())  # closed or open: a new iteration starts now
        else:
            # A synchronous failure: go through the loop so iterations cannot recurse.
            self.timer = engine.loop.call_soon(self.start_iteration, _clock())  # type: ignore[assignment]

    def finish(self) -> None:
        """Leave the run."""
        if self.active:
            self.active = False
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            self.engine.user_finished(self)

    # -- steps -----------------------------------------------------------------------------
    def advance(self) -> None:
        """Run steps until one has to wait (a request or a pause)."""
        journey = self.journey
        assert journey is not None
        steps = journey.steps
        while self.step < len(steps):
            kind, payload = steps[self.step]
            self.step += 1
            if kind == STEP_REQUEST:
                self.issue(cast(CompiledRequest, payload))
                return
            if kind == STEP_FEED:
                try:
                    self.vars.update(cast(Feeder, payload).next())
                except FeederExhaustedError:
                    self.engine.feeder_exhausted(self)
                    self.finish()
                    return
                continue
            if kind >= STEP_IF:  # a group's branch or transaction (never without groups)
                run_control(self, kind, payload)
                continue
            self.pause(cast(ThinkTime, payload).sample(self.engine.rng))
            return
        self.end_iteration(from_io=True)

    def pause(self, seconds: float) -> None:
        """Wait, then continue with the next step."""
        if seconds <= 0:
            self.intended = _clock()
            self.advance()
            return
        # The precise clock, not loop.time(): uvloop's is cached per iteration in whole ms.
        now = _clock()
        at = now + seconds
        self.intended = at
        if self.txs:
            self.paused_at = now
        self.timer = self.engine.loop.call_at(at, self._wake)

    def _wake(self) -> None:
        self.timer = None
        pop = self.pop
        if not pop.accepting:
            self.finish()
            return
        if self.txs:
            exclude_pause(self.txs, _clock() - self.paused_at)
        if not pop.corrected:
            # Closed model: users wait for each other by design, so latency counts from
            # the actual send; only an open model's schedule defines intended send times.
            self.intended = _clock()
        self.advance()

    # -- requests --------------------------------------------------------------------------
    def issue(self, req: CompiledRequest) -> None:
        """Render and send ``req`` on a pooled connection."""
        self.req = req
        self.redirects = 0
        if req.static_head is not None:
            head = req.static_head
            body = req.static_body or b""
        else:
            try:
                head, body = req.template.render(self.vars, self.ctx)
            except IntperfError as exc:
                self.engine.recorder.fail(req.index, ErrorClass.OTHER, str(exc), None, None, 0, 0)
                self._failed(req, ErrorClass.OTHER, from_io=False)
                return
        self.head = head
        self.body = body
        self.origin = req.origin
        if req.track_url:
            self.url = req.origin.url + head.split(b" ", 2)[1].decode("latin-1")
        self._acquire(req)

    def _acquire(self, req: CompiledRequest) -> None:
        engine = self.engine
        now = self.sent_at = _clock()
        if self.intended > now:
            # libuv timers have millisecond resolution and may fire a little early.
            self.intended = now
        self.waiting = False
        (req.pool or engine.pools[req.origin]).acquire(self)

    def on_connection(self, conn: Connection) -> None:
        """A connection is ours: write the request."""
        engine = self.engine
        now = _clock()
        if self.waiting:
            if not self.active:  # cut while waiting or connecting (Launcher.cut): not ours
                conn.pool.release(conn)
                return
            # Waited for a free connection: service time starts now, latency does not.
            self.sent_at = now
            self.waiting = False
        req = cast(CompiledRequest, self.req)
        origin = cast(Origin, self.origin)
        cookie = self._cookie_lines.get(origin.host_header, b"") if self.cookies else b""
        head = self.head
        if not cookie and req.static_data is not None and head is req.static_head:
            data = req.static_data
        else:
            data = frame_request(head, cookie, self.body)
        self.nout = len(data)
        self.conn = conn
        conn.send(self, data, req.need, engine.cookies_enabled,
                  self.intended + engine.total_timeout, now)

    def on_response(
        self, status: int, headers: Headers | None, body: bytes | None, nbytes: int
    ) -> None:
        """A complete response: record, check, extract, go on."""
        engine = self.engine
        now = _clock()
        self.conn = None
        req = cast(CompiledRequest, self.req)
        if headers and engine.cookies_enabled and self.origin is not None:
            self._store_cookies(self.origin.host_header, headers)
        if (
            req.follow_redirects
            and status in REDIRECT_STATUSES
            and headers
            and self.redirects < MAX_REDIRECTS
            and self._redirect(status, headers)
        ):
            return
        latency = (now - self.intended) * 1000.0
        service = (now - self.sent_at) * 1000.0
        nout = self.nout
        checks = req.checks
        failure: tuple[ErrorClass, str] | None = None
        status_set = checks.status_set
        if status_set is None:
            if status >= 400:
                failure = (
                    ErrorClass.HTTP_5XX if status >= 500 else ErrorClass.HTTP_4XX,
                    f"HTTP {status}",
                )
        elif status not in status_set:
            cls = (
                ErrorClass.HTTP_5XX
                if status >= 500
                else ErrorClass.HTTP_4XX
                if status >= 400
                else ErrorClass.CHECK_FAILED
            )
            failure = (cls, f"status {status} not in {checks.status_shown}")
        if failure is None and checks.has_view_checks:
            view = ResponseView(status, headers or [], body or b"", service, self.url)
            msg = checks.run(view)
            if msg is None and checks.has_extractions:
                values, msg = checks.extract(view)
                self.vars.update(values)
            if msg is not None:
                failure = (ErrorClass.CHECK_FAILED, msg)
        rec = engine.recorder
        if failure is None:
            rec.ok(req.index, latency, service, nbytes, nout)
            self.last_ok = True
            if self.txs:
                count_request(self.txs, None)
            think = req.think_time
            if think is not None:
                self.pause(think.sample(engine.rng))
            else:
                self.intended = now
                self.advance()
        else:
            rec.fail(req.index, failure[0], failure[1], latency, service, nbytes, nout)
            self._failed(req, failure[0], from_io=True)

    def _failed(self, req: CompiledRequest, cls: ErrorClass, *, from_io: bool) -> None:
        """A request failed (and was recorded): end the iteration, or go on (on_failure)."""
        self.last_ok = False
        txs = self.txs
        if txs:
            count_request(txs, cls)
        if not req.continue_on_failure:
            if txs:
                abandon(txs, self.engine.recorder)
            self.end_iteration(from_io=from_io)
            return
        if not from_io:
            # A synchronous failure (rendering): go through the loop so steps cannot recurse.
            self.paused_at = _clock()  # _wake leaves this (tiny) wait out of transactions
            self.timer = self.engine.loop.call_soon(self._wake)  # type: ignore[assignment]
            return
        think = req.think_time
        if think is not None:
            self.pause(think.sample(self.engine.rng))
        else:
            self.intended = _clock()
            self.advance()

    def on_error(self, cls: ErrorClass, message: str) -> None:
        """The request failed without a response."""
        self.conn = None
        engine = self.engine
        if engine.stopped or not self.active:
            return
        req = self.req
        assert req is not None
        engine.recorder.fail(req.index, cls, message, None, None, 0, 0)
        self._failed(req, cls, from_io=True)

    def cancel(self) -> None:
        """Hard stop: drop the in-flight request and any timer."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        conn = self.conn
        self.conn = None
        if conn is not None:
            conn.exchange = None
            conn.abort()

    # -- cookies and redirects -------------------------------------------------------------
    def _store_cookies(self, host: str, headers: Headers) -> None:
        changed = False
        for name, value in headers:
            if name != b"set-cookie":
                continue
            jar = self.cookies.setdefault(host, {})
            try:
                parsed: SimpleCookie = SimpleCookie(value.decode("latin-1"))
            except CookieError:
                continue
            for key, morsel in parsed.items():
                max_age = morsel["max-age"]
                if max_age and max_age.lstrip("-").isdigit() and int(max_age) <= 0:
                    jar.pop(key, None)
                else:
                    jar[key] = morsel.value
                changed = True
        if changed:
            jar = self.cookies.get(host, {})
            self._cookie_lines[host] = (
                ("cookie: " + "; ".join(f"{k}={v}" for k, v in jar.items()) + "\r\n").encode(
                    "latin-1"
                )
                if jar
                else b""
            )

    def _redirect(self, status: int, headers: Headers) -> bool:
        location = next((v for n, v in headers if n == b"location"), None)
        req = self.req
        if location is None or req is None:
            return False
        url = urljoin(self.url, location.decode("latin-1"))
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            origin = origin_of(url)
            self.engine.check_redirect(url, origin, parts.path or "/")
        except TargetNotAllowedError as exc:
            self._redirect_failed(f"redirect to a target that is not allowed: {exc}")
            return True
        except UsageError as exc:  # an unusable Location (bad port): fail, never crash
            self._redirect_failed(f"invalid redirect location: {exc}")
            return True
        method = self.head.split(b" ", 1)[0]
        body = self.body
        if status == 303 or (status in (301, 302) and method == b"POST"):
            method, body = b"GET", b""
        self.head = (
            b"%s %s HTTP/1.1\r\nhost: %s\r\n"
            % (method, path.encode("latin-1"), origin.host_header.encode("latin-1"))
        ) + self.engine.default_header_lines
        self.body = body
        self.url = url
        self.origin = origin
        self.redirects += 1
        self.sent_at = _clock()
        self.waiting = False
        self.engine.pools[origin].acquire(self)
        return True

    def _redirect_failed(self, message: str) -> None:
        """The redirect cannot be followed: this request fails (and the iteration ends)."""
        now = _clock()
        req = cast(CompiledRequest, self.req)
        self.engine.recorder.fail(
            req.index,
            ErrorClass.OTHER,
            message,
            (now - self.intended) * 1000.0,
            (now - self.sent_at) * 1000.0,
            0,
            self.nout,
        )
        self._failed(req, ErrorClass.OTHER, from_io=True)
