"""Event-time windows over keyed streams: assigners, watermark with grace, final results and a
late-events output. Definitions: docs/MATH.md, section 7; user view: docs/stream.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from intperf.stream.aggregates import Aggregate
from intperf.stream.window_stores import FixedStore, SessionStore, SlidingStore, WindowStore

__all__ = [
    "Assigner",
    "Hopping",
    "LateEvent",
    "LateOutput",
    "Session",
    "Sliding",
    "Tumbling",
    "WindowResult",
    "WindowedAggregation",
]

A = TypeVar("A", bound=Aggregate)
#: Event times must lie within +-2**60 ms so window arithmetic cannot overflow int64.
TIME_LIMIT: Final = 1 << 60
#: Window sizes, advances, gaps and grace periods are at most 2**40 ms (about 35 years).
SPAN_LIMIT: Final = 1 << 40
_NO_WATERMARK: Final = -(1 << 61)
SNAPSHOT_VERSION: Final = 1


def _span(name: str, value: int, *, zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int number of ms, got {value!r}")
    if not (0 if zero else 1) <= value <= SPAN_LIMIT:
        raise ValueError(f"{name} must be {'>= 0' if zero else '> 0'} and <= 2**40, got {value}")


@dataclass(frozen=True, slots=True)
class Tumbling:
    """Windows ``[k*size, (k+1)*size)``: each event is in exactly one."""

    size_ms: int

    def __post_init__(self) -> None:
        _span("size_ms", self.size_ms)

    def windows_for(self, t: int) -> list[tuple[int, int]]:
        """The windows holding an event at ``t``, as ``(start, end)``."""
        s = t // self.size_ms * self.size_ms
        return [(s, s + self.size_ms)]


@dataclass(frozen=True, slots=True)
class Hopping:
    """Windows ``[k*advance, k*advance + size)``; ``advance`` divides ``size``."""

    size_ms: int
    advance_ms: int

    def __post_init__(self) -> None:
        _span("size_ms", self.size_ms)
        _span("advance_ms", self.advance_ms)
        if self.size_ms % self.advance_ms:
            raise ValueError(f"advance {self.advance_ms} ms must divide size {self.size_ms} ms")

    def windows_for(self, t: int) -> list[tuple[int, int]]:
        """The ``size/advance`` windows holding an event at ``t``, latest start first."""
        last = t // self.advance_ms * self.advance_ms
        k = self.size_ms // self.advance_ms
        return [
            (last - j * self.advance_ms, last - j * self.advance_ms + self.size_ms)
            for j in range(k)
        ]


@dataclass(frozen=True, slots=True)
class Sliding:
    """One window ``[t - size, t]`` (both ends included) per distinct on-time event time ``t``
    of a key; reported as ``start = t - size``, ``end = t + 1``."""

    size_ms: int

    def __post_init__(self) -> None:
        _span("size_ms", self.size_ms, zero=True)


@dataclass(frozen=True, slots=True)
class Session:
    """Sessions: maximal runs of a key's on-time events with gaps of at most ``gap_ms``;
    reported as ``start = first``, ``end = last + 1``."""

    gap_ms: int

    def __post_init__(self) -> None:
        _span("gap_ms", self.gap_ms, zero=True)


Assigner = Tumbling | Hopping | Sliding | Session


@dataclass(frozen=True, slots=True)
class WindowResult(Generic[A]):
    """The final aggregate of one window of one key, ``[start_ms, end_ms)``."""

    key: str
    start_ms: int
    end_ms: int
    aggregate: A


@dataclass(frozen=True, slots=True)
class LateEvent:
    """An event that arrived after every window it belongs to had closed."""

    key: str
    event_time_ms: int
    stream_time_ms: int
    value: float
    reason: str


@dataclass(slots=True)
class LateOutput:
    """Late events: all counted, the first ``max_kept`` not yet taken kept, the rest counted
    as ``overflow``."""

    max_kept: int = 10_000
    count: int = 0
    overflow: int = 0
    kept: list[LateEvent] = field(default_factory=list)

    def room(self) -> int:
        """How many more events can be kept."""
        return max(0, self.max_kept - len(self.kept))

    def take(self) -> list[LateEvent]:
        """Remove and return the kept events (the counters stay)."""
        out, self.kept = self.kept, []
        return out


def _assigner_dict(a: Assigner) -> dict[str, Any]:
    return {"type": type(a).__name__.lower(), **asdict(a)}


def _assigner_from(d: Mapping[str, Any]) -> Assigner:
    kinds: dict[str, type[Assigner]] = {
        "tumbling": Tumbling,
        "hopping": Hopping,
        "sliding": Sliding,
        "session": Session,
    }
    args = {k: v for k, v in d.items() if k != "type"}
    return kinds[str(d["type"])](**args)


class WindowedAggregation(Generic[A]):
    """Keyed event-time windows of one assigner, aggregating values into ``aggregate`` objects.

    Stream time is the largest event time seen (or what :meth:`advance_to` set; with
    ``auto_advance=False`` only that); the watermark is stream time minus ``grace_ms``. Each
    event is judged against the watermark as it stood when the event arrived (events of a
    batch arrive in array order), so results do not depend on how a stream is cut into
    batches. A window closes when the watermark reaches its end; closed windows are returned
    once, in order of end time (then start, then key).
    """

    def __init__(
        self,
        assigner: Assigner,
        aggregate: type[A],
        *,
        grace_ms: int = 0,
        factory: Callable[[], A] | None = None,
        max_late_kept: int = 10_000,
        auto_advance: bool = True,
    ) -> None:
        _span("grace_ms", grace_ms, zero=True)
        self.assigner = assigner
        self.aggregate = aggregate
        self.grace_ms = grace_ms
        self.auto_advance = auto_advance
        self.late = LateOutput(max_late_kept)
        self.partially_late = 0
        """Hopping-window events that missed some (closed) windows but joined open ones."""
        make = factory or aggregate
        self._store: WindowStore[A]
        if isinstance(assigner, Tumbling):
            self._store = FixedStore(assigner.size_ms, assigner.size_ms, make)
        elif isinstance(assigner, Hopping):
            self._store = FixedStore(assigner.size_ms, assigner.advance_ms, make)
        elif isinstance(assigner, Sliding):
            self._store = SlidingStore(assigner.size_ms, make)
        else:
            self._store = SessionStore(assigner.gap_ms, make)
        self._stream_time: int | None = None
        self._key_ids: dict[str, int] = {}
        self._key_names: list[str] = []
        self._closed = False

    # -- time --------------------------------------------------------------------------------
    @property
    def stream_time_ms(self) -> int | None:
        """Largest event time seen (or advanced to); None before the first event."""
        return self._stream_time

    @property
    def watermark_ms(self) -> int | None:
        """Stream time minus grace: windows ending at or before it are closed."""
        st = self._stream_time
        return None if st is None else st - self.grace_ms

    @property
    def open_windows(self) -> int:
        """Windows (sliding: retained event times) currently held open."""
        return len(self._store)

    def advance_to(self, stream_time_ms: int) -> list[WindowResult[A]]:
        """Move stream time forward (never back) and return the windows that closed."""
        self._check_open()
        if not -TIME_LIMIT <= stream_time_ms <= TIME_LIMIT:
            raise ValueError(f"stream time {stream_time_ms} is out of range")
        if self._stream_time is None or stream_time_ms > self._stream_time:
            self._stream_time = stream_time_ms
        return self._emit(self._store.close(stream_time_ms - self.grace_ms))

    def close_all(self) -> list[WindowResult[A]]:
        """End of input: return every open window as final; the aggregation takes no more."""
        self._check_open()
        self._closed = True
        return self._emit(self._store.close(TIME_LIMIT * 2))

    # -- events ------------------------------------------------------------------------------
    def add_batch(
        self,
        keys: npt.NDArray[np.integer[Any]],
        times: npt.NDArray[np.integer[Any]],
        values: npt.NDArray[np.floating[Any]],
        flags: npt.NDArray[np.bool_] | None = None,
        *,
        key_names: Sequence[str],
    ) -> list[WindowResult[A]]:
        """Add events (key ids into ``key_names``, event times in ms, values, optional flags)
        in arrival order; return the windows this closed. Late events go to :attr:`late`."""
        self._check_open()
        keys = np.asarray(keys)
        if keys.dtype.kind not in "iu" or np.asarray(times).dtype.kind not in "iu":
            raise TypeError("key ids and event times must be integer arrays")
        times_ = np.asarray(times, dtype=np.int64)
        values_ = np.asarray(values, dtype=np.float64)
        flags_ = None if flags is None else np.asarray(flags, dtype=np.bool_)
        n = int(keys.size)
        if times_.size != n or values_.size != n or (flags_ is not None and flags_.size != n):
            raise ValueError("keys, times, values and flags must have the same length")
        if n == 0:
            return []
        if int(keys.min()) < 0 or int(keys.max()) >= len(key_names):
            raise ValueError("key ids must index key_names")
        if int(times_.min()) < -TIME_LIMIT or int(times_.max()) > TIME_LIMIT:
            raise ValueError("event times must be within +-2**60 ms")
        check = getattr(self.aggregate, "check_values", None)
        if check is not None:  # refuse bad values before any state changes
            check(values_)
        gkeys = self._global_keys(keys, key_names)
        prev = self._stream_time
        if self.auto_advance:
            st = np.maximum.accumulate(times_)
            if prev is not None:
                np.maximum(st, prev, out=st)
        else:
            st = np.full(n, _NO_WATERMARK + self.grace_ms if prev is None else prev, np.int64)
        wm = st - self.grace_ms
        late, partial = self._store.add(gkeys, times_, values_, flags_, wm)
        self.partially_late += partial
        if late.any():
            self._record_late(gkeys, times_, values_, st, late)
        if self.auto_advance:
            self._stream_time = int(st[-1])
        if self._stream_time is None:
            return []
        return self._emit(self._store.close(self._stream_time - self.grace_ms))

    def _global_keys(
        self, keys: npt.NDArray[np.integer[Any]], key_names: Sequence[str]
    ) -> npt.NDArray[np.int64]:
        """Batch key ids -> ids stable for the aggregation's lifetime."""
        uniq = np.unique(keys)
        lut = np.zeros(int(uniq[-1]) + 1, dtype=np.int64)
        for u in uniq.tolist():
            name = key_names[u]
            gid = self._key_ids.get(name)
            if gid is None:
                gid = self._key_ids[name] = len(self._key_names)
                self._key_names.append(name)
            lut[u] = gid
        out: npt.NDArray[np.int64] = lut[keys]
        return out

    def _record_late(
        self,
        gkeys: npt.NDArray[np.int64],
        times: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        st: npt.NDArray[np.int64],
        late: npt.NDArray[np.bool_],
    ) -> None:
        out = self.late
        idx = np.flatnonzero(late)
        out.count += int(idx.size)
        keep = idx[: out.room()]
        out.overflow += int(idx.size - keep.size)
        names, g = self._key_names, self.grace_ms
        for i in keep.tolist():
            t, s = int(times[i]), int(st[i])
            out.kept.append(
                LateEvent(names[int(gkeys[i])], t, s, float(values[i]), self._reason(t, s - g))
            )

    def _reason(self, t: int, wm: int) -> str:
        a = self.assigner
        clock = f"watermark {wm} = stream time {wm + self.grace_ms} - grace {self.grace_ms} ms"
        if isinstance(a, Tumbling | Hopping):
            end = a.windows_for(t)[0][1]
            return f"window ending at {end} already closed ({clock})"
        return f"event time {t} is behind the {clock}"

    def _emit(self, closed: list[tuple[int, int, int, A]]) -> list[WindowResult[A]]:
        names = self._key_names
        closed.sort(key=lambda c: (c[2], c[1], names[c[0]]))
        return [WindowResult(names[k], s, e, agg) for k, s, e, agg in closed]

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("close_all() was called: this aggregation takes no more events")

    # -- checkpoints ---------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """JSON-able open state (windows, stream time, late counters and kept late events)."""
        names = self._key_names
        return {
            "version": SNAPSHOT_VERSION,
            "assigner": _assigner_dict(self.assigner),
            "grace_ms": self.grace_ms,
            "stream_time_ms": self._stream_time,
            "closed": self._closed,
            "partially_late": self.partially_late,
            "late": {
                "count": self.late.count,
                "overflow": self.late.overflow,
                "kept": [asdict(e) for e in self.late.kept],
            },
            "state": [
                {"key": names[k], "start": s, "end": e, "aggregate": agg.to_dict()}
                for k, s, e, agg in self._store.items()
            ],
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        """Load a :meth:`snapshot` into this (fresh) aggregation of the same assigner and grace."""
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"snapshot version {data.get('version')!r} is not supported")
        if _assigner_from(data["assigner"]) != self.assigner or data["grace_ms"] != self.grace_ms:
            raise ValueError("snapshot was taken with another assigner or grace period")
        if self._stream_time is not None or len(self._store):
            raise ValueError("restore() needs a fresh aggregation")
        st = data["stream_time_ms"]
        self._stream_time = None if st is None else int(st)
        self._closed = bool(data["closed"])
        self.partially_late = int(data["partially_late"])
        late = data["late"]
        self.late.count, self.late.overflow = int(late["count"]), int(late["overflow"])
        self.late.kept = [LateEvent(**e) for e in late["kept"]]
        for entry in data["state"]:
            name = str(entry["key"])
            gid = self._key_ids.get(name)
            if gid is None:
                gid = self._key_ids[name] = len(self._key_names)
                self._key_names.append(name)
            agg = self.aggregate.from_dict(entry["aggregate"])
            self._store.put(gid, int(entry["start"]), int(entry["end"]), agg)
        if isinstance(self._store, SlidingStore) and self._stream_time is not None:
            self._store.emitted_below = self._stream_time - self.grace_ms
