"""Pure freshness rules of the cache: TTL per key class with jitter, negative and stale
windows, and XFetch probabilistic early refresh (Vattani, Chierichetti and Lowenstein,
"Optimal Probabilistic Cache Stampede Prevention", VLDB 2015)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["XFETCH_MAX_DRAW", "Entry", "TtlPolicy", "should_refresh_early"]

#: The largest ``-ln(rand)`` XFetch uses (rand is floored at 1e-300): an entry further than
#: ``delta * beta * XFETCH_MAX_DRAW`` seconds from expiry is never refreshed early.
XFETCH_MAX_DRAW = -math.log(1e-300)


@dataclass(frozen=True, slots=True)
class TtlPolicy:
    """How long entries stay fresh.

    ``ttl_s`` by default or ``per_class[key_class]``; each TTL is spread uniformly over
    ``±jitter`` of itself so keys written together do not expire together. Not-found results
    (the loader returned None) are cached ``negative_ttl_s`` (0: not cached). After expiry an
    entry is served stale for ``stale_s`` more while one caller refreshes it.
    """

    ttl_s: float = 300.0
    per_class: Mapping[str, float] = field(default_factory=dict)
    jitter: float = 0.1
    negative_ttl_s: float = 30.0
    stale_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")
        if self.ttl_s <= 0 or any(v <= 0 for v in self.per_class.values()):
            raise ValueError("TTLs must be positive")

    def ttl_for(self, key_class: str | None, *, negative: bool = False,
                rand: Callable[[], float] = random.random) -> float:
        """The jittered TTL of a new entry of ``key_class``."""
        base = self.negative_ttl_s if negative else self.per_class.get(key_class or "", self.ttl_s)
        return base * (1.0 + self.jitter * (2.0 * rand() - 1.0))


@dataclass(frozen=True, slots=True)
class Entry:
    """A cached value with what freshness needs: ``delta_s`` is how long the loader took
    (XFetch's delta), times are wall-clock seconds so processes agree."""

    value: Any
    delta_s: float
    fresh_until: float
    stale_until: float
    negative: bool = False

    def to_wire(self) -> list[Any]:
        """The list stored in Redis (through the region's serializer)."""
        return [self.value, self.delta_s, self.fresh_until, self.stale_until, self.negative]

    @classmethod
    def from_wire(cls, data: Any) -> Entry:
        """Inverse of :meth:`to_wire`; ValueError when ``data`` is not one."""
        if not isinstance(data, list | tuple) or len(data) != 5:
            raise ValueError("not a cache entry")
        return cls(data[0], float(data[1]), float(data[2]), float(data[3]), bool(data[4]))


def should_refresh_early(entry: Entry, now: float, beta: float, rand: float) -> bool:
    """XFetch: refresh when ``now - delta * beta * ln(rand) >= expiry``; ``rand`` is uniform
    in (0, 1]. beta > 1 favours earlier refreshes; beta = 0 disables them."""
    if beta <= 0.0 or entry.delta_s <= 0.0:
        return now >= entry.fresh_until
    return now - entry.delta_s * beta * math.log(max(rand, 1e-300)) >= entry.fresh_until
