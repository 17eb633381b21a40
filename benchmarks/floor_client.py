"""The floor of any Python HTTP load generator: the cheapest client this stack allows.

uvloop plus one bare ``asyncio.Protocol`` per connection, parsing responses with
``httptools.HttpResponseParser`` and only ``on_message_complete`` registered. Each connection
keeps one request in flight: a fixed, prebuilt ``GET`` written again as soon as the previous
response is complete. TCP_NODELAY is set. No latency measurement, no histograms, no status or
body checks: whatever any real Python client does costs at least this much.

    python benchmarks/floor_client.py --url http://127.0.0.1:8080/ --seconds 10

After the run it prints ``{"requests": N, "seconds": S}`` (responses completed within the
timed window, and that window's length) on stdout. Exit code 1 when a connection was lost
or refused before the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
from typing import cast
from urllib.parse import urlsplit

import httptools
import uvloop


class FloorProtocol(asyncio.Protocol):
    """One keep-alive connection with one request in flight, re-sent on each response."""

    __slots__ = ("_parser", "_request", "_stats", "lost", "transport")

    def __init__(self, request: bytes, stats: Stats) -> None:
        self._request = request
        self._stats = stats
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport  # set by connection_made, before any response
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport = transport
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_message_complete(self) -> None:
        stats = self._stats
        if stats.running:
            stats.requests += 1
            self.transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stats.running:
            self.lost = True


class Stats:
    """Shared by all connections: whether the timed window is open, and its count."""

    __slots__ = ("requests", "running")

    def __init__(self) -> None:
        self.requests = 0
        self.running = False


def build_request(url: str) -> tuple[str, int, bytes]:
    """(host, port, the prebuilt request bytes) for a plain-HTTP URL."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"only http://host[:port]/path URLs are supported: {url!r}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    request = f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode("ascii")
    return parts.hostname, parts.port or 80, request


async def run(url: str, connections: int, seconds: float) -> tuple[int, float, int]:
    """(requests completed in the window, window length in seconds, connections lost)."""
    host, port, request = build_request(url)
    loop = asyncio.get_running_loop()
    stats = Stats()
    stats.running = True
    start = time.monotonic()  # like wrk, the window includes connecting (~1 ms on loopback)
    made = await asyncio.gather(*(
        loop.create_connection(lambda: FloorProtocol(request, stats), host, port)
        for _ in range(connections)))
    protocols = [protocol for _, protocol in made]
    await asyncio.sleep(max(0.0, seconds - (time.monotonic() - start)))
    stats.running = False
    elapsed = time.monotonic() - start
    requests = stats.requests
    lost = sum(protocol.lost for protocol in protocols)
    for transport, _ in made:
        transport.close()
    return requests, elapsed, lost


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="floor_client.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="plain-HTTP URL to GET, e.g. http://h:p/")
    p.add_argument("--connections", type=int, default=50, help="connections (default 50)")
    p.add_argument("--seconds", type=float, required=True, help="length of the timed run")
    args = p.parse_args(argv)
    if args.connections < 1 or args.seconds <= 0:
        p.error("--connections must be >= 1 and --seconds > 0")
    requests, elapsed, lost = uvloop.run(run(args.url, args.connections, args.seconds))
    print(json.dumps({"requests": requests, "seconds": round(elapsed, 6)}))
    if lost:
        print(f"floor_client: {lost} of {args.connections} connections lost before the end",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
