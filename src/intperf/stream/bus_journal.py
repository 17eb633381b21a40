"""The embedded bus's journal: accepted records and group offsets on disk, replayed at start.

Blocking file I/O only; ``MemoryBus`` runs it in a worker thread through ``JournalWriter``
(bus_journal_writer.py). Format and guarantees: docs/stream.md ("The journal").
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from intperf.errors import BusError
from intperf.stream.bus import Message, TopicPartition
from intperf.stream.bus_journal_format import encode_record, scan_segment

__all__ = [
    "DEFAULT_SEGMENT_BYTES",
    "DEFAULT_SEGMENT_RECORDS",
    "Journal",
    "JournalBatch",
    "Replay",
    "ReplayedPartition",
    "check_topic_name",
    "journal_error",
]

log = logging.getLogger(__name__)

FORMAT = 1
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
DEFAULT_SEGMENT_RECORDS = 100_000
GROUPS_DIR = "@groups"  # "@" is not allowed in topic names: no topic can take this name
LOCK_FILE = ".lock"
_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")  # Kafka's rule for topic names
_SEGMENT = re.compile(r"(\d{20})\.log")


def journal_error(directory: Path, exc: OSError) -> BusError:
    """A failed journal operation as a BusError: not retriable (docs/stream.md says why)."""
    what = errno.errorcode.get(exc.errno or 0, "error")
    return BusError(f"the stream journal in {directory} failed: {exc.strerror or exc} ({what}); "
                    "records acknowledged by an earlier flush are safe; restart once fixed",
                    retriable=False)


def check_topic_name(topic: str) -> None:
    """Refuse a topic name that is not Kafka's (it becomes a directory name)."""
    if not _TOPIC_NAME.fullmatch(topic) or topic in {".", ".."}:
        raise BusError(f"topic {topic!r} cannot be journaled: use 1-249 of [A-Za-z0-9._-] "
                       "(Kafka's rule)", retriable=False)


