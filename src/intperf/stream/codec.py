"""Compact binary frames of an EventBatch: a versioned header, the string table, raw arrays.

Layout (all integers little-endian; docs/events.md, "Binary frames")::

    0   magic b"IPEV", version u8 (1), 3 reserved zero bytes
    8   rows u32, strings u32, string_bytes u32, reserved u32 (0)
    24  string end offsets u32 x strings, UTF-8 string data, zero padding to a multiple of 8
    ..  the columns of batch.COLUMNS in order, rows values each

Decoding checks every length and every value against the rules events are validated with, so
a decoded batch is as trustworthy as one built from validated events; anything else raises
:class:`~intperf.errors.EventDecodeError`.
"""

from __future__ import annotations

import json
import struct
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from intperf.errors import EventDecodeError
from intperf.stream.batch import (
    API,
    BREAKER,
    BUSINESS,
    CACHE,
    COLUMNS,
    DB,
    FLAG_ERROR,
    FLAG_HIT,
    KIND_CODES,
    STATE_CODES,
    EventBatch,
)
from intperf.stream.events import (
    MAX_ATTRIBUTE_KEY,
    MAX_ATTRIBUTE_TEXT,
    MAX_ATTRIBUTES,
    MAX_COUNT,
    MAX_DURATION_MS,
    MAX_NAME,
    MAX_QUERY,
    MAX_TIME_MS,
)

__all__ = ["FRAME_MAGIC", "FRAME_VERSION", "MAX_FRAME_ROWS", "decode", "encode"]

FRAME_MAGIC: Final = b"IPEV"
FRAME_VERSION: Final = 1
#: Rows one frame may hold (a frame is one bus message; keep them a few MB).
MAX_FRAME_ROWS: Final = 1 << 22
_HEADER = struct.Struct("<4sB3xIIII")
_ROW_BYTES = sum(dt.itemsize for _, dt in COLUMNS)
_STRING_COLUMNS = ("service", "subject", "text", "attributes")


def encode(batch: EventBatch) -> bytes:
    """The batch as one binary frame (its string table as it is: see EventBatch.compact)."""
    n = len(batch)
    if n > MAX_FRAME_ROWS:
        raise ValueError(f"a frame holds at most {MAX_FRAME_ROWS} rows, got {n}")
    blobs = [s.encode("utf-8") for s in batch.strings]
    ends = np.cumsum([len(b) for b in blobs], dtype=np.int64)
    string_bytes = int(ends[-1]) if blobs else 0
    parts: list[bytes | memoryview] = [
        _HEADER.pack(FRAME_MAGIC, FRAME_VERSION, n, len(blobs), string_bytes, 0),
        ends.astype("<u4").tobytes(),
        *blobs,
    ]
    used = _HEADER.size + 4 * len(blobs) + string_bytes
    parts.append(b"\0" * (-used % 8))
    for name, dtype in COLUMNS:
        parts.append(np.ascontiguousarray(getattr(batch, name), dtype=dtype).data)
    return b"".join(parts)


def _fail(message: str) -> EventDecodeError:
    return EventDecodeError(f"malformed event frame: {message}")


def decode(data: bytes | bytearray | memoryview) -> EventBatch:
    """The batch in one frame; raises EventDecodeError for anything but a valid frame."""
    buf = bytes(data)
    if len(buf) < _HEADER.size:
        raise _fail(f"{len(buf)} bytes is shorter than the {_HEADER.size}-byte header")
    magic, version, n, n_strings, string_bytes, reserved = _HEADER.unpack_from(buf)
    if magic != FRAME_MAGIC:
        raise _fail(f"magic {magic!r} is not {FRAME_MAGIC!r}")
    if version != FRAME_VERSION:
        raise _fail(f"version {version} is not supported (this build reads {FRAME_VERSION})")
    if reserved != 0 or buf[5:8] != b"\0\0\0":
        raise _fail("reserved header bytes are not zero")
    if n > MAX_FRAME_ROWS:
        raise _fail(f"{n} rows is more than {MAX_FRAME_ROWS}")
    used = _HEADER.size + 4 * n_strings + string_bytes
    expected = used + (-used % 8) + n * _ROW_BYTES
    if len(buf) != expected:
        raise _fail(
            f"{len(buf)} bytes, but the header announces {expected} "
            f"({n} rows, {n_strings} strings of {string_bytes} bytes)"
        )
    strings = _strings(buf, n_strings, string_bytes)
    pos = used + (-used % 8)
    if buf[used:pos].strip(b"\0"):
        raise _fail("padding bytes are not zero")
    cols: dict[str, npt.NDArray[Any]] = {}
    for name, dtype in COLUMNS:
        cols[name] = np.frombuffer(buf, dtype=dtype, count=n, offset=pos)
        pos += n * dtype.itemsize
    _check_columns(cols, strings)
    return EventBatch.from_columns(strings, **cols)


def _strings(buf: bytes, count: int, total: int) -> list[str]:
    base = _HEADER.size
    ends = np.frombuffer(buf, dtype="<u4", count=count, offset=base).astype(np.int64)
    if count and (int(ends[-1]) != total or bool(np.any(np.diff(ends) < 0))):
        raise _fail("string offsets are not increasing up to the string data size")
    if not count and total:
        raise _fail("string data without strings")
    data = base + 4 * count
    out: list[str] = []
    start = 0
    for end in ends.tolist():
        try:
            s = buf[data + start : data + end].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _fail(f"string {len(out)} is not UTF-8 ({exc.reason})") from None
        if "\x00" in s:
            raise _fail(f"string {len(out)} contains NUL")
        out.append(s)
        start = end
    return out


