"""Recommendation rules over an analysis' numbers; each recommendation carries its evidence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from intperf.cache.analyzer.stats import InfoDelta, KeySample

__all__ = ["PatternStats", "Recommendation", "pattern_stats", "recommend", "suggest_ttl_s"]

Severity = Literal["info", "warning", "critical"]

#: Fragmentation above this (with at least 64 MiB used) is worth a look.
FRAGMENTATION_LIMIT = 1.5
#: Evictions together with a hit ratio below this mean the cache is too small or mis-keyed.
LOW_HIT_RATIO = 0.8


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One piece of advice: stable ``category``, the numbers behind it, what to do."""

    category: str
    severity: Severity
    title: str
    evidence: dict[str, Any] = field(default_factory=dict)
    action: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (report ``recommendations[]``)."""
        return {"category": self.category, "severity": self.severity, "title": self.title,
                "evidence": self.evidence, "action": self.action}


@dataclass(frozen=True, slots=True)
class PatternStats:
    """Sampled keys of one pattern."""

    pattern: str
    keys: int
    no_ttl: int
    memory_bytes: int
    idle_p90_s: int | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (report ``patterns[]``)."""
        return {s: getattr(self, s) for s in self.__slots__}


def _quantile(values: Sequence[int], q: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def pattern_stats(samples: Sequence[KeySample], patterns: Mapping[str, str]
                  ) -> list[PatternStats]:
    """Per-pattern counts (``patterns`` maps key → pattern), biggest memory first."""
    groups: dict[str, list[KeySample]] = {}
    for s in samples:
        groups.setdefault(patterns[s.key], []).append(s)
    out = [PatternStats(
        pattern=p, keys=len(g), no_ttl=sum(1 for s in g if s.ttl_s == -1),
        memory_bytes=sum(s.memory_bytes or 0 for s in g),
        idle_p90_s=_quantile([s.idle_s for s in g if s.idle_s is not None], 0.9))
        for p, g in groups.items()]
    return sorted(out, key=lambda ps: (-ps.memory_bytes, -ps.keys, ps.pattern))


def suggest_ttl_s(idle_p90_s: int | None) -> int | None:
    """A TTL covering 90 % of observed idle times with 2x headroom, at least a minute."""
    if idle_p90_s is None:
        return None
    return max(60, 2 * idle_p90_s)


def recommend(info: InfoDelta | None, policy: str | None, maxmemory: int | None,
              patterns: Sequence[PatternStats]) -> list[Recommendation]:
    """Every rule that fires (docs/cache.md lists them); ``None`` means not known."""
    recs: list[Recommendation] = []
    no_ttl = sum(p.no_ttl for p in patterns)
    sampled = sum(p.keys for p in patterns)
    if policy and policy.startswith("volatile-") and no_ttl:
        recs.append(Recommendation(
            "ttl.missing-under-volatile", "warning",
            f"{no_ttl} of {sampled} sampled keys have no TTL, but maxmemory-policy {policy} "
            "only evicts keys with a TTL",
            {"policy": policy, "keys_without_ttl": no_ttl, "sampled": sampled,
             "patterns": [p.pattern for p in patterns if p.no_ttl][:10]},
            "Give these keys a TTL, or switch to an allkeys-* policy if they are cache entries."))
    elif policy == "noeviction" and no_ttl:
        recs.append(Recommendation(
            "policy.noeviction", "warning",
            "maxmemory-policy is noeviction: writes fail when memory is full",
            {"policy": policy, "keys_without_ttl": no_ttl, "sampled": sampled},
            "Use allkeys-lru or allkeys-lfu for a cache."))
    if maxmemory == 0:
        recs.append(Recommendation(
            "memory.no-limit", "warning",
            "maxmemory is 0 (unlimited): a cache grows until the machine runs out of memory",
            {"maxmemory": 0, "used_memory": info.used_memory if info else None},
            "Set maxmemory (e.g. 75 % of the memory left for Redis) with an eviction policy."))
    if info is not None:
        frag = info.fragmentation_ratio
        if frag is not None and frag > FRAGMENTATION_LIMIT and info.used_memory >= 64 << 20:
            recs.append(Recommendation(
                "memory.fragmentation", "warning",
                f"memory fragmentation ratio {frag:.2f} > {FRAGMENTATION_LIMIT}",
                {"mem_fragmentation_ratio": frag, "used_memory": info.used_memory},
                "Enable activedefrag yes, or restart the node at a quiet time."))
        if info.evicted_keys and info.hit_ratio is not None and info.hit_ratio < LOW_HIT_RATIO:
            recs.append(Recommendation(
                "memory.evicting-with-low-hit-ratio", "critical",
                f"{info.evicted_keys} evictions in {info.interval_s:g}s with hit ratio "
                f"{info.hit_ratio:.0%}",
                {"evicted_keys": info.evicted_keys, "hit_ratio": info.hit_ratio,
                 "evictions_per_s": info.evictions_per_s, "maxmemory": info.maxmemory},
                "Raise maxmemory, or shorten TTLs of rarely read patterns."))
        if info.rejected_connections:
            recs.append(Recommendation(
                "clients.rejected", "warning",
                f"{info.rejected_connections} connections rejected (maxclients reached)",
                {"rejected_connections": info.rejected_connections,
                 "connected_clients": info.connected_clients},
                "Use connection pools in the clients, or raise maxclients."))
    for p in patterns:
        ttl = suggest_ttl_s(p.idle_p90_s)
        if p.no_ttl and ttl is not None:
            recs.append(Recommendation(
                "ttl.suggestion", "info",
                f"{p.pattern}: {p.no_ttl} keys without TTL; 90 % are read within "
                f"{p.idle_p90_s}s, suggest TTL {ttl}s",
                {"pattern": p.pattern, "keys_without_ttl": p.no_ttl,
                 "idle_p90_s": p.idle_p90_s, "suggested_ttl_s": ttl},
                f"EXPIRE keys of {p.pattern} after {ttl}s when writing them."))
    return recs
