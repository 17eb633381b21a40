"""Per-second, per-request-name measurements of a run, mergeable across workers exactly."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from intperf.stats.histogram import LogHistogram

#: Distinct failure messages kept per request name and second (the rest are counted only).
MAX_MESSAGES = 20


class ErrorClass(StrEnum):
    """Why a request failed. The order is the precedence when several apply."""

    CONNECTION_REFUSED = "connection_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    READ_TIMEOUT = "read_timeout"
    RESET = "reset"
    TLS = "tls"
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    CHECK_FAILED = "check_failed"
    OTHER = "other"


@dataclass(slots=True)
class RequestWindow:
    """One request name's measurements over some interval (one second, or merged)."""

    latency: LogHistogram = field(default_factory=LogHistogram)
    """Response time in ms from the intended send time (corrected for coordinated omission)."""
    service: LogHistogram = field(default_factory=LogHistogram)
    """Response time in ms from the actual send time."""
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    bytes_in: int = 0
    bytes_out: int = 0
    messages: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        """Requests that failed, all classes together."""
        return sum(self.errors.values())

    @property
    def requests(self) -> int:
        """Requests completed, successful or not."""
        return self.ok + self.failed

    def add_error(self, cls: ErrorClass, message: str | None, n: int = 1) -> None:
        """Count ``n`` failures of class ``cls`` with an optional message."""
        self.errors[cls.value] = self.errors.get(cls.value, 0) + n
        if message is not None:
            self.add_message(message, n)

    def add_message(self, message: str, n: int = 1) -> None:
        """Count a failure message; beyond MAX_MESSAGES distinct ones only known ones count."""
        msgs = self.messages
        if message in msgs or len(msgs) < MAX_MESSAGES:
            msgs[message] = msgs.get(message, 0) + n

    def merge(self, other: RequestWindow) -> None:
        """Add ``other`` into this window."""
        self.latency.merge(other.latency)
        self.service.merge(other.service)
        self.ok += other.ok
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        for k, v in other.errors.items():
            self.errors[k] = self.errors.get(k, 0) + v
        for m, v in other.messages.items():
            self.add_message(m, v)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "latency": self.latency.to_dict(),
            "service": self.service.to_dict(),
            "ok": self.ok,
            "errors": dict(self.errors),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "messages": dict(self.messages),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RequestWindow:
        """Inverse of :meth:`to_dict`."""
        return cls(
            latency=LogHistogram.from_dict(d["latency"]),
            service=LogHistogram.from_dict(d["service"]),
            ok=int(d["ok"]),
            errors={str(k): int(v) for k, v in d["errors"].items()},
            bytes_in=int(d["bytes_in"]),
            bytes_out=int(d["bytes_out"]),
            messages={str(k): int(v) for k, v in d["messages"].items()},
        )


@dataclass(slots=True)
class SecondWindow:
    """Everything measured during one second of the run (``second`` counts from run start)."""

    second: int
    requests: dict[str, RequestWindow] = field(default_factory=dict)
    active_users: int = 0
    """Highest number of concurrently active virtual users seen in the second."""
    started_users: int = 0
    iterations: int = 0
    dropped: int = 0
    """Arrivals that could not start on time (cap on concurrent users reached)."""

    def window(self, name: str) -> RequestWindow:
        """The window for request ``name``, created on first use."""
        w = self.requests.get(name)
        if w is None:
            w = self.requests[name] = RequestWindow()
        return w

    def merge(self, other: SecondWindow) -> None:
        """Add ``other`` (same second, another worker) into this one."""
        for name, w in other.requests.items():
            self.window(name).merge(w)
        # Workers run side by side, so their active users add up within a second.
        self.active_users += other.active_users
        self.started_users += other.started_users
        self.iterations += other.iterations
        self.dropped += other.dropped

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "second": self.second,
            "requests": {n: w.to_dict() for n, w in self.requests.items()},
            "active_users": self.active_users,
            "started_users": self.started_users,
            "iterations": self.iterations,
            "dropped": self.dropped,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SecondWindow:
        """Inverse of :meth:`to_dict`."""
        return cls(
            second=int(d["second"]),
            requests={str(n): RequestWindow.from_dict(w) for n, w in d["requests"].items()},
            active_users=int(d["active_users"]),
            started_users=int(d["started_users"]),
            iterations=int(d["iterations"]),
            dropped=int(d["dropped"]),
        )


@dataclass(slots=True)
class TimeSeries:
    """A run's second windows keyed by second; merging two series is exact."""

    seconds: dict[int, SecondWindow] = field(default_factory=dict)

    def at(self, second: int) -> SecondWindow:
        """The window of ``second``, created on first use."""
        w = self.seconds.get(second)
        if w is None:
            w = self.seconds[second] = SecondWindow(second)
        return w

    def add(self, window: SecondWindow) -> None:
        """Merge one second window (from any worker) into the series."""
        existing = self.seconds.get(window.second)
        if existing is None:
            self.seconds[window.second] = window
        else:
            existing.merge(window)

    def merge(self, other: TimeSeries) -> None:
        """Merge another series into this one."""
        for w in other.seconds.values():
            self.add(SecondWindow.from_dict(w.to_dict()))

    @property
    def request_names(self) -> list[str]:
        """Request names in order of first appearance."""
        seen: dict[str, None] = {}
        for s in sorted(self.seconds):
            for n in self.seconds[s].requests:
                seen.setdefault(n, None)
        return list(seen)

    def span(self) -> tuple[int, int]:
        """First and last second present, or (0, -1) when empty."""
        if not self.seconds:
            return (0, -1)
        return (min(self.seconds), max(self.seconds))

    def aggregate(
        self, names: Iterable[str] | None = None, start: int | None = None, end: int | None = None
    ) -> RequestWindow:
        """Merge the windows of ``names`` (all when None) over seconds in [start, end]."""
        wanted = None if names is None else set(names)
        out = RequestWindow()
        for s, sw in self.seconds.items():
            if (start is not None and s < start) or (end is not None and s > end):
                continue
            for n, w in sw.requests.items():
                if wanted is None or n in wanted:
                    out.merge(w)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (seconds in order)."""
        return {"seconds": [self.seconds[s].to_dict() for s in sorted(self.seconds)]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TimeSeries:
        """Inverse of :meth:`to_dict`."""
        ts = cls()
        for w in d["seconds"]:
            ts.add(SecondWindow.from_dict(w))
        return ts
