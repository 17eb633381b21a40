"""Connection-pool advice: HikariCP's sizing formula cross-checked with Little's law on the
measured concurrency, as the reference ``spring.datasource.hikari.*`` keys. Pure; the
reasoning is in docs/MATH.md, "Connection pool sizing"."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from intperf.dbopt.findings import Finding

__all__ = [
    "HIKARI_PREFIX",
    "LittlesLaw",
    "PoolAdvice",
    "PoolInputs",
    "advise_pool",
    "effective_spindles",
    "hikari_pool_size",
    "littles_law",
]

HIKARI_PREFIX = "spring.datasource.hikari."
#: HikariCP's defaults (ms) and lower bounds.
CONNECTION_TIMEOUT_MS = 30_000
IDLE_TIMEOUT_MS = 600_000
MAX_LIFETIME_MS = 1_800_000
MIN_IDLE_TIMEOUT_MS = 10_000
MIN_LIFETIME_MS = 30_000
#: Keep a pool's mean utilization under this: waits grow steeply beyond (M/M/c queues).
TARGET_UTILIZATION = 0.8
#: Retire connections this long before the server's idle_session_timeout would cut them.
SERVER_TIMEOUT_MARGIN_MS = 30_000


def hikari_pool_size(cores: int, spindles: int) -> int:
    """HikariCP's ``connections = (core_count * 2) + effective_spindle_count``."""
    return cores * 2 + spindles


def effective_spindles(storage: str, disks: int, cache_hit_ratio: float | None) -> int:
    """The formula's effective spindle count.

    HikariCP: zero when the active data set is fully cached (we take a hit ratio of 99% or
    more), approaching the number of spindles as the hit rate falls. An SSD, NVMe or SAN
    volume has no seek to overlap with: it counts as one; spinning disks count each.
    """
    if cache_hit_ratio is not None and cache_hit_ratio >= 0.99:
        return 0
    return max(disks, 1) if storage == "hdd" else 1


@dataclass(frozen=True, slots=True)
class LittlesLaw:
    """``L = λ W``: arrival rate (statements/s), mean time in the database (s), and the mean
    number of statements executing at once."""

    arrival_rate: float
    mean_seconds: float
    concurrency: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape."""
        return {"arrival_rate_per_s": round(self.arrival_rate, 3),
                "mean_time_ms": round(self.mean_seconds * 1000, 3),
                "concurrency": round(self.concurrency, 3)}


def littles_law(calls: float, exec_ms: float, seconds: float) -> LittlesLaw | None:
    """λ = calls / seconds, W = exec time / calls, L = λ W (= exec time / seconds); None when
    the period or the calls are empty."""
    if seconds <= 0 or calls <= 0:
        return None
    rate = calls / seconds
    mean_s = exec_ms / 1000 / calls
    return LittlesLaw(rate, mean_s, rate * mean_s)


@dataclass(frozen=True, slots=True)
class PoolInputs:
    """What the pool advice is computed from."""

    cores: int | None = None
    spindles: int = 0
    app_instances: int = 1
    littles: LittlesLaw | None = None
    busy_sessions_mean: float | None = None
    """Sessions of the database active or idle in a transaction (holding a pooled connection),
    averaged over the samples of ``pg_stat_activity``."""
    busy_sessions_max: int | None = None
    open_sessions: int | None = None
    """Sessions of the database in any state when sampled."""
    max_connections: int | None = None
    reserved_connections: int = 3
    idle_session_timeout_ms: int = 0


@dataclass(frozen=True, slots=True)
class PoolAdvice:
    """The recommended ``spring.datasource.hikari.*`` values (per application instance), why,
    and the findings the cross-check raised."""

    keys: dict[str, int]
    reasons: dict[str, str]
    formula_size: int | None
    needed: int | None
    inputs: PoolInputs
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (report ``pool``)."""
        i = self.inputs
        return {
            "keys": self.keys, "reasons": self.reasons,
            "formula_size": self.formula_size, "needed_by_load": self.needed,
            "inputs": {"cores": i.cores, "effective_spindles": i.spindles,
                       "app_instances": i.app_instances,
                       "littles_law": None if i.littles is None else i.littles.to_dict(),
                       "busy_sessions_mean": i.busy_sessions_mean,
                       "busy_sessions_max": i.busy_sessions_max,
                       "open_sessions": i.open_sessions, "max_connections": i.max_connections,
                       "idle_session_timeout_ms": i.idle_session_timeout_ms},
        }

    def yaml(self) -> str:
        """The keys as an application.yml fragment."""
        lines = ["spring:", "  datasource:", "    hikari:"]
        lines += [f"      {k.removeprefix(HIKARI_PREFIX)}: {v}" for k, v in self.keys.items()]
        return "\n".join(lines)


def _busy(i: PoolInputs) -> float | None:
    """Mean busy connections: the larger of Little's L and the sampled sessions."""
    seen = [v for v in (i.littles.concurrency if i.littles else None, i.busy_sessions_mean)
            if v is not None]
    return max(seen) if seen else None


def _needed(busy: float | None, peak: int | None) -> int | None:
    """Connections for ``busy`` at the target utilization, and never fewer than the peak."""
    if not busy and not peak:
        return None
    return max(math.ceil((busy or 0.0) / TARGET_UTILIZATION), peak or 0, 1)