@dataclass(slots=True, eq=False)
class JournalBatch:
    """What one write makes durable, in this order: topics, records, group offsets, retention."""

    topics: dict[str, int] = field(default_factory=dict)
    records: dict[TopicPartition, list[Message]] = field(default_factory=dict)
    groups: dict[str, dict[TopicPartition, int]] = field(default_factory=dict)
    retain: dict[TopicPartition, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReplayedPartition:
    """A partition read back: its records from ``keep_from`` on, and its next offset."""

    records: list[Message]
    first: int  # offset of records[0] (== end when there is none)
    end: int


@dataclass(frozen=True, slots=True)
class Replay:
    """Everything the journal held at start."""

    topics: dict[str, list[ReplayedPartition]]
    groups: dict[str, dict[TopicPartition, int]]
    torn: int  # torn records dropped (one per truncated tail)
    torn_bytes: int


@dataclass(slots=True, eq=False)
class _Log:
    """One partition's segments; the last one is appended to."""

    dir: Path
    bases: list[int]
    end: int
    size: int = 0  # bytes in the last segment
    count: int = 0  # records in the last segment
    fd: int | None = None
    floor: int = 0  # records below it are committed by every group: their segments can go


def _segment_name(base: int) -> str:
    return f"{base:020d}.log"


def _group_file(group: str) -> str:
    name = quote(group, safe="")
    if len(name) > 200:  # file names are limited to 255 bytes; the group is in the content
        name = "sha256-" + hashlib.sha256(group.encode()).hexdigest()
    return name + ".json"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` as a whole: temp file, fsync, rename over, fsync the directory."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)
    _fsync_dir(path.parent)


class Journal:
    """The journal directory of one bus (locked against other processes while open)."""

    def __init__(self, directory: Path, *, segment_bytes: int = DEFAULT_SEGMENT_BYTES,
                 segment_records: int = DEFAULT_SEGMENT_RECORDS) -> None:
        if segment_bytes < 1 or segment_records < 1:
            raise ValueError("segment_bytes and segment_records must be at least 1")
        self.dir = directory
        self.segment_bytes = segment_bytes
        self.segment_records = segment_records
        self._logs: dict[TopicPartition, _Log] = {}
        self._lock_fd: int | None = None

    # --- start -------------------------------------------------------------------------------
    def open(self) -> Replay:
        """Lock the directory and read it back (truncating a torn tail, applying retention)."""
        try:
            return self._open()
        except OSError as exc:
            self.close()
            raise journal_error(self.dir, exc) from exc
        except BusError:
            self.close()
            raise

    def _open(self) -> Replay:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / GROUPS_DIR).mkdir(exist_ok=True)
        self._lock()
        _fsync_dir(self.dir.resolve().parent)
        _fsync_dir(self.dir)
        groups = self._read_groups()
        keep: dict[TopicPartition, int] = {}
        for offsets in groups.values():
            for tp, offset in offsets.items():
                keep[tp] = min(offset, keep.get(tp, offset))
        topics: dict[str, list[ReplayedPartition]] = {}
        torn = torn_bytes = 0
        for tdir in sorted(self.dir.iterdir()):
            meta = tdir / "topic.json"
            if not tdir.is_dir() or tdir.name == GROUPS_DIR:
                continue
            if not meta.exists():  # created up to its partitions, never acknowledged
                log.warning("stream journal: %s has no topic.json (creation interrupted); "
                            "ignored", tdir)
                continue
            try:
                partitions = int(json.loads(meta.read_bytes())["partitions"])
            except (ValueError, KeyError, TypeError) as exc:
                raise BusError(f"corrupt stream journal file {meta}: {exc}",
                               retriable=False) from exc
            parts = []
            for p in range(partitions):
                rp, t, b = self._replay_partition((tdir.name, p), keep.get((tdir.name, p), 0))
                parts.append(rp)
                torn, torn_bytes = torn + t, torn_bytes + b
            topics[tdir.name] = parts
        return Replay(topics, groups, torn, torn_bytes)

    def _lock(self) -> None:
        fd = os.open(self.dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BusError(f"the stream journal {self.dir} is in use by another process "
                           "(each intperf service needs its own intperf.stream.journal-dir)",
                           retriable=False) from None
        os.ftruncate(fd, 0)
        os.write(fd, b"%d\n" % os.getpid())  # who holds it, for whoever wonders
        self._lock_fd = fd

    def _read_groups(self) -> dict[str, dict[TopicPartition, int]]:
        groups: dict[str, dict[TopicPartition, int]] = {}
        for path in sorted((self.dir / GROUPS_DIR).iterdir()):
            if path.name.endswith(".tmp"):  # a rewrite interrupted before its rename
                path.unlink()
                continue
            try:
                doc: dict[str, Any] = json.loads(path.read_bytes())
                groups[str(doc["group"])] = {(str(t), int(p)): int(o)
                                             for t, p, o in doc["offsets"]}
            except (ValueError, KeyError, TypeError) as exc:
                raise BusError(f"corrupt stream journal file {path}: {exc}",
                               retriable=False) from exc
        return groups

    def _replay_partition(self, tp: TopicPartition,
                          keep_from: int) -> tuple[ReplayedPartition, int, int]:
        pdir = self.dir / tp[0] / str(tp[1])
        pdir.mkdir(exist_ok=True)
        bases = sorted(int(m[1]) for f in pdir.iterdir() if (m := _SEGMENT.fullmatch(f.name)))
        while len(bases) > 1 and bases[1] <= keep_from:  # retention not done before a stop
            (pdir / _segment_name(bases.pop(0))).unlink()
        records: list[Message] = []
        lg = _Log(pdir, bases, bases[0] if bases else 0, floor=keep_from)
        torn = torn_bytes = 0
        for i, base in enumerate(bases):
            path = pdir / _segment_name(base)
            if base != lg.end:
                raise BusError(f"stream journal {pdir}: segment {path.name} does not follow "
                               f"offset {lg.end} (a segment is missing)", retriable=False)
            data = path.read_bytes()
            scan = scan_segment(data, base, tp, keep_from, path)
            if scan.torn_at is not None:
                if i < len(bases) - 1:  # earlier segments were fsynced whole before a roll
                    raise BusError(f"corrupt stream journal segment {path} at byte "
                                   f"{scan.torn_at} (not its last segment)", retriable=False)
                log.warning("stream journal: %s ends with a torn record at byte %d; dropped "
                            "%d bytes (never acknowledged)", path, scan.torn_at,
                            len(data) - scan.torn_at)
                os.truncate(path, scan.torn_at)
                torn, torn_bytes = torn + 1, torn_bytes + len(data) - scan.torn_at
            if i == len(bases) - 1:
                # What a crashed process wrote is in the page cache, perhaps not yet on disk:
                # made durable before consumers see (and commit) it.
                self._fsync_file(path)
                _fsync_dir(pdir)
            records += scan.records
            lg.end = scan.end
            lg.size = len(data) if scan.torn_at is None else scan.torn_at
            lg.count = scan.count
        self._logs[tp] = lg
        first = min(max(keep_from, bases[0] if bases else 0), lg.end)
        if keep_from > lg.end:
            log.warning("stream journal: a group committed %s[%d] at %d beyond its end %d "
                        "(records were lost from the journal)", tp[0], tp[1], keep_from, lg.end)
        return ReplayedPartition(records, first, lg.end), torn, torn_bytes

    @staticmethod
    def _fsync_file(path: Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # --- writing -----------------------------------------------------------------------------
    def write(self, batch: JournalBatch) -> None:
        """Make ``batch`` durable: one fdatasync per partition written (group commit)."""
        for topic, partitions in batch.topics.items():
            self._create_topic(topic, partitions)
        new_dirs: set[Path] = set()
        touched: list[_Log] = []
        for tp, messages in batch.records.items():
            lg = self._logs[tp]
            self._append(lg, messages, new_dirs)
            touched.append(lg)
        for lg in touched:
            assert lg.fd is not None
            os.fdatasync(lg.fd)
        for d in new_dirs:  # a new segment's directory entry
            _fsync_dir(d)
        for group, offsets in batch.groups.items():
            doc = {"format": FORMAT, "group": group,
                   "offsets": [[t, p, o] for (t, p), o in sorted(offsets.items())]}
            _write_atomic(self.dir / GROUPS_DIR / _group_file(group), json.dumps(doc).encode())
        for tp, floor in batch.retain.items():
            self._retain(tp, floor)

    def _create_topic(self, topic: str, partitions: int) -> None:
        tdir = self.dir / topic
        tdir.mkdir(exist_ok=True)
        for p in range(partitions):
            (tdir / str(p)).mkdir(exist_ok=True)
            self._logs[(topic, p)] = _Log(tdir / str(p), [], 0)
        # topic.json last and atomically: a topic directory without it was never acknowledged.
        doc = {"format": FORMAT, "topic": topic, "partitions": partitions}
        _write_atomic(tdir / "topic.json", json.dumps(doc).encode())
        _fsync_dir(self.dir)

    def _append(self, lg: _Log, messages: list[Message], new_dirs: set[Path]) -> None:
        chunk: list[bytes] = []
        for m in messages:
            if lg.fd is None or lg.size >= self.segment_bytes or lg.count >= self.segment_records:
                if chunk:
                    assert lg.fd is not None
                    _write_all(lg.fd, b"".join(chunk))
                    chunk = []
                self._roll(lg, m.offset, new_dirs)
            frame = encode_record(m.offset, m.timestamp_ms, m.key, m.value)
            chunk.append(frame)
            lg.size += len(frame)
            lg.count += 1
        if chunk:
            assert lg.fd is not None
            _write_all(lg.fd, b"".join(chunk))
        if messages:
            lg.end = messages[-1].offset + 1

    def _roll(self, lg: _Log, offset: int, new_dirs: set[Path]) -> None:
        """Open the last segment, or start a new one once it is full."""
        full = lg.size >= self.segment_bytes or lg.count >= self.segment_records
        if lg.bases and not full:  # the last segment after a restart: append to it
            flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
            lg.fd = os.open(lg.dir / _segment_name(lg.bases[-1]), flags)
            return
        if lg.fd is not None:
            # Whole before the next one exists, so only the last segment can have a torn tail.
            os.fdatasync(lg.fd)
            os.close(lg.fd)
            lg.fd = None
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        lg.fd = os.open(lg.dir / _segment_name(offset), flags, 0o644)
        lg.bases.append(offset)
        lg.size = lg.count = 0
        new_dirs.add(lg.dir)
        self._delete_below(lg)  # the segment just closed may be all committed already

    def _retain(self, tp: TopicPartition, floor: int) -> None:
        """Delete the segments whose records are all below ``floor`` (never the last one)."""
        lg = self._logs.get(tp)
        if lg is not None:
            lg.floor = max(lg.floor, floor)
            self._delete_below(lg)

    @staticmethod
    def _delete_below(lg: _Log) -> None:
        while len(lg.bases) > 1 and lg.bases[1] <= lg.floor:
            (lg.dir / _segment_name(lg.bases.pop(0))).unlink()

    def segments(self, tp: TopicPartition) -> list[int]:
        """Base offsets of ``tp``'s segments on disk (for tests)."""
        lg = self._logs.get(tp)
        return list(lg.bases) if lg else []

    # --- stop --------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the segments and release the directory."""
        for lg in self._logs.values():
            if lg.fd is not None:
                with contextlib.suppress(OSError):
                    os.close(lg.fd)
                lg.fd = None
        self._logs.clear()
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None
