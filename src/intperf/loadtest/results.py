"""Per-second, per-request-name measurements of a run, mergeable across workers exactly."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from intperf.stats.histogram import LogHistogram
from intperf.stats.histogram_batch import HistogramBatch

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
        """JSON-able form; ``service`` is left out when it equals ``latency``.

        It does for closed models and for every imported tool (they measure from the actual
        send), and leaving it out halves the stored seconds (issue 4's import benchmark).
        """
        latency = self.latency.to_dict()
        service = self.service.to_dict()
        if _same_histogram(service, latency):
            return {"latency": latency, "ok": self.ok, "errors": dict(self.errors),
                    "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                    "messages": dict(self.messages)}
        return {
            "latency": latency,
            "service": service,
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
            service=LogHistogram.from_dict(d.get("service", d["latency"])),
            ok=int(d["ok"]),
            errors={str(k): int(v) for k, v in d["errors"].items()},
            bytes_in=int(d["bytes_in"]),
            bytes_out=int(d["bytes_out"]),
            messages={str(k): int(v) for k, v in d["messages"].items()},
        )


def _same_number(x: float | None, y: float | None) -> bool:
    """Equal as written in JSON: NaN is NaN, and 0.0 is not -0.0."""
    if x is y:
        return True
    if x is None or y is None:
        return False
    if x != x:  # NaN
        return y != y
    return x == y and math.copysign(1.0, x) == math.copysign(1.0, y)


def _same_histogram(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two ``LogHistogram.to_dict()`` forms would be written alike."""
    return (a["keys"] == b["keys"] and a["counts"] == b["counts"] and a["count"] == b["count"]
            and a["zero"] == b["zero"] and a["alpha"] == b["alpha"]
            and _same_number(a["sum"], b["sum"]) and _same_number(a["min"], b["min"])
            and _same_number(a["max"], b["max"]))


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


# -- aggregates in bulk ------------------------------------------------------------------------
#: Below this, int64-safe float64 ``bincount`` weights add integers exactly.
_EXACT_FLOAT = 1 << 53
_ALPHA = LogHistogram().alpha
"""The alpha of a fresh RequestWindow's histograms: what aggregates merge into."""


def _sums(values: list[int], index: npt.NDArray[np.int64], n: int) -> list[int]:
    """``out[index[i]] += values[i]`` for every i, exactly (Python ints)."""
    if sum(map(abs, values)) < _EXACT_FLOAT:
        weights = np.array(values, dtype=np.float64)
        out: list[int] = np.bincount(index, weights=weights, minlength=n).astype(np.int64).tolist()
        return out
    out = [0] * n
    for i, v in zip(index.tolist(), values, strict=True):
        out[i] += v
    return out


def _coarsening(fine: npt.NDArray[np.int64], n_fine: int,
                coarse: npt.NDArray[np.int64]) -> npt.NDArray[np.int64] | None:
    """Fine group -> coarse group, when each window's coarse group follows from its fine
    one (and windows in no fine group are in no coarse group); else None."""
    inside = fine >= 0
    if bool((coarse[~inside] >= 0).any()):
        return None
    to_coarse = np.full(n_fine, -1, dtype=np.int64)
    to_coarse[fine[inside]] = coarse[inside]
    if not np.array_equal(to_coarse[fine[inside]], coarse[inside]):
        return None
    return to_coarse


@dataclass(frozen=True, slots=True)
class _Tally:
    """Many windows' ``{label: count}`` dicts flattened: entry i counts ``counts[i]`` of
    ``labels[label[i]]`` in window ``window[i]``, windows and dict items in order."""

    labels: list[str]
    window: npt.NDArray[np.int64]
    label: npt.NDArray[np.int64]
    counts: list[int]

    @classmethod
    def of(cls, dicts: list[dict[str, int]]) -> _Tally:
        ids: dict[str, int] = {}
        window: list[int] = []
        label: list[int] = []
        counts: list[int] = []
        for i, d in enumerate(dicts):
            if d:
                for k, v in d.items():
                    window.append(i)
                    label.append(ids.setdefault(k, len(ids)))
                    counts.append(v)
        return cls(list(ids), np.array(window, dtype=np.int64), np.array(label, dtype=np.int64),
                   counts)

    def per_group(self, group: npt.NDArray[np.int64], n_groups: int,
                  cap: int | None = None) -> list[dict[str, int]]:
        """Each group's sums, labels in order of first appearance; with ``cap``, only the
        first ``cap`` labels of each group (what :meth:`RequestWindow.add_message` keeps)."""
        out: list[dict[str, int]] = [{} for _ in range(n_groups)]
        g = group[self.window] if self.window.size else self.window
        keep = np.flatnonzero(g >= 0)
        if not keep.size:
            return out
        width = len(self.labels)
        pairs, first, inverse = np.unique(g[keep] * width + self.label[keep], return_index=True,
                                          return_inverse=True)
        counts = [self.counts[i] for i in keep.tolist()]
        sums = _sums(counts, inverse.reshape(-1), int(pairs.size))
        labels = self.labels
        for p in np.argsort(first, kind="stable").tolist():
            grp, lab = divmod(int(pairs[p]), width)
            d = out[grp]
            if cap is None or len(d) < cap:
                d[labels[lab]] = sums[p]
        return out


@dataclass(frozen=True, slots=True)
class WindowGroups:
    """Request windows summed per group (see :meth:`SeriesIndex.groups`); lists by group."""

    windows: list[int]
    """How many windows each group holds."""
    ok: list[int]
    failed: list[int]
    bytes_in: list[int]
    bytes_out: list[int]
    errors: list[dict[str, int]] | None
    """Per class, in order of appearance (when asked for)."""
    messages: list[dict[str, int]] | None
    """Capped at MAX_MESSAGES as :meth:`RequestWindow.merge` caps them (when asked for)."""

    @property
    def requests(self) -> list[int]:
        """Requests completed per group."""
        return [o + f for o, f in zip(self.ok, self.failed, strict=True)]


class SeriesIndex:
    """A series' request windows side by side, for aggregates in bulk (NumPy).

    Windows are in the order :meth:`TimeSeries.aggregate` merges them (seconds as stored,
    then request names within a second), so each aggregate here equals merging them one by
    one exactly, float sums included (``intperf.stats.histogram_batch``). Build it once the
    series is complete; it reads the windows and never changes them.
    """

    __slots__ = ("_aggregates", "_batch", "_errors", "_exact", "_merged", "_messages",
                 "_values", "name_id", "names", "second", "series", "windows")

    def __init__(self, series: TimeSeries) -> None:
        self.series = series
        self.names = series.request_names
        ids = {n: i for i, n in enumerate(self.names)}
        secs = series.seconds
        self.windows = [w for sw in secs.values() for w in sw.requests.values()]
        """Every request window, in aggregate order."""
        self.second = np.array([s for s, sw in secs.items() for _ in sw.requests], np.int64)
        self.name_id = np.array([ids[n] for sw in secs.values() for n in sw.requests], np.int64)
        ws = self.windows
        self._errors = _Tally.of([w.errors for w in ws])
        self._messages = _Tally.of([w.messages for w in ws])
        # ok, failed, bytes in, bytes out per window; float64 rows add exactly while every
        # column's total stays below 2**53, Python ints otherwise.
        values = [[w.ok for w in ws], [sum(w.errors.values()) for w in ws],
                  [w.bytes_in for w in ws], [w.bytes_out for w in ws]]
        self._exact = None
        self._values: list[list[int]] = []
        if all(sum(map(abs, v)) < _EXACT_FLOAT for v in values):
            self._exact = np.array(values, dtype=np.float64).reshape(4, len(ws))
        else:
            self._values = values
        self._batch: HistogramBatch | None = None
        self._merged: dict[str, list[tuple[npt.NDArray[np.int64], int, HistogramBatch]]] = {}
        self._aggregates: dict[frozenset[str] | None, RequestWindow] = {}

    def _pairs(self) -> HistogramBatch:
        """Every window's latency (item i) and service histogram (item W + i), built once;
        the two share their buckets when they share compact arrays (imported runs)."""
        if self._batch is None:
            ws = self.windows
            self._batch = HistogramBatch.of([w.latency for w in ws] + [w.service for w in ws],
                                            _ALPHA)
        return self._batch

    def groups(self, group_of: npt.NDArray[np.int64], n_groups: int, *,
               details: bool = False) -> WindowGroups:
        """Counts of the windows summed per group (``group_of[i]`` for window i, -1: none);
        ``details`` adds error classes and messages."""
        members = np.flatnonzero(group_of >= 0)
        index = group_of[members]
        windows = np.bincount(index, minlength=n_groups).tolist()
        if self._exact is not None:
            sums = [np.bincount(index, weights=row[members], minlength=n_groups)
                    .astype(np.int64).tolist() for row in self._exact]
        else:
            pick = members.tolist()
            sums = [_sums([v[i] for i in pick], index, n_groups) for v in self._values]
        ok, failed, bytes_in, bytes_out = sums
        return WindowGroups(
            windows, ok, failed, bytes_in, bytes_out,
            self._errors.per_group(group_of, n_groups) if details else None,
            self._messages.per_group(group_of, n_groups, MAX_MESSAGES) if details else None)

    def merged(self, kind: Literal["latency", "service"], group_of: npt.NDArray[np.int64],
               n_groups: int, *, keep: bool = True) -> HistogramBatch:
        """The windows' ``kind`` histograms merged per group, in window order.

        Results are kept (unless ``keep`` is false): a grouping asked for again is returned
        as is, and one that a kept grouping refines (the totals per request name refine the
        whole run's) is merged from that one's fewer buckets.
        """
        done = self._merged.setdefault(kind, [])
        for g, n, b in done:
            if n == n_groups and np.array_equal(g, group_of):
                return b
        rest = np.full(len(self.windows), -1, dtype=np.int64)
        items = np.concatenate((group_of, rest) if kind == "latency" else (rest, group_of))
        via = None
        for g, n, b in sorted(done, key=lambda d: d[2].keys.size):
            to_group = _coarsening(g, n, group_of)
            if to_group is not None:
                via = (b, to_group)
                break
        out = self._pairs().merge_groups(items, n_groups, via=via)
        if keep:
            done.append((group_of.copy(), n_groups, out))
        return out

    def windows_of(self, group_of: npt.NDArray[np.int64], n_groups: int) -> list[RequestWindow]:
        """Per group, the RequestWindow that merging its windows in order gives."""
        g = self.groups(group_of, n_groups, details=True)
        lat = self.merged("latency", group_of, n_groups).histograms()
        svc = self.merged("service", group_of, n_groups).histograms()
        assert g.errors is not None and g.messages is not None  # details=True
        return [RequestWindow(lat[i], svc[i], g.ok[i], g.errors[i], g.bytes_in[i],
                              g.bytes_out[i], g.messages[i]) for i in range(n_groups)]

    def aggregate(self, names: Iterable[str] | None = None) -> RequestWindow:
        """``series.aggregate(names)`` over the whole series; cached: do not modify it."""
        key = None if names is None else frozenset(names)
        w = self._aggregates.get(key)
        if w is None:
            if key is None:
                group = np.zeros(len(self.windows), dtype=np.int64)
            else:
                wanted = [i for i, n in enumerate(self.names) if n in key]
                group = np.where(np.isin(self.name_id, wanted), 0, -1).astype(np.int64)
            for kind in ("latency", "service"):  # per name first: the totals need it too
                self.merged(kind, self.name_id, len(self.names))
            w = self._aggregates[key] = self.windows_of(group, 1)[0]
        return w

    def totals(self) -> dict[str, RequestWindow]:
        """Per request name, its windows merged in order (new windows, yours to change)."""
        return dict(zip(self.names, self.windows_of(self.name_id, len(self.names)),
                        strict=True))

    def message_counts(self) -> dict[str, dict[str, int]]:
        """Per request name, every failure message counted (no cap), first seen first."""
        per = self._messages.per_group(self.name_id, len(self.names))
        return dict(zip(self.names, per, strict=True))
