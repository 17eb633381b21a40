"""TTL tuning from measured hit rates (pure: windows, bounds and the clock are inputs).

The model (docs/cache.md, "TTL tuning"): a key read at rate λ and refilled on expiry has a
hit probability of λT / (1 + λT) under a TTL T, so the odds of a hit ``h / (1 - h)`` grow in
proportion to T. The tuner asks for the TTL whose odds reach the target hit rate, and moves
at most ``max_step`` of the way there per change, within the region's bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "RegionState",
    "TtlBounds",
    "TtlChange",
    "TtlDecision",
    "TtlTuner",
    "TunerConfig",
    "WindowSample",
    "bounded_step",
]


@dataclass(frozen=True, slots=True)
class TtlBounds:
    """What the service may do to a region's TTLs: stay within ``[min_s, max_s]`` and change a
    TTL by at most ``max_step`` of itself (0.25: ±25 %) per change."""

    min_s: float
    max_s: float
    max_step: float = 0.25

    def __post_init__(self) -> None:
        if not 0 < self.min_s <= self.max_s or not math.isfinite(self.max_s):
            raise ValueError(f"need 0 < min_s <= max_s < inf, got {self.min_s}, {self.max_s}")
        if not 0 < self.max_step < 1:
            raise ValueError(f"max_step must be in (0, 1), got {self.max_step}")

    def contains(self, ttl_s: float) -> bool:
        """True when ``ttl_s`` is within the bounds."""
        return self.min_s <= ttl_s <= self.max_s

    def clamp(self, ttl_s: float) -> float:
        """``ttl_s`` moved into the bounds."""
        return min(self.max_s, max(self.min_s, ttl_s))

    def to_dict(self) -> dict[str, float]:
        """The JSON shape (stored in Redis by the registering cache)."""
        return {"min_s": self.min_s, "max_s": self.max_s, "max_step": self.max_step}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TtlBounds:
        """Inverse of :meth:`to_dict`; ValueError on a bad document."""
        try:
            return cls(float(data["min_s"]), float(data["max_s"]), float(data["max_step"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not TTL bounds: {exc}") from None


def bounded_step(current_s: float, wanted_s: float, bounds: TtlBounds) -> float:
    """``wanted_s`` limited to one step from ``current_s`` and to the bounds.

    ``current_s`` must be within the bounds; the result then is too, and differs from it by
    at most ``max_step * current_s``.
    """
    lo = max(bounds.min_s, current_s * (1.0 - bounds.max_step))
    hi = min(bounds.max_s, current_s * (1.0 + bounds.max_step))
    return min(hi, max(lo, wanted_s))


@dataclass(frozen=True, slots=True)
class WindowSample:
    """One closed cache window of a region (from the stream's cache topology)."""

    start_ms: int
    end_ms: int
    count: int
    hits: int
    storm: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WindowSample:
        """From a stored window (``CacheWindowResult.to_dict()``)."""
        return cls(int(data["start_ms"]), int(data["end_ms"]), int(data.get("count", 0)),
                   int(data.get("hits", 0)), bool(data.get("storm", False)))


@dataclass(frozen=True, slots=True)
class TtlChange:
    """The last change made to a region (hysteresis and the futility rule read it)."""

    at_s: float
    direction: int  # +1 longer, -1 shorter
    hit_rate_before: float


@dataclass(frozen=True, slots=True)
class RegionState:
    """A region as the tuner sees it: its TTL per key class ("" = the default TTL), bounds,
    its recent windows and its last change."""

    region: str
    ttls: Mapping[str, float]
    bounds: TtlBounds
    windows: Sequence[WindowSample] = ()
    last_change: TtlChange | None = None


@dataclass(frozen=True, slots=True)
class TunerConfig:
    """The tuner's rules (defaults in docs/cache.md)."""

    low_hit_rate: float = 0.85
    """Below: lengthen TTLs."""
    high_hit_rate: float = 0.97
    """Above (and still above after the shorter TTL, by the model): shorten TTLs."""
    min_accesses: int = 200
    """Sampled accesses needed in the lookback before deciding anything."""
    min_windows: int = 2
    lookback_s: float = 1800.0
    cooldown_s: float = 900.0
    """No change within this long after the previous change of the region."""
    min_change: float = 0.05
    """Changes smaller than this fraction of the TTL are not made."""
    min_gain: float = 0.01
    """A lengthening that did not raise the hit rate by this much is not repeated."""

    def __post_init__(self) -> None:
        if not 0 < self.low_hit_rate < self.high_hit_rate < 1:
            raise ValueError("need 0 < low_hit_rate < high_hit_rate < 1")
        if self.min_windows < 1 or self.min_accesses < 1:
            raise ValueError("min_windows and min_accesses must be >= 1")


@dataclass(frozen=True, slots=True)
class TtlDecision:
    """A proposed TTL for one key class of a region, with why and on which numbers."""

    region: str
    key_class: str
    old_ttl_s: float
    new_ttl_s: float
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (audit log detail)."""
        return {"region": self.region, "key_class": self.key_class,
                "old_ttl_s": self.old_ttl_s, "new_ttl_s": self.new_ttl_s,
                "reason": self.reason, "evidence": self.evidence}


def _odds(h: float) -> float:
    return h / (1.0 - h)


class TtlTuner:
    """Proposes TTL changes for regions; pure (``now_s`` is an argument)."""

    def __init__(self, config: TunerConfig | None = None) -> None:
        self.config = config or TunerConfig()

    def propose(self, state: RegionState, now_s: float) -> tuple[list[TtlDecision], str]:
        """Changes for ``state`` (maybe none) and the reason in one line."""
        cfg = self.config
        last = state.last_change
        if last is not None and now_s - last.at_s < cfg.cooldown_s:
            return [], "cooling down after the last change"
        # Only windows that started after the last change measure the current TTLs.
        since_ms = max(now_s - cfg.lookback_s, last.at_s if last is not None else -math.inf)
        windows = [w for w in state.windows if w.start_ms >= since_ms * 1000.0
                   and w.end_ms <= now_s * 1000.0 + 1.0]
        count = sum(w.count for w in windows)
        if len(windows) < cfg.min_windows or count < cfg.min_accesses:
            return [], (f"not enough evidence ({len(windows)} windows, {count} accesses; need "
                        f"{cfg.min_windows} and {cfg.min_accesses})")
        hits = sum(min(w.hits, w.count) for w in windows)
        h = hits / count
        storms = sum(w.storm for w in windows)
        evidence: dict[str, Any] = {"hit_rate": round(h, 4), "accesses": count,
                                    "windows": len(windows), "storm_windows": storms}
        if h < cfg.low_hit_rate or (storms and h < cfg.high_hit_rate):
            if last is not None and last.direction > 0 and h < last.hit_rate_before + cfg.min_gain:
                return [], (f"hit rate {h:.1%} did not improve after the last lengthening "
                            f"(was {last.hit_rate_before:.1%}): misses are not from expiry")
            target = cfg.low_hit_rate if not storms else (cfg.low_hit_rate + cfg.high_hit_rate) / 2
            ratio = _odds(target) / _odds(max(h, 1e-6))
            reason = (f"hit rate {h:.1%} below {cfg.low_hit_rate:.0%}" if not storms else
                      f"miss storms in {storms} window(s), hit rate {h:.1%}")
            return self._decide(state, max(ratio, 1.0), reason, evidence)
        if h > cfg.high_hit_rate and not storms:
            # Shorter TTLs mean fresher data; the odds shrink with T, keep them above `high`.
            ratio = _odds(cfg.high_hit_rate) / _odds(min(h, 1.0 - 1e-6))
            reason = f"hit rate {h:.1%} above {cfg.high_hit_rate:.0%}: fresher data costs little"
            return self._decide(state, min(ratio, 1.0), reason, evidence)
        return [], f"hit rate {h:.1%} within [{cfg.low_hit_rate:.0%}, {cfg.high_hit_rate:.0%}]"

    def _decide(self, state: RegionState, ratio: float, reason: str,
                evidence: dict[str, Any]) -> tuple[list[TtlDecision], str]:
        out: list[TtlDecision] = []
        skipped: list[str] = []
        for key_class, ttl in sorted(state.ttls.items()):
            if not state.bounds.contains(ttl):
                skipped.append(key_class or "(default)")
                continue
            new = bounded_step(ttl, ttl * ratio, state.bounds)
            if abs(new - ttl) < self.config.min_change * ttl:
                continue
            out.append(TtlDecision(state.region, key_class, ttl, new, reason,
                                   {**evidence, "wanted_ratio": round(ratio, 4)}))
        if skipped:
            reason += f"; outside the bounds, left alone: {', '.join(skipped)}"
        return out, reason if out else reason + " (no change beyond the minimum step)"
