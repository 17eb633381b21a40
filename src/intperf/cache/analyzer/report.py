"""The analysis report of one Redis (single node or cluster) and URL redaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from intperf.cache.analyzer.rules import PatternStats, Recommendation
from intperf.cache.analyzer.stats import InfoDelta, KeySample

__all__ = ["RedisAnalysis", "redact_redis_url"]


def redact_redis_url(url: str) -> str:
    """``url`` with its password replaced by ``***``; never raises."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            user, colon, _ = userinfo.partition(":")
            netloc = f"{user}:***@{host}" if colon else f"***@{host}" if user else netloc
        query = "&".join("password=***" if q.lower().startswith("password=") else q
                         for q in parts.query.split("&")) if parts.query else ""
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<unparseable Redis URL>"


def _key(s: KeySample) -> dict[str, Any]:
    return {"key": s.key, "type": s.type, "ttl_s": s.ttl_s, "memory_bytes": s.memory_bytes,
            "idle_s": s.idle_s, "freq": s.freq}


@dataclass(frozen=True, slots=True)
class RedisAnalysis:
    """Everything one ``analyze_redis`` found."""

    url: str  # redacted
    cluster: bool
    nodes: list[str]
    info: InfoDelta
    node_info: dict[str, InfoDelta]
    policy: str | None
    maxmemory: int | None
    sampled: int
    keyspace_keys: int
    patterns: list[PatternStats]
    ttl_histogram: dict[str, int]
    big_keys: list[KeySample]
    hot_keys: list[KeySample] | None
    slowlog: list[dict[str, Any]]
    recommendations: list[Recommendation]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (docs/cache.md)."""
        return {
            "url": self.url, "cluster": self.cluster, "nodes": self.nodes,
            "info": self.info.to_dict(),
            "node_info": {n: d.to_dict() for n, d in self.node_info.items()},
            "config": {"maxmemory": self.maxmemory, "maxmemory_policy": self.policy},
            "keyspace": {"keys": self.keyspace_keys, "sampled": self.sampled,
                         "keys_without_ttl": sum(p.no_ttl for p in self.patterns),
                         "ttl_histogram": self.ttl_histogram},
            "patterns": [p.to_dict() for p in self.patterns],
            "big_keys": [_key(s) for s in self.big_keys],
            "hot_keys": None if self.hot_keys is None else [_key(s) for s in self.hot_keys],
            "slowlog": self.slowlog,
            "recommendations": [r.to_dict() for r in self.recommendations],
            "notes": self.notes,
        }
