"""Running the demo shop: in the foreground (:func:`serve`), in a background thread
(:class:`DemoServer`, for tests and the quick start) or as a subprocess (:func:`run_in_subprocess`).

The shop binds to loopback only unless ``allow_public=True``: a demo must not be exposed.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import ipaddress
import logging
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any, Self

import uvicorn

from intperf.demo.shop import create_app
from intperf.demo.state import DemoConfig
from intperf.errors import TargetUnreachableError, UsageError

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8080
READY_PREFIX = "intperf demo shop listening on "
"""``python -m intperf.demo`` prints this, then the URL, once it accepts connections."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind_host(host: str, *, allow_public: bool) -> None:
    """Raise ``UsageError`` for a non-loopback host unless ``allow_public``."""
    if not allow_public and not is_loopback(host):
        raise UsageError(
            f"refusing to bind the demo shop to {host!r}: it is for loopback only "
            "(127.0.0.1, ::1, localhost); pass allow_public=True / --allow-public to expose it"
        )


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    config: DemoConfig | None = None,
    *,
    allow_public: bool = False,
    on_started: Callable[[str], None] | None = None,
) -> None:
    """Run the shop in the foreground until interrupted (SIGINT/SIGTERM).

    ``on_started`` is called with the base URL once the shop accepts connections.
    """
    check_bind_host(host, allow_public=allow_public)
    host = _bind_address(host)
    sock = _bind(host, port)
    server = _Server(_uvicorn_config(config, host, quiet=False), on_started=on_started)
    server.url = _url(host, sock)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


class DemoServer:
    """The shop on a background thread with its own event loop.

    ``with DemoServer(DemoConfig(seed=7)) as shop: urlopen(shop.url + "/health")``; also usable
    as ``async with``. ``port=0`` (the default) picks a free port.
    """

    def __init__(
        self,
        config: DemoConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_public: bool = False,
        start_timeout: float = 10.0,
    ) -> None:
        check_bind_host(host, allow_public=allow_public)
        self.config = config if config is not None else DemoConfig()
        self.host = _bind_address(host)
        self.port = port
        self.start_timeout = start_timeout
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (known once started)."""
        if self._server is None or not self._server.url:
            raise RuntimeError("the demo server is not running")
        return self._server.url

    def start(self) -> None:
        """Bind, start the thread and return once the shop accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the demo server is already running")
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        server = _Server(_uvicorn_config(self.config, self.host, quiet=True))
        server.url = _url(self.host, sock)
        self._server, self._error = server, None
        self._thread = threading.Thread(
            target=self._run, args=(server, sock), name=f"intperf-demo-{self.port}", daemon=True
        )
        self._thread.start()
        if not server.ready.wait(self.start_timeout) or not server.started:
            self.stop()
            raise TargetUnreachableError(f"the demo shop did not start: {self._error!r}")

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit and join its thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)
        self._thread = None

    def _run(self, server: _Server, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._error = exc
        finally:
            sock.close()
            server.ready.set()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)


class DemoProcess:
    """Handle on a shop started by :func:`run_in_subprocess`; stops it on ``terminate()``."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url

    def terminate(self, timeout: float = 10.0) -> None:
        """Stop the subprocess (SIGTERM, then SIGKILL after ``timeout``)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.terminate()


def run_in_subprocess(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    args: tuple[str, ...] = (),
    timeout: float = 30.0,
) -> DemoProcess:
    """Start ``python -m intperf.demo --port N`` and return once ``/health`` answers.

    ``port=0`` lets the child pick a free port (read from its ready line); ``args`` are extra
    command-line options such as ``("--latency-ms", "5")``.
    """
    check_bind_host(host, allow_public=False)
    command = [sys.executable, "-m", "intperf.demo", "--host", host, "--port", str(port), *args]
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryFile("w+") as stderr_file:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, stdout=subprocess.PIPE, stderr=stderr_file, text=True
        )
        try:
            url = _read_ready_url(process, deadline)
            _wait_healthy(process, url, deadline)
        except TargetUnreachableError as exc:
            DemoProcess(process, "").terminate()
            stderr_file.seek(0)
            raise TargetUnreachableError(f"{exc}\n{stderr_file.read()[-2000:]}") from exc
        except BaseException:
            DemoProcess(process, "").terminate()
            raise
    return DemoProcess(process, url)


# -- internals -----------------------------------------------------------------------------
class _Server(uvicorn.Server):
    """A uvicorn server that signals when it accepts connections (no polling)."""

    def __init__(
        self, config: uvicorn.Config, on_started: Callable[[str], None] | None = None
    ) -> None:
        super().__init__(config)
        self.ready = threading.Event()
        self.url = ""
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.ready.set()
            if self._on_started is not None:
                self._on_started(self.url)


def _uvicorn_config(config: DemoConfig | None, host: str, *, quiet: bool) -> uvicorn.Config:
    extra: dict[str, Any] = {"log_config": None} if quiet else {}
    return uvicorn.Config(
        create_app(config),
        host=host,
        loop="uvloop",
        http="httptools",
        ws="none",  # no websockets import: its deprecation warnings would fail strict test runs
        lifespan="off",
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=5,
        **extra,
    )


def _bind_address(host: str) -> str:
    # "localhost" may resolve to ::1 first for clients while we bind IPv4: be explicit.
    return "127.0.0.1" if host.lower() == "localhost" else host


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    return sock


def _url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _read_ready_url(process: subprocess.Popen[str], deadline: float) -> str:
    stdout: IO[str] | None = process.stdout
    assert stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        while (remaining := deadline - time.monotonic()) > 0:
            if not selector.select(remaining):
                break
            line = stdout.readline()
            if not line:
                raise TargetUnreachableError(
                    f"the demo shop exited with code {process.wait()} before it was ready"
                )
            if line.startswith(READY_PREFIX):
                return line[len(READY_PREFIX) :].strip()
    raise TargetUnreachableError("the demo shop did not report ready before the deadline")


def _wait_healthy(process: subprocess.Popen[str], url: str, deadline: float) -> None:
    host, _, port = url.removeprefix("http://").rpartition(":")
    while True:
        connection = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=1.0)
        with contextlib.suppress(OSError, http.client.HTTPException):
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                connection.close()
                return
        connection.close()
        # Waiting on the child doubles as the pause between polls and notices an early exit.
        try:
            code = process.wait(min(0.05, max(0.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                raise TargetUnreachableError(f"{url}/health did not answer in time") from None
        else:
            raise TargetUnreachableError(f"the demo shop exited with code {code}")
