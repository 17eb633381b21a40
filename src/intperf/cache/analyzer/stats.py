"""Pure arithmetic on INFO snapshots and key samples: deltas, rates, TTL histogram."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["TTL_BUCKETS", "InfoDelta", "KeySample", "info_delta", "ttl_histogram"]

#: Upper bounds (seconds) of the TTL histogram buckets; a key above the last is "> 7d".
TTL_BUCKETS: tuple[tuple[str, float], ...] = (
    ("<1m", 60), ("1m-10m", 600), ("10m-1h", 3600), ("1h-1d", 86_400), ("1d-7d", 604_800))


@dataclass(frozen=True, slots=True)
class KeySample:
    """One sampled key: its type, TTL (-1 none), memory, idle seconds and LFU frequency."""

    key: str
    type: str
    ttl_s: int
    memory_bytes: int | None
    idle_s: int | None = None
    freq: int | None = None


@dataclass(frozen=True, slots=True)
class InfoDelta:
    """What happened between two INFO snapshots ``interval_s`` apart."""

    interval_s: float
    hits: int
    misses: int
    hit_ratio: float | None
    ops_per_s: float
    evictions_per_s: float
    expirations_per_s: float
    evicted_keys: int
    expired_keys: int
    rejected_connections: int
    used_memory: int
    maxmemory: int
    fragmentation_ratio: float | None
    connected_clients: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (report ``info``)."""
        return {s: getattr(self, s) for s in self.__slots__}


def _num(info: Mapping[str, Any], key: str) -> float:
    try:
        return float(info.get(key, 0) or 0)
    except (TypeError, ValueError):
        return 0.0


def info_delta(start: Mapping[str, Any], end: Mapping[str, Any], interval_s: float
               ) -> InfoDelta:
    """Rates and the hit ratio over the interval (counter resets count as 0)."""
    span = max(interval_s, 1e-9)

    def diff(key: str) -> int:
        return max(0, int(_num(end, key) - _num(start, key)))

    hits, misses = diff("keyspace_hits"), diff("keyspace_misses")
    frag = end.get("mem_fragmentation_ratio")
    return InfoDelta(
        interval_s=interval_s, hits=hits, misses=misses,
        hit_ratio=hits / (hits + misses) if hits + misses else None,
        ops_per_s=diff("total_commands_processed") / span,
        evictions_per_s=diff("evicted_keys") / span,
        expirations_per_s=diff("expired_keys") / span,
        evicted_keys=diff("evicted_keys"), expired_keys=diff("expired_keys"),
        rejected_connections=diff("rejected_connections"),
        used_memory=int(_num(end, "used_memory")), maxmemory=int(_num(end, "maxmemory")),
        fragmentation_ratio=None if frag is None else _num(end, "mem_fragmentation_ratio"),
        connected_clients=int(_num(end, "connected_clients")))


def ttl_histogram(ttls: Iterable[int]) -> dict[str, int]:
    """Counts per TTL bucket; ``no-ttl`` for -1 (keys gone during sampling, -2, are skipped)."""
    counts = {"no-ttl": 0, **{name: 0 for name, _ in TTL_BUCKETS}, ">7d": 0}
    for ttl in ttls:
        if ttl == -1:
            counts["no-ttl"] += 1
        elif ttl >= 0:
            name = next((n for n, bound in TTL_BUCKETS if ttl < bound), ">7d")
            counts[name] += 1
    return counts
