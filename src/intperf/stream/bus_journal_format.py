"""The journal's record frames: encoding, and parsing a segment back (pure, no I/O).

A frame is a header (body length, CRC32 of the body; big-endian u32s) and a body (offset and
timestamp as i64, key length as i32 with -1 for no key, the key, the value).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from intperf.errors import BusError
from intperf.stream.bus import Message, TopicPartition

__all__ = ["BODY", "HEADER", "SegmentScan", "encode_record", "iter_frames", "scan_segment"]

#: Frame header: body length, CRC32 (zlib's, of the body). Big-endian.
HEADER = struct.Struct(">II")
#: Body head: offset, timestamp (epoch ms), key length (-1: no key); then key, then value.
BODY = struct.Struct(">qqi")


def encode_record(offset: int, timestamp_ms: int, key: bytes | None, value: bytes) -> bytes:
    """One record's frame: header (length, CRC32) then body (offset, timestamp, key, value)."""
    head = BODY.pack(offset, timestamp_ms, -1 if key is None else len(key))
    crc = zlib.crc32(value, zlib.crc32(key or b"", zlib.crc32(head)))
    return b"".join((HEADER.pack(BODY.size + len(key or b"") + len(value), crc), head,
                     key or b"", value))


@dataclass(slots=True)
class SegmentScan:
    """A parsed segment: records kept, next offset, records read, first invalid frame."""

    records: list[Message]
    end: int
    count: int
    torn_at: int | None  # byte position of the first invalid frame


def scan_segment(data: bytes, base: int, tp: TopicPartition, keep_from: int,
                 where: Path) -> SegmentScan:
    """Parse a segment: records from ``keep_from`` on, and where the first invalid frame is."""
    topic, partition = tp
    out: list[Message] = []
    pos, expected, n = 0, base, len(data)
    header, body = HEADER.size, BODY.size
    while pos < n:
        if pos + header > n:
            return SegmentScan(out, expected, expected - base, pos)
        length, crc = HEADER.unpack_from(data, pos)
        start, stop = pos + header, pos + header + length
        if length < body or stop > n or zlib.crc32(memoryview(data)[start:stop]) != crc:
            return SegmentScan(out, expected, expected - base, pos)
        offset, ts, key_len = BODY.unpack_from(data, start)
        if offset != expected or key_len < -1 or body + max(key_len, 0) > length:
            # A valid checksum around wrong content is not a torn write: refuse to guess.
            raise BusError(f"corrupt stream journal segment {where} at byte {pos}: offset "
                           f"{offset} (expected {expected}), key length {key_len}",
                           retriable=False)
        if offset >= keep_from:
            k = start + body
            key = None if key_len < 0 else data[k:k + key_len]
            out.append(Message(topic, partition, offset, key, data[k + max(key_len, 0):stop],
                               ts))
        expected += 1
        pos = stop
    return SegmentScan(out, expected, expected - base, None)


def iter_frames(data: bytes) -> Iterator[tuple[int, int]]:
    """``(position, length)`` of each whole frame of a segment (for tests and tools)."""
    pos = 0
    while pos + HEADER.size <= len(data):
        length, _ = HEADER.unpack_from(data, pos)
        if pos + HEADER.size + length > len(data):
            return
        yield pos, HEADER.size + length
        pos += HEADER.size + length