def advise_pool(i: PoolInputs) -> PoolAdvice:
    """Size the pool: the formula for the server, Little's law for the load; see docs/MATH.md."""
    instances = max(i.app_instances, 1)
    formula = hikari_pool_size(i.cores, i.spindles) if i.cores else None
    busy = _busy(i)
    needed = _needed(busy, i.busy_sessions_max)
    findings: list[Finding] = []
    if formula is not None:
        total = formula
        why = (f"({i.cores} cores x 2) + {i.spindles} effective spindle(s) = {formula} "
               "connections keep the server busy without queueing inside it")
    elif needed is not None:
        total = max(needed, 2)
        why = (f"core count unknown: sized for the measured load, {busy or 0.0:.2f} busy "
               f"connections at {TARGET_UTILIZATION:.0%} utilization (and the peak)")
    else:
        total = 10
        why = "neither the core count nor the load is known: HikariCP's default"
    per_instance = max(2, round(total / instances))
    if instances > 1:
        why += f", shared by {instances} application instances"
    if formula is not None and needed is not None and needed > formula:
        findings.append(Finding(
            "pool.saturated", "critical" if needed > 2 * formula else "warning",
            f"the load needs {needed} connections; the server does best with {formula}",
            {"busy_connections": round(busy or 0.0, 3), "needed": needed,
             "formula_size": formula, "cores": i.cores}, None,
            "A bigger pool would only move the queue into the database, where it costs "
            "context switches and lock contention. Make the statements cheaper (index advice) "
            "or give the server more cores."))
    if i.max_connections is not None:
        usable = i.max_connections - i.reserved_connections
        if per_instance * instances > usable:
            findings.append(Finding(
                "pool.max-connections", "critical",
                f"{instances} pool(s) of {per_instance} exceed the {usable} usable connections",
                {"pool_total": per_instance * instances, "max_connections": i.max_connections,
                 "superuser_reserved": i.reserved_connections}, None,
                "Connections beyond max_connections are refused: use fewer instances, smaller "
                "pools, or a pooler such as PgBouncer in front."))
    if formula is not None and i.open_sessions is not None and i.open_sessions > 2 * formula:
        findings.append(Finding(
            "pool.oversized", "info",
            f"{i.open_sessions} connections are open to the database; about {formula} would do",
            {"open_sessions": i.open_sessions, "busy_connections": round(busy or 0.0, 3),
             "formula_size": formula}, None,
            "Idle connections each hold server memory and make every snapshot more expensive."))
    if 0 < i.idle_session_timeout_ms < MIN_LIFETIME_MS + SERVER_TIMEOUT_MARGIN_MS:
        findings.append(Finding(
            "pool.idle-session-timeout", "warning",
            f"idle_session_timeout ({i.idle_session_timeout_ms} ms) is too short for a pool",
            {"idle_session_timeout_ms": i.idle_session_timeout_ms,
             "hikari_min_keepalive_ms": MIN_LIFETIME_MS}, None,
            "HikariCP cannot retire or ping idle connections that often (30 s at least): the "
            "server will cut pooled connections. Raise it for the application's role "
            "(ALTER ROLE ... SET idle_session_timeout) or turn it off there."))
    keys, reasons = _keys(per_instance, why, i.idle_session_timeout_ms)
    return PoolAdvice(keys, reasons, formula, needed, i, findings)


def _keys(size: int, why: str, idle_session_timeout_ms: int) -> tuple[dict[str, int],
                                                                       dict[str, str]]:
    p = HIKARI_PREFIX
    keys = {f"{p}maximum-pool-size": size, f"{p}minimum-idle": size,
            f"{p}connection-timeout": CONNECTION_TIMEOUT_MS,
            f"{p}idle-timeout": IDLE_TIMEOUT_MS, f"{p}max-lifetime": MAX_LIFETIME_MS}
    reasons = {
        f"{p}maximum-pool-size": why,
        f"{p}minimum-idle": "equal to maximum-pool-size, as HikariCP recommends: a fixed-size "
                            "pool answers bursts without opening connections",
        f"{p}connection-timeout": "HikariCP's default: how long a request waits for a "
                                  "connection before failing; keep it under the caller's own "
                                  "timeout",
        f"{p}idle-timeout": "HikariCP's default; it only retires connections above "
                            "minimum-idle, so a fixed-size pool ignores it",
        f"{p}max-lifetime": "HikariCP's default: connections are replaced before network "
                            "equipment or the server drop them",
    }
    if idle_session_timeout_ms > 0:
        cap = idle_session_timeout_ms - SERVER_TIMEOUT_MARGIN_MS
        lifetime = max(MIN_LIFETIME_MS, min(MAX_LIFETIME_MS, cap))
        idle = max(MIN_IDLE_TIMEOUT_MS, min(IDLE_TIMEOUT_MS, cap, lifetime - 1000))
        keepalive = max(MIN_LIFETIME_MS, min(idle_session_timeout_ms // 2, lifetime - 1000))
        note = (f"under the server's idle_session_timeout ({idle_session_timeout_ms} ms) less "
                f"{SERVER_TIMEOUT_MARGIN_MS} ms, so the server never cuts a pooled connection")
        keys[f"{p}max-lifetime"] = lifetime
        keys[f"{p}idle-timeout"] = idle
        keys[f"{p}keepalive-time"] = keepalive
        reasons[f"{p}max-lifetime"] = note
        reasons[f"{p}idle-timeout"] = note
        reasons[f"{p}keepalive-time"] = ("a ping on idle connections, well within the server's "
                                         "idle_session_timeout")
    return keys, reasons
