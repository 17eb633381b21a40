"""Columnar form of many performance events: NumPy arrays plus one string table per batch.

Topologies and windows work on these columns; the binary frame codec (``stream/codec.py``)
writes them as raw little-endian arrays. The column meanings per kind are in docs/events.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from intperf.stream.events import (
    ApiResponseEvent,
    BreakerState,
    BusinessEvent,
    CacheAccessEvent,
    CircuitBreakerEvent,
    DatabaseQueryEvent,
    EventKind,
    PerformanceEvent,
)

__all__ = ["COLUMNS", "FLAG_ERROR", "FLAG_HIT", "KIND_CODES", "STATE_CODES", "EventBatch"]

#: Kind code (the ``kind`` column) -> kind: the position in EventKind's declaration order.
KIND_CODES: Final = tuple(EventKind)
#: Breaker state code -> state (``from_state``/``to_state`` columns), -1 for none.
STATE_CODES: Final = tuple(BreakerState)
_KIND_CODE = {k: i for i, k in enumerate(KIND_CODES)}
_STATE_CODE = {s: i for i, s in enumerate(STATE_CODES)}
API, DB, CACHE, BREAKER, BUSINESS = range(5)

FLAG_ERROR: Final = 1
"""``flags`` bit: an API_RESPONSE flagged as failed by its producer."""
FLAG_HIT: Final = 2
"""``flags`` bit: a CACHE_ACCESS that hit."""

#: (column, dtype) in frame order: 8-byte columns first so each stays aligned in a frame.
COLUMNS: Final[tuple[tuple[str, np.dtype[Any]], ...]] = (
    ("event_time_ms", np.dtype("<i8")),
    ("ingested_ms", np.dtype("<i8")),
    ("value", np.dtype("<f8")),
    ("rows", np.dtype("<i8")),
    ("service", np.dtype("<i4")),
    ("subject", np.dtype("<i4")),
    ("text", np.dtype("<i4")),
    ("attributes", np.dtype("<i4")),
    ("status", np.dtype("<i2")),
    ("kind", np.dtype("u1")),
    ("from_state", np.dtype("i1")),
    ("to_state", np.dtype("i1")),
    ("flags", np.dtype("u1")),
)

Ints = npt.NDArray[np.int64]


def _frozen(values: Any, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    arr = np.ascontiguousarray(values, dtype=dtype)
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, slots=True, eq=False)
class EventBatch:
    """Many events as columns; string columns hold ids into ``strings`` (-1: absent).

    ``service`` is every event's service; ``subject`` is the endpoint (API_RESPONSE),
    fingerprint (DATABASE_QUERY), region (CACHE_ACCESS), breaker (CIRCUIT_BREAKER) or name
    (BUSINESS); ``text`` is the HTTP method or the query text; ``attributes`` the attributes as
    compact JSON. ``value`` is the response/execution/cache latency in ms or the business
    value (NaN when absent); ``rows`` is the rows of a query or a breaker's rejected calls.
    ``ingested_ms`` is -1 when unknown. Arrays are read-only.
    """

    kind: npt.NDArray[np.uint8]
    event_time_ms: npt.NDArray[np.int64]
    ingested_ms: npt.NDArray[np.int64]
    service: npt.NDArray[np.int32]
    subject: npt.NDArray[np.int32]
    text: npt.NDArray[np.int32]
    attributes: npt.NDArray[np.int32]
    status: npt.NDArray[np.int16]
    from_state: npt.NDArray[np.int8]
    to_state: npt.NDArray[np.int8]
    flags: npt.NDArray[np.uint8]
    value: npt.NDArray[np.float64]
    rows: npt.NDArray[np.int64]
    strings: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.kind.size)

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def from_columns(cls, strings: Sequence[str], **columns: Any) -> EventBatch:
        """Build from column arrays (converted to the column dtypes, made read-only)."""
        n = len(columns["kind"])
        arrays = {}
        for name, dtype in COLUMNS:
            arr = _frozen(columns[name], dtype)
            if arr.ndim != 1 or arr.size != n:
                raise ValueError(f"column {name!r} has {arr.size} values, expected {n}")
            arrays[name] = arr
        return cls(strings=tuple(strings), **arrays)

    @classmethod
    def empty(cls) -> EventBatch:
        """A batch without events."""
        return cls.from_columns((), **{name: () for name, _ in COLUMNS})

    @classmethod
    def from_events(cls, events: Iterable[PerformanceEvent]) -> EventBatch:
        """Columns of validated events (one Python pass; strings interned per batch)."""
        table: dict[str, int] = {}

        def sid(s: str | None) -> int:
            if s is None:
                return -1
            i = table.get(s)
            if i is None:
                i = table[s] = len(table)
            return i

        nan = float("nan")
        kind: list[int] = []
        times: list[int] = []
        ingested: list[int] = []
        service: list[int] = []
        subject: list[int] = []
        text: list[int] = []
        attrs: list[int] = []
        status: list[int] = []
        from_state: list[int] = []
        to_state: list[int] = []
        flags: list[int] = []
        value: list[float] = []
        rows: list[int] = []
        for e in events:
            times.append(e.event_time)
            ingested.append(-1 if e.ingested_ms is None else e.ingested_ms)
            service.append(sid(e.service))
            attrs.append(
                sid(json.dumps(e.attributes, separators=(",", ":"), ensure_ascii=False))
                if e.attributes
                else -1
            )
            st, fs, ts, fl, n = -1, -1, -1, 0, 0
            if isinstance(e, ApiResponseEvent):
                k, sub, txt, v = API, sid(e.endpoint), sid(e.method), e.response_time_ms
                st = -1 if e.status is None else e.status
                fl = FLAG_ERROR if e.error else 0
            elif isinstance(e, CacheAccessEvent):
                k, sub, txt, v = CACHE, sid(e.region), -1, e.latency_ms
                fl = FLAG_HIT if e.hit else 0
            elif isinstance(e, DatabaseQueryEvent):
                k, sub, txt, v = DB, sid(e.fingerprint), sid(e.query), e.execution_time_ms
                n = e.rows
            elif isinstance(e, BusinessEvent):
                k, sub, txt = BUSINESS, sid(e.name), -1
                v = nan if e.value is None else e.value
            else:
                k, sub, txt, v = BREAKER, sid(e.breaker), -1, nan
                fs = -1 if e.from_state is None else _STATE_CODE[e.from_state]
                ts = -1 if e.to_state is None else _STATE_CODE[e.to_state]
                n = e.rejected_calls
            kind.append(k)
            subject.append(sub)
            text.append(txt)
            status.append(st)
            from_state.append(fs)
            to_state.append(ts)
            flags.append(fl)
            value.append(v)
            rows.append(n)
        return cls.from_columns(
            list(table),
            kind=kind,
            event_time_ms=times,
            ingested_ms=ingested,
            service=service,
            subject=subject,
            text=text,
            attributes=attrs,
            status=status,
            from_state=from_state,
            to_state=to_state,
            flags=flags,
            value=value,
            rows=rows,
        )

    # -- reading back -------------------------------------------------------------------------
    def event(self, i: int) -> PerformanceEvent:
        """Event ``i`` as a model (built without re-validation: the columns are valid)."""
        s = self.strings

        def opt(col: npt.NDArray[np.int32]) -> str | None:
            j = int(col[i])
            return None if j < 0 else s[j]

        a = int(self.attributes[i])
        ing = int(self.ingested_ms[i])
        common: dict[str, Any] = {
            "service": s[int(self.service[i])],
            "event_time": int(self.event_time_ms[i]),
            "ingested_ms": None if ing < 0 else ing,
            "attributes": json.loads(s[a]) if a >= 0 else {},
        }
        k = int(self.kind[i])
        v = float(self.value[i])
        if k == API:
            status = int(self.status[i])
            return ApiResponseEvent.model_construct(
                kind=EventKind.API_RESPONSE,
                endpoint=opt(self.subject),
                method=opt(self.text),
                status=None if status < 0 else status,
                response_time_ms=v,
                error=bool(self.flags[i] & FLAG_ERROR),
                **common,
            )
        if k == DB:
            return DatabaseQueryEvent.model_construct(
                kind=EventKind.DATABASE_QUERY,
                query=opt(self.text),
                fingerprint=opt(self.subject),
                execution_time_ms=v,
                rows=int(self.rows[i]),
                **common,
            )
        if k == CACHE:
            return CacheAccessEvent.model_construct(
                kind=EventKind.CACHE_ACCESS,
                region=s[int(self.subject[i])],
                hit=bool(self.flags[i] & FLAG_HIT),
                latency_ms=v,
                **common,
            )
        if k == BREAKER:
            fs, ts = int(self.from_state[i]), int(self.to_state[i])
            return CircuitBreakerEvent.model_construct(
                kind=EventKind.CIRCUIT_BREAKER,
                breaker=s[int(self.subject[i])],
                from_state=None if fs < 0 else STATE_CODES[fs],
                to_state=None if ts < 0 else STATE_CODES[ts],
                rejected_calls=int(self.rows[i]),
                **common,
            )
        return BusinessEvent.model_construct(
            kind=EventKind.BUSINESS,
            name=s[int(self.subject[i])],
            value=None if v != v else v,  # NaN: no value
            **common,
        )

    def to_events(self) -> list[PerformanceEvent]:
        """All events as models, in batch order."""
        return [self.event(i) for i in range(len(self))]

    # -- selecting and combining ------------------------------------------------------------
    def columns(self) -> dict[str, npt.NDArray[Any]]:
        """Column name -> array (the arrays themselves, read-only)."""
        return {name: getattr(self, name) for name, _ in COLUMNS}

    def select(self, which: npt.NDArray[np.bool_] | npt.NDArray[np.intp] | slice) -> EventBatch:
        """Rows picked by a boolean mask, an index array or a slice; the string table is kept."""
        return EventBatch.from_columns(
            self.strings, **{name: col[which] for name, col in self.columns().items()}
        )

    def of_kind(self, kind: EventKind) -> EventBatch:
        """The rows of one kind."""
        return self.select(self.kind == _KIND_CODE[kind])

    def compact(self) -> EventBatch:
        """The same rows with the string table reduced to the strings they use."""
        ids = np.concatenate([self.service, self.subject, self.text, self.attributes])
        used = np.unique(ids[ids >= 0])
        if used.size == len(self.strings):
            return self
        remap = np.full(len(self.strings) + 1, -1, dtype=np.int32)  # the last slot maps -1
        remap[used] = np.arange(used.size, dtype=np.int32)
        cols = self.columns()
        for name in ("service", "subject", "text", "attributes"):
            cols[name] = remap[cols[name]]
        return EventBatch.from_columns([self.strings[i] for i in used.tolist()], **cols)

    @staticmethod
    def concat(batches: Sequence[EventBatch]) -> EventBatch:
        """Rows of all ``batches`` in order, with one merged string table."""
        if not batches:
            return EventBatch.empty()
        if len(batches) == 1:
            return batches[0]
        table: dict[str, int] = {}
        remaps: list[npt.NDArray[np.int32]] = []
        for b in batches:
            remap = np.empty(len(b.strings) + 1, dtype=np.int32)
            for j, s in enumerate(b.strings):
                i = table.get(s)
                if i is None:
                    i = table[s] = len(table)
                remap[j] = i
            remap[-1] = -1  # id -1 indexes the last slot
            remaps.append(remap)
        cols: dict[str, Any] = {}
        for name, _ in COLUMNS:
            parts = [getattr(b, name) for b in batches]
            if name in ("service", "subject", "text", "attributes"):
                parts = [r[p] for r, p in zip(remaps, parts, strict=True)]
            cols[name] = np.concatenate(parts)
        return EventBatch.from_columns(list(table), **cols)

    # -- derived columns --------------------------------------------------------------------
    def errors(self) -> npt.NDArray[np.bool_]:
        """Per row: a failed API call (status >= 500 or flagged as an error)."""
        out: npt.NDArray[np.bool_] = (self.status >= 500) | ((self.flags & FLAG_ERROR) != 0)
        return out

    def hits(self) -> npt.NDArray[np.bool_]:
        """Per row: a cache hit."""
        out: npt.NDArray[np.bool_] = (self.flags & FLAG_HIT) != 0
        return out

    def string_id(self, s: str) -> int:
        """Id of ``s`` in the string table, -1 when absent (a linear scan)."""
        try:
            return self.strings.index(s)
        except ValueError:
            return -1

    def __eq__(self, other: object) -> bool:
        """Same rows with the same strings (string tables may differ in order and extras)."""
        if not isinstance(other, EventBatch):
            return NotImplemented
        if len(self) != len(other):
            return False
        a, b = self.compact(), other.compact()
        sa = np.array((*a.strings, ""), dtype=object)
        sb = np.array((*b.strings, ""), dtype=object)
        for f in fields(EventBatch):
            name = f.name
            if name == "strings":
                continue
            x, y = getattr(a, name), getattr(b, name)
            if name in ("service", "subject", "text", "attributes"):
                x, y = sa[x], sb[y]
                x[getattr(a, name) < 0] = None
                y[getattr(b, name) < 0] = None
            if not np.array_equal(x, y, equal_nan=name == "value"):
                return False
        return True

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EventBatch(rows={len(self)}, strings={len(self.strings)})"
