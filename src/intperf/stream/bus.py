"""The message bus seam: one interface (`Bus`, `Consumer`) over an in-process bus and Kafka.

Also Kafka's default key partitioner (murmur2), so keys land where Java producers put them.
Delivery guarantees are documented in docs/stream.md ("Buses and delivery guarantees").
"""

from __future__ import annotations

import os
import struct
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, Self

from intperf.errors import UsageError

__all__ = [
    "Bus",
    "BusKind",
    "Consumer",
    "Message",
    "RebalanceCallback",
    "TopicPartition",
    "make_bus",
    "murmur2",
    "partition_for_key",
]

#: ``(topic, partition)``.
TopicPartition = tuple[str, int]

#: ``on_assign`` / ``on_revoke``: awaited with the partitions given or taken away.
RebalanceCallback = Callable[[set[TopicPartition]], Awaitable[None]]

BusKind = Literal["memory", "kafka"]


@dataclass(frozen=True, slots=True)
class Message:
    """One record read from a partition; ``offset`` is its position in that partition."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int


class Consumer(Protocol):
    """A member of a consumer group (async context manager: joins on enter, leaves on exit).

    Offsets are committed explicitly only. ``commit`` takes the *next* offset to read per
    partition (Kafka's convention) and only for partitions currently assigned to this
    consumer; otherwise it raises ``BusError`` (the group moved on: the new owner re-reads
    from the last committed offset).
    """

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def poll(self, max_records: int, timeout_s: float) -> list[Message]:
        """Up to ``max_records`` records; waits at most ``timeout_s`` for the first one."""
        ...

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Store, for the group, the next offset to read of each given partition."""
        ...

    async def seek(self, tp: TopicPartition, offset: int) -> None:
        """Read ``tp`` from ``offset`` on at the next poll (an assigned partition)."""
        ...

    def assignment(self) -> set[TopicPartition]:
        """The partitions this consumer currently owns."""
        ...


class Bus(Protocol):
    """Topics with partitions, producers and consumer groups (async context manager)."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def publish(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        """Append one record; keyed records go to ``partition_for_key``'s partition."""
        ...

    async def publish_many(self, topic: str, items: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Append ``(key, value)`` records, in order per partition."""
        ...

    async def flush(self) -> None:
        """Return when every record published so far is stored by the bus."""
        ...

    async def ensure_topic(self, topic: str, partitions: int) -> None:
        """Create ``topic`` with ``partitions`` partitions unless it exists."""
        ...

    def consumer(
        self,
        topics: Sequence[str],
        group: str,
        *,
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> Consumer:
        """A new (not yet joined) member of ``group`` subscribed to ``topics``."""
        ...


# --- Kafka's default partitioner -----------------------------------------------------------
# org.apache.kafka.common.utils.Utils.murmur2 (MurmurHash2, seed 0x9747b28c) and
# BuiltInPartitioner.partitionForKey: toPositive(murmur2(key)) % numPartitions.

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_CACHE_MAX = 65536
_partition_cache: dict[tuple[bytes, int], int] = {}


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of ``data`` as a signed 32-bit int (Java's ``Utils.murmur2``)."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    n4 = length // 4
    for k in struct.unpack_from(f"<{n4}I", data):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    base = n4 * 4
    if tail == 3:
        h ^= data[base + 2] << 16
    if tail >= 2:
        h ^= data[base + 1] << 8
    if tail >= 1:
        h ^= data[base]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for_key(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for ``key`` among ``partitions``."""
    cached = _partition_cache.get((key, partitions))
    if cached is not None:
        return cached
    p = (murmur2(key) & 0x7FFFFFFF) % partitions
    # Keys are usually few (services, endpoints): a bounded memo saves the hash per record.
    if len(_partition_cache) >= _CACHE_MAX:
        _partition_cache.clear()
    _partition_cache[(key, partitions)] = p
    return p


def make_bus(
    kind: BusKind = "memory",
    *,
    bootstrap_servers: str | Sequence[str] | None = None,
    client_id: str = "intperf",
    journal_dir: str | os.PathLike[str] | None = None,
) -> Bus:
    """Build a bus: ``"memory"`` (in-process, the default) or ``"kafka"``.

    ``bootstrap_servers`` is ``"host:port[,host:port...]"`` (``intperf.kafka-bootstrap-servers``)
    or a list of ``host:port``. ``journal_dir`` makes the memory bus durable (created if
    missing; ``intperf.stream.journal-dir``); Kafka ignores it.
    """
    if kind == "memory":
        from intperf.stream.bus_memory import MemoryBus

        return MemoryBus(None if journal_dir is None else Path(journal_dir))
    if kind == "kafka":
        if isinstance(bootstrap_servers, str):
            bootstrap_servers = bootstrap_servers.split(",")
        servers = [s.strip() for s in bootstrap_servers or () if s.strip()]
        if not servers:
            raise UsageError(
                "the Kafka bus needs bootstrap servers (intperf.kafka-bootstrap-servers)")
        from intperf.stream.bus_kafka import KafkaBus

        return KafkaBus(servers, client_id=client_id)
    raise UsageError(f"unknown bus kind {kind!r}: expected 'memory' or 'kafka'")