def _check_columns(c: dict[str, npt.NDArray[Any]], strings: list[str]) -> None:
    """Every value obeys the event rules of stream/events.py (docs/events.md)."""
    n_str = len(strings)
    lengths = np.array([len(s) for s in strings] + [0], dtype=np.int64)  # [-1] -> 0
    kind = c["kind"]

    def bad(mask: npt.NDArray[np.bool_], what: str) -> None:
        if mask.any():
            row = int(np.flatnonzero(mask)[0])
            raise _fail(f"row {row}: {what}")

    bad(kind >= len(KIND_CODES), "unknown kind code")
    times, ingested = c["event_time_ms"], c["ingested_ms"]
    bad((times < 0) | (times > MAX_TIME_MS), "event time out of range")
    bad((ingested < -1) | (ingested > MAX_TIME_MS), "ingestion time out of range")
    for name in _STRING_COLUMNS:
        ids = c[name]
        bad((ids < -1) | (ids >= n_str), f"{name} string id out of range")
    bad(c["service"] < 0, "service missing")
    bad(lengths[c["service"]] > MAX_NAME, "service name too long")
    bad(lengths[c["service"]] == 0, "service name empty")
    is_api, is_db, is_cache = kind == API, kind == DB, kind == CACHE
    is_breaker, is_business = kind == BREAKER, kind == BUSINESS
    subject, text, value, rows = c["subject"], c["text"], c["value"], c["rows"]
    sub_len, text_len = lengths[subject], lengths[text]
    needs_subject = is_cache | is_breaker | is_business
    bad(needs_subject & (subject < 0), "region, breaker or name missing")
    bad((subject >= 0) & ((sub_len == 0) | (sub_len > MAX_NAME)), "subject length out of range")
    bad((text >= 0) & ~(is_api | is_db), "text on a kind without text")
    bad(is_db & (text >= 0) & ((text_len == 0) | (text_len > MAX_QUERY)), "query length")
    bad(is_db & (text < 0) & (subject < 0), "query without text or fingerprint")
    methods = {i for i in np.unique(text[is_api & (text >= 0)]).tolist()}
    for i in methods:
        m = strings[i]
        if not (m.isascii() and m.isalpha() and m.isupper() and 1 <= len(m) <= 16):
            raise _fail(f"HTTP method {m[:20]!r} is not an upper-case token")
    status = c["status"]
    bad((status != -1) & ~(is_api & (status >= 100) & (status <= 599)), "status out of range")
    timed = is_api | is_db | is_cache
    with np.errstate(invalid="ignore"):
        bad(timed & ~((value >= 0.0) & (value <= MAX_DURATION_MS)), "duration out of range")
    bad(is_business & np.isinf(value), "business value is infinite")
    bad(is_breaker & ~np.isnan(value), "breaker events carry no value")
    bad((rows < 0) | (rows > MAX_COUNT), "row count out of range")
    bad((rows != 0) & ~(is_db | is_breaker), "row count on a kind without one")
    flags = c["flags"]
    bad((flags | (FLAG_ERROR | FLAG_HIT)) != (FLAG_ERROR | FLAG_HIT), "unknown flag bits")
    bad(((flags & FLAG_ERROR) != 0) & ~is_api, "error flag outside API_RESPONSE")
    bad(((flags & FLAG_HIT) != 0) & ~is_cache, "hit flag outside CACHE_ACCESS")
    fs, ts = c["from_state"], c["to_state"]
    n_states = len(STATE_CODES)
    bad((fs < -1) | (fs >= n_states) | (ts < -1) | (ts >= n_states), "unknown breaker state")
    bad(((fs >= 0) | (ts >= 0)) & ~is_breaker, "breaker state outside CIRCUIT_BREAKER")
    bad(is_breaker & (fs >= 0) & (ts < 0), "from_state without to_state")
    bad(is_breaker & (ts < 0) & (rows == 0), "breaker event without state or rejected calls")
    attrs = c["attributes"]
    for i in np.unique(attrs[attrs >= 0]).tolist():
        _check_attributes(strings[i])


def _check_attributes(text: str) -> None:
    try:
        attrs = json.loads(text)
    except ValueError:
        raise _fail("attributes are not JSON") from None
    if not isinstance(attrs, dict) or not 0 < len(attrs) <= MAX_ATTRIBUTES:
        raise _fail(f"attributes must be an object of 1 to {MAX_ATTRIBUTES} members")
    for k, v in attrs.items():
        if not 0 < len(k) <= MAX_ATTRIBUTE_KEY or "\x00" in k:
            raise _fail("attribute name length out of range")
        if isinstance(v, str):
            ok = len(v) <= MAX_ATTRIBUTE_TEXT
        elif isinstance(v, int) and not isinstance(v, bool):
            ok = abs(v) <= MAX_COUNT
        else:
            ok = isinstance(v, float) and v - v == 0.0  # finite
        if not ok:
            raise _fail(f"attribute {k[:20]!r} has an invalid value")
