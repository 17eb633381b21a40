"""The stream processor's per-partition state, what waits to be stored, and its counters.

A partition's topologies, its position and the outputs its records produced since the last
stored checkpoint live together, so a partition taken away by a rebalance drops exactly its
own unstored outputs (the new owner recomputes them from the stored checkpoint).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from intperf.store.stream_repository import (
    Checkpoint,
    DeadLetter,
    LateEvent,
    LiveWindow,
    OtherWindow,
    SlowQuery,
    StreamProgress,
)
from intperf.stream.bus import TopicPartition
from intperf.stream.topology_base import Output, Topology

__all__ = [
    "CHECKPOINT_VERSION",
    "PartitionState",
    "Pending",
    "ProcessorStats",
    "dead_letter_envelope",
    "merge_progress",
]

#: Version of the checkpoint ``state`` document (``{"version", "topologies": {name: ...}}``).
CHECKPOINT_VERSION: Final = 1


@dataclass(slots=True)
class Pending:
    """Outputs of one partition not yet stored with a checkpoint."""

    windows: list[LiveWindow] = field(default_factory=list)
    late: list[LateEvent] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    slow: list[SlowQuery] = field(default_factory=list)
    others: list[OtherWindow] = field(default_factory=list)
    """Closed cache and business windows."""
    alerts: list[asyncio.Task[None]] = field(default_factory=list)
    """``on_alert`` calls started for this partition's alerts (awaited before storing)."""
    to_publish: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    """(topic, key, value): dead letters and slow queries for the bus, before storing."""
    prepared: bool = False
    """Plan hints added and records to publish queued (done once, even if storing fails)."""
    records: int = 0
    events: int = 0

    def add(self, out: Output) -> None:
        """Take the storable outputs of one step."""
        self.windows += out.windows
        self.late += out.late
        self.slow += out.slow
        self.others += [OtherWindow("cache", c.region, c.start_ms, c.end_ms, c.to_dict())
                        for c in out.cache]
        self.others += [OtherWindow("business", b.service, b.start_ms, b.end_ms, b.to_dict())
                        for b in out.business]

    def empty(self) -> bool:
        """Nothing produced."""
        return not (self.windows or self.late or self.dead or self.slow or self.alerts
                    or self.to_publish or self.others)


@dataclass(slots=True, eq=False)
class PartitionState:
    """One assigned partition: its topologies, position and unstored outputs."""

    tp: TopicPartition
    topologies: list[Topology]
    position: int | None
    """Next offset to process; None until the first record when there is no checkpoint."""
    stored: int | None
    """``next_offset`` of the last checkpoint stored (or restored)."""
    pending: Pending = field(default_factory=Pending)
    dirty: bool = False
    """Records were processed or state changed since the last stored checkpoint."""

    def snapshot(self) -> dict[str, Any]:
        """The checkpoint ``state``: every topology's open windows."""
        return {"version": CHECKPOINT_VERSION,
                "topologies": {t.name: t.snapshot() for t in self.topologies}}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Load a checkpoint ``state``; topologies it does not name start empty."""
        if not state:
            return
        if state.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"checkpoint state version {state.get('version')!r} is not "
                             f"{CHECKPOINT_VERSION}")
        saved = state.get("topologies", {})
        for t in self.topologies:
            if t.name in saved:
                t.restore(saved[t.name])

    def progress(self) -> StreamProgress:
        """The pending outputs with this partition's checkpoint (when it moved)."""
        p = self.pending
        checkpoints = []
        if self.dirty and self.position is not None:
            checkpoints.append(Checkpoint(self.tp[0], self.tp[1], self.position,
                                          self.snapshot()))
        return StreamProgress(windows=list(p.windows), late=list(p.late), dead=list(p.dead),
                              slow=list(p.slow), checkpoints=checkpoints,
                              others=list(p.others))


def merge_progress(parts: Sequence[StreamProgress]) -> StreamProgress:
    """One progress holding every part (one transaction)."""
    out = StreamProgress()
    for p in parts:
        out.windows += p.windows
        out.late += p.late
        out.dead += p.dead
        out.slow += p.slow
        out.checkpoints += p.checkpoints
        out.others += p.others
    return out


def dead_letter_envelope(d: DeadLetter) -> bytes:
    """A dead letter on the dead-letter topic: JSON with the source, the reason and the
    payload (UTF-8 text, or ``base64:...`` for binary records)."""
    return json.dumps({"source": d.source, "reason": d.reason, "payload": d.payload},
                      ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(slots=True)
class ProcessorStats:
    """Counters since the processor started (for ``intperf stream``, the API and metrics)."""

    records: int = 0
    events: int = 0
    dead_letters: int = 0
    late_events: int = 0
    cache_windows: int = 0
    """Closed cache windows (stored in stream_windows)."""
    business_windows: int = 0
    windows_stored: int = 0
    slow_queries: int = 0
    alerts: int = 0
    stores: int = 0
    store_failures: int = 0
    commits: int = 0
    commit_failures: int = 0
    rebalances: int = 0
    partitions: tuple[TopicPartition, ...] = ()
    lag: int | None = None
    """Records published but not yet processed on the assigned partitions, when the bus can
    tell (the memory bus can; Kafka: None, see docs/stream.md)."""
    last_commit_ms: int | None = None
    storage_down_since_ms: int | None = None
    """Set while storing fails: processing is paused, nothing is committed."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        d = asdict(self)
        d["partitions"] = [f"{t}/{p}" for t, p in self.partitions]
        return d
