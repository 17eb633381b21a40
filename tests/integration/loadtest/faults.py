"""Misbehaving TCP servers on loopback for error-classification tests."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def fault_server(mode: str) -> Iterator[int]:
    """Serve on a free loopback port; ``mode`` is 'silent', 'reset', 'close' or 'garbage'.

    silent: accepts and reads, never answers (read timeout);
    reset: reads the request and closes with RST (SO_LINGER 0);
    close: reads the request and closes cleanly without answering;
    garbage: answers bytes that are not HTTP.
    """
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    port = int(srv.getsockname()[1])
    stop = threading.Event()
    conns: list[socket.socket] = []

    def handle(c: socket.socket) -> None:
        try:
            c.recv(65536)
            if mode == "reset":
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
            elif mode == "close":
                c.close()
            elif mode == "garbage":
                c.sendall(b"this is not http\r\n\r\n")
                c.close()
        except OSError:
            pass

    def accept_loop() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conns.append(c)
            threading.Thread(target=handle, args=(c,), daemon=True).start()

    t = threading.Thread(target=accept_loop, daemon=True)
    t.start()
    try:
        yield port
    finally:
        stop.set()
        t.join(timeout=2)
        srv.close()
        for c in conns:
            with contextlib.suppress(OSError):
                c.close()


@contextmanager
def backlog_full_server() -> Iterator[int]:
    """A listener that never accepts and whose queue is full: new connects time out."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = int(srv.getsockname()[1])
    fillers: list[socket.socket] = []
    try:
        for _ in range(8):
            f = socket.socket()
            f.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                f.connect(("127.0.0.1", port))
            fillers.append(f)
        yield port
    finally:
        for f in fillers:
            f.close()
        srv.close()
