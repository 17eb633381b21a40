"""Shared pieces of the result importers: the streaming series builder and error classing.

Samples are buffered per (second, label) and bucketized with ``LogHistogram.record_many``
whenever the buffer holds ``FLUSH_AT`` values, so memory is bounded by the histograms, not
by the number of rows.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from intperf.errors import UsageError
from intperf.loadtest.results import ErrorClass, SecondWindow, TimeSeries

#: Buffered sample values (all labels and seconds together) before a bucketizing pass.
FLUSH_AT = 1 << 16
#: Replacement character inserted by ``errors="replace"`` decoding.
REPLACEMENT = "\ufffd"


@dataclass(slots=True)
class ImportResult:
    """A foreign result file turned into an intperf time series."""

    series: TimeSeries
    started_at: datetime
    scenario: str
    source_format: str
    warnings: list[str] = field(default_factory=list)
    rows: int = 0
    """Samples (or rows) read and counted."""
    skipped: int = 0
    """Rows that could not be read and were left out."""
    duration_s: float | None = None
    """Length of the run in seconds (from the file when it says, else the series span)."""
    extra: dict[str, int] = field(default_factory=dict)
    """Counts of records kept for information only (Gatling GROUP/ERROR, k6 checks...)."""

    @property
    def run_duration_s(self) -> float:
        """The duration to rate requests by: ``duration_s`` or the span of the series."""
        if self.duration_s is not None:
            return self.duration_s
        first, last = self.series.span()
        return float(max(last - first + 1, 0))


class SeriesBuilder:
    """Accumulates samples stamped with epoch seconds and renumbers them from the first."""

    __slots__ = ("_pending", "_pending_n", "_series")

    def __init__(self) -> None:
        self._series = TimeSeries()
        self._pending: dict[tuple[int, str], list[float]] = {}
        self._pending_n = 0

    def sample(
        self,
        epoch_s: int,
        label: str,
        elapsed_ms: float,
        error: ErrorClass | None = None,
        message: str | None = None,
        bytes_in: int = 0,
        bytes_out: int = 0,
    ) -> None:
        """Count one request that started in ``epoch_s`` (``error`` None means success)."""
        w = self._series.at(epoch_s).window(label)
        if error is None:
            w.ok += 1
        else:
            w.add_error(error, message or None)
        w.bytes_in += bytes_in
        w.bytes_out += bytes_out
        if elapsed_ms >= 0 and math.isfinite(elapsed_ms):
            buf = self._pending.get((epoch_s, label))
            if buf is None:
                buf = self._pending[(epoch_s, label)] = []
            buf.append(elapsed_ms)
            self._pending_n += 1
            if self._pending_n >= FLUSH_AT:
                self.flush()

    def weighted(self, epoch_s: int, label: str, values: Sequence[tuple[float, int]]) -> None:
        """Record pseudo-samples: each ``(value, weight)`` counts ``weight`` times."""
        w = self._series.at(epoch_s).window(label)
        for value, weight in values:
            remaining = weight
            while remaining > 0:  # chunks keep the temporary array small for huge counts
                n = min(remaining, FLUSH_AT)
                batch = [value] * n
                w.latency.record_many(batch)
                w.service.record_many(batch)
                remaining -= n

    def window(self, epoch_s: int, label: str) -> SecondWindow:
        """The second window of ``epoch_s`` (creating ``label``'s request window in it)."""
        sw = self._series.at(epoch_s)
        sw.window(label)
        return sw

    def second(self, epoch_s: int) -> SecondWindow:
        """The second window of ``epoch_s``."""
        return self._series.at(epoch_s)

    def epoch_seconds(self) -> list[int]:
        """The epoch seconds holding a window so far, in order."""
        return sorted(self._series.seconds)

    def flush(self) -> None:
        """Bucketize the buffered values."""
        for (sec, label), values in self._pending.items():
            w = self._series.seconds[sec].requests[label]
            # Imported tools measure from the actual send: latency and service time coincide.
            w.latency.record_many(values)
            w.service.record_many(values)
            # Arrays take about a third of the dict's memory; a late sample thaws them.
            w.latency.compact()
            w.service.compact()
        self._pending.clear()
        self._pending_n = 0

    def finish(self) -> tuple[TimeSeries, int | None]:
        """The series renumbered from its first second, and that first epoch second."""
        self.flush()
        if not self._series.seconds:
            return TimeSeries(), None
        first = min(self._series.seconds)
        out = TimeSeries()
        for sec, sw in self._series.seconds.items():
            sw.second = sec - first
            out.seconds[sw.second] = sw
        return out, first


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (re-enabled as it was found).

    A 10 M-line file builds ~100k windows (~1 M objects, none in a cycle); the collector's
    full passes over them cost 1.6 s of 8.6 while reading and ~1 s while storing (measured).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def trim_heap() -> None:
    """Return the C heap's free pages to the system (glibc ``malloc_trim(0)``; a no-op
    elsewhere).

    Reading a large file leaves ~30 MB free but resident in the heap (pyarrow's and NumPy's
    temporaries); storing the run would otherwise come on top of it (issue 4's benchmark).
    Takes ~2 ms.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or None (another C library, or none found)."""
    import ctypes

    try:  # the process's own symbols: the C library it runs on (no ldconfig subprocess)
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None


def result_from(
    builder: SeriesBuilder, *, fmt: str, scenario: str, fallback_start: datetime,
    warnings: list[str], rows: int, skipped: int, duration_s: float | None = None,
    extra: dict[str, int] | None = None,
) -> ImportResult:
    """Finish ``builder`` into an :class:`ImportResult`."""
    series, first = builder.finish()
    started = fallback_start if first is None else datetime.fromtimestamp(first, UTC)
    if skipped:
        warnings.append(f"{skipped} row(s) could not be read and were skipped")
    return ImportResult(series=series, started_at=started, scenario=scenario,
                        source_format=fmt, warnings=warnings, rows=rows, skipped=skipped,
                        duration_s=duration_s, extra=dict(extra or {}))


def http_error_class(code: int) -> ErrorClass | None:
    """The class of an HTTP status: 4xx, 5xx, or None for the rest."""
    if 400 <= code <= 499:
        return ErrorClass.HTTP_4XX
    if 500 <= code <= 599:
        return ErrorClass.HTTP_5XX
    return None


# Checked in order: the first needle found in the lower-cased text decides the class.
_MESSAGE_CLASSES: tuple[tuple[str, ErrorClass], ...] = (
    ("connect timed out", ErrorClass.CONNECT_TIMEOUT),
    ("connecttimeoutexception", ErrorClass.CONNECT_TIMEOUT),
    ("connection timed out", ErrorClass.CONNECT_TIMEOUT),
    ("connection refused", ErrorClass.CONNECTION_REFUSED),
    ("connectexception", ErrorClass.CONNECTION_REFUSED),
    ("read timed out", ErrorClass.READ_TIMEOUT),
    ("sockettimeoutexception", ErrorClass.READ_TIMEOUT),
    ("request timeout", ErrorClass.READ_TIMEOUT),
    ("timeout", ErrorClass.READ_TIMEOUT),
    ("connection reset", ErrorClass.RESET),
    ("broken pipe", ErrorClass.RESET),
    ("premature close", ErrorClass.RESET),
    ("ssl", ErrorClass.TLS),
    ("tls", ErrorClass.TLS),
    ("certificate", ErrorClass.TLS),
    ("handshake", ErrorClass.TLS),
)


def message_error_class(*texts: str) -> ErrorClass:
    """Classify a failure from its code/message texts (Java exception names, tool messages)."""
    low = " ".join(texts).lower()
    for needle, cls in _MESSAGE_CLASSES:
        if needle in low:
            return cls
    return ErrorClass.OTHER


def classify(code: str, ok: bool | None, *messages: str) -> ErrorClass | None:
    """Error class of a sample from its response code, success flag and messages.

    ``ok`` None means the tool did not say: then a 4xx/5xx or non-numeric code fails, and
    no code at all succeeds.
    A failed sample with a 1xx-3xx code failed an assertion (``check_failed``).
    """
    code = code.strip()
    if code.isdigit():
        cls = http_error_class(int(code))
        if ok is None:
            return cls
        if ok:
            return None
        return cls or ErrorClass.CHECK_FAILED
    if ok or (ok is None and not code):
        return None
    return message_error_class(code, *messages)


class ReplacementWatch:
    """Iterates text lines and notes whether any held a U+FFFD (undecodable bytes)."""

    __slots__ = ("_lines", "seen")

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = lines
        self.seen = False

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            if not self.seen and REPLACEMENT in line:
                self.seen = True
            yield line


def open_text(path: Path) -> IO[str]:
    """Open ``path`` for streaming text reads; undecodable bytes become U+FFFD."""
    return path.open(encoding="utf-8", errors="replace", newline="")


def require_nonempty(path: Path) -> None:
    """Raise UsageError when ``path`` is missing or holds only whitespace."""
    try:
        with path.open("rb") as f:
            head = f.read(4096)
            while head and not head.strip():
                head = f.read(4096)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if not head.strip():
        raise UsageError(f"{path}: the file is empty")


def parse_bool(text: str) -> bool | None:
    """``true``/``false`` (any case) as a bool; None when it is neither."""
    low = text.strip().lower()
    if low == "true":
        return True
    if low == "false":
        return False
    return None


def to_int(text: str | None, default: int = 0) -> int:
    """An integer field, ``default`` when absent or not a number."""
    if text is None:
        return default
    try:
        return int(text.strip())
    except ValueError:
        try:
            return int(float(text))
        except ValueError:
            return default
