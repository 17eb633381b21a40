"""The memory bus's journal against a real crash: a child process publishes, flushes, says so,
and is killed with SIGKILL; a new bus on the same directory replays what was flushed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from intperf.stream.bus import Message, partition_for_key
from intperf.stream.bus_journal_format import iter_frames
from intperf.stream.bus_memory import MemoryBus, MemoryConsumer

pytestmark = pytest.mark.integration

T = "events"
PARTITIONS = 3
SEGMENT_RECORDS = 50

# The child: publish N records in batches, flush, commit a group, print "flushed N", then
# either wait to be killed or keep publishing (flushing now and then) until it is.
CHILD = r"""
import asyncio, sys
from intperf.stream.bus_memory import MemoryBus

async def main(journal, n, keep_going, partitions, segment_records):
    async with MemoryBus(journal, segment_records=segment_records) as bus:
        await bus.ensure_topic("events", partitions)
        for start in range(0, n, 100):
            await bus.publish_many("events", [(b"k%d" % (i % 7), b"v%06d" % i)
                                              for i in range(start, min(n, start + 100))])
        await bus.flush()
        async with bus.consumer(["events"], "g") as c:
            await c.poll(0, 0)
            await c.commit({("events", p): 60 for p in range(partitions)})
        print("flushed", n, flush=True)
        i = flushed = n
        while keep_going:
            await bus.publish_many("events", [(b"k%d" % (j % 7), b"v%06d" % j)
                                              for j in range(i, i + 50)])
            i += 50
            await asyncio.sleep(0)  # the journal writes in the background, as in a server
            if i % 500 == 0:
                print("flushed", flushed, flush=True)  # said while the next write is under way
                await bus.flush()
                flushed = i
        await asyncio.Event().wait()

asyncio.run(main(sys.argv[1], *map(int, sys.argv[2:])))
"""


@contextmanager
def child(journal: Path, n: int, keep_going: bool) -> Iterator[subprocess.Popen[str]]:
    argv = [str(journal), str(n), str(int(keep_going)), str(PARTITIONS), str(SEGMENT_RECORDS)]
    proc = subprocess.Popen([sys.executable, "-c", CHILD, *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def kill_after_flushed(journal: Path, n: int, *, keep_going: bool, more: int = 0) -> int:
    """Kill the child once it flushed ``n + more`` records; returns how many it flushed."""
    with child(journal, n, keep_going) as proc:
        assert proc.stdout is not None
        flushed = 0
        while flushed < n + more:
            line = proc.stdout.readline()  # blocks until the child says it flushed
            assert line.startswith("flushed "), (line, proc.stderr.read() if proc.stderr else "")
            flushed = int(line.split()[1])
        os.kill(proc.pid, signal.SIGKILL)  # it is publishing again, unflushed, meanwhile
        assert proc.wait(timeout=30) == -signal.SIGKILL
        return flushed


def expected(n: int) -> dict[int, list[tuple[bytes, bytes]]]:
    """Per partition, in offset order, the (key, value) the child published first."""
    out: dict[int, list[tuple[bytes, bytes]]] = {p: [] for p in range(PARTITIONS)}
    for i in range(n):
        key = b"k%d" % (i % 7)
        out[partition_for_key(key, PARTITIONS)].append((key, b"v%06d" % i))
    return out


async def read_all(c: MemoryConsumer, ends: list[int]) -> list[Message]:
    out: list[Message] = []
    async with asyncio.timeout(10):
        while len(out) < sum(ends):
            out += await c.poll(10_000, 1.0)
    return out


async def replayed(journal: Path) -> tuple[list[int], dict[int, list[Message]], dict[
        tuple[str, int], int], list[int]]:
    async with MemoryBus(journal, segment_records=SEGMENT_RECORDS) as bus:
        ends = bus.end_offsets(T)
        committed = bus.committed("g")
        assert bus.journal is not None
        first_segments = [bus.journal.segments((T, p))[0] for p in range(PARTITIONS)]
        async with bus.consumer([T], "reader") as c:
            got = await read_all(c, [e - min(60, e) for e in ends])
    by_p: dict[int, list[Message]] = {p: [] for p in range(PARTITIONS)}
    for m in sorted(got, key=lambda m: (m.partition, m.offset)):
        by_p[m.partition].append(m)
    return ends, by_p, committed, first_segments


async def test_a_killed_process_loses_nothing_it_flushed(tmp_path: Path) -> None:
    n = 1000
    kill_after_flushed(tmp_path, n, keep_going=False)
    ends, by_p, committed, first_segments = await replayed(tmp_path)
    want = expected(n)
    assert ends == [len(want[p]) for p in range(PARTITIONS)]
    # The group's offsets survived; a new group reads what is retained from them on.
    assert committed == {(T, p): 60 for p in range(PARTITIONS)}
    for p in range(PARTITIONS):
        assert [(m.offset, m.key, m.value) for m in by_p[p]] == [
            (off, k, v) for off, (k, v) in enumerate(want[p]) if off >= 60]
    # Retention deleted the segments below the commit: 0..49 went, 50..99 holds offset 60.
    assert first_segments == [50] * PARTITIONS
    for p in range(PARTITIONS):
        assert not (tmp_path / T / str(p) / f"{0:020d}.log").exists()


async def test_a_process_killed_while_publishing_keeps_every_flushed_record(
    tmp_path: Path,
) -> None:
    flushed = kill_after_flushed(tmp_path, 1000, keep_going=True, more=2000)
    ends, by_p, _, _ = await replayed(tmp_path)
    # At least what was flushed; whatever came after is a consistent continuation.
    assert sum(ends) >= flushed >= 3000
    # Per partition a prefix of what the child published (partitions are written apart).
    want = expected(flushed + 5000)
    for p in range(PARTITIONS):
        assert [(m.offset, m.key, m.value) for m in by_p[p]] == [
            (off, k, v) for off, (k, v) in enumerate(want[p][:ends[p]]) if off >= 60]


async def test_a_torn_tail_after_a_kill_is_dropped(tmp_path: Path) -> None:
    n = 1000
    kill_after_flushed(tmp_path, n, keep_going=False)
    p = partition_for_key(b"k0", PARTITIONS)
    last = sorted((tmp_path / T / str(p)).glob("*.log"))[-1]
    frames = list(iter_frames(last.read_bytes()))
    os.truncate(last, frames[-1][0] + frames[-1][1] // 2)  # the last record half on disk
    ends, by_p, _, _ = await replayed(tmp_path)
    want = expected(n)
    assert ends[p] == len(want[p]) - 1
    assert [m.value for m in by_p[p]] == [v for _, v in want[p][60:-1]]
    assert last.stat().st_size == frames[-1][0]
