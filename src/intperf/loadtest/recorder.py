"""Buffers raw measurements of the current second and turns them into a SecondWindow.

Appending a float to a list is the cheapest thing Python can do per request; the
bucketing into histograms happens once a second with NumPy (docs/MATH.md).
"""

from __future__ import annotations

from intperf.loadtest.results import ErrorClass, RequestWindow, SecondWindow


class RequestBuffer:
    """Raw values for one request name during the current second."""

    __slots__ = ("bytes_in", "bytes_out", "errors", "latency", "messages", "ok", "service")

    def __init__(self) -> None:
        self.latency: list[float] = []
        self.service: list[float] = []
        self.ok = 0
        self.errors: dict[ErrorClass, int] = {}
        self.messages: dict[str, int] = {}
        self.bytes_in = 0
        self.bytes_out = 0

    def to_window(self) -> RequestWindow:
        """Bucket the raw values into histograms."""
        w = RequestWindow(ok=self.ok, bytes_in=self.bytes_in, bytes_out=self.bytes_out)
        w.latency.record_many(self.latency)
        w.service.record_many(self.service)
        for cls, n in self.errors.items():
            w.errors[cls.value] = n
        for msg, n in self.messages.items():
            w.add_message(msg, n)
        return w


class Recorder:
    """Per-second accumulation for one engine (one worker process)."""

    __slots__ = (
        "_buffers",
        "active",
        "active_max",
        "dropped",
        "iterations",
        "names",
        "started_users",
    )

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self._buffers = [RequestBuffer() for _ in names]
        self.active = 0
        self.active_max = 0
        self.started_users = 0
        self.iterations = 0
        self.dropped = 0

    def buffer(self, index: int) -> RequestBuffer:
        """The buffer of request name ``index`` for the current second."""
        return self._buffers[index]

    def name_index(self, name: str) -> int:
        """Index of ``name``, added if new (redirect hops and ad-hoc names)."""
        try:
            return self.names.index(name)
        except ValueError:
            self.names.append(name)
            self._buffers.append(RequestBuffer())
            return len(self.names) - 1

    def ok(self, index: int, latency_ms: float, service_ms: float, nin: int, nout: int) -> None:
        """Count a successful request."""
        b = self._buffers[index]
        b.latency.append(latency_ms)
        b.service.append(service_ms)
        b.ok += 1
        b.bytes_in += nin
        b.bytes_out += nout

    def fail(
        self,
        index: int,
        cls: ErrorClass,
        message: str,
        latency_ms: float | None,
        service_ms: float | None,
        nin: int,
        nout: int,
    ) -> None:
        """Count a failed request; times only when a response arrived."""
        b = self._buffers[index]
        if latency_ms is not None and service_ms is not None:
            b.latency.append(latency_ms)
            b.service.append(service_ms)
        b.errors[cls] = b.errors.get(cls, 0) + 1
        b.messages[message] = b.messages.get(message, 0) + 1
        b.bytes_in += nin
        b.bytes_out += nout

    def user_started(self) -> None:
        """A virtual user became active."""
        self.active += 1
        self.started_users += 1
        if self.active > self.active_max:
            self.active_max = self.active

    def user_finished(self) -> None:
        """A virtual user finished."""
        self.active -= 1

    def flush(self, second: int) -> SecondWindow:
        """Close the current second: return its window and start a new one."""
        sw = SecondWindow(second)
        for name, buf in zip(self.names, self._buffers, strict=True):
            if buf.ok or buf.errors:
                sw.requests[name] = buf.to_window()
        self._buffers = [RequestBuffer() for _ in self.names]
        sw.active_users = self.active_max
        sw.started_users = self.started_users
        sw.iterations = self.iterations
        sw.dropped = self.dropped
        self.active_max = self.active
        self.started_users = 0
        self.iterations = 0
        self.dropped = 0
        return sw
