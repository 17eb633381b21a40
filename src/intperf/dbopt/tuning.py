"""Memory and planner settings in the style of PGTune (le0pard/pgtune: its formulas by workload
type and machine), then corrected by evidence from the server. Pure; docs/dbopt.md, "Tuning".

Evidence beats the formula: temporary-file spills raise ``work_mem`` to what the spilling
statements need (within the memory budget), a low cache hit ratio makes a small
``shared_buffers`` a warning, requested checkpoints outnumbering timed ones raise
``max_wal_size``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from intperf.dbopt.findings import Finding, Severity, format_bytes, quote_literal
from intperf.dbopt.inspect_server import Setting

__all__ = [
    "STORAGE_TYPES",
    "WORKLOAD_TYPES",
    "Machine",
    "Recommendation",
    "SettingAdvice",
    "TuningEvidence",
    "format_memory",
    "parse_size",
    "pgtune",
    "round_memory",
    "tuning_advice",
]

WORKLOAD_TYPES = ("web", "oltp", "dw", "desktop", "mixed")
STORAGE_TYPES = ("ssd", "hdd", "san", "nvme")
KB, MB, GB = 1024, 1024**2, 1024**3
#: PGTune's max_connections per workload type, used when the server's is unknown.
DEFAULT_CONNECTIONS = {"web": 200, "oltp": 300, "dw": 40, "desktop": 20, "mixed": 100}


@dataclass(frozen=True, slots=True)
class Machine:
    """The database server's size; ``source`` says where the numbers come from."""

    memory_bytes: int | None = None
    cores: int | None = None
    storage: str = "ssd"
    source: str = "options"
    """``options`` (given), ``server`` (read through the server), ``local`` (this machine, the
    target being on loopback) or ``unknown``."""
    storage_assumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (report ``tuning.machine``)."""
        return {"memory_bytes": self.memory_bytes, "cores": self.cores,
                "storage": self.storage, "source": self.source,
                "storage_assumed": self.storage_assumed}


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A setting's recommended value: ``value`` as written in ALTER SYSTEM, ``amount`` in
    bytes for memory, the number for numeric settings, None otherwise."""

    name: str
    value: str
    amount: float | None
    reason: str
    evidence_based: bool = False


def format_memory(n: float) -> str:
    """Bytes as PGTune writes them: whole GB, else whole MB, else kB."""
    kb = int(n // KB)
    if kb % (1024 * 1024) == 0 and kb:
        return f"{kb // (1024 * 1024)}GB"
    if kb % 1024 == 0 and kb:
        return f"{kb // 1024}MB"
    return f"{kb}kB"


def round_memory(n: float) -> int:
    """Bytes rounded down to whole MB from 16MB on (whole kB below), so values read well."""
    return int(n // MB * MB) if n >= 16 * MB else int(n // KB * KB)


def _mem(name: str, kb: float, reason: str) -> Recommendation:
    n = round_memory(kb * KB)
    return Recommendation(name, format_memory(n), float(n), reason)


def _num(name: str, value: float, reason: str) -> Recommendation:
    text = f"{value:g}"
    return Recommendation(name, text, float(value), reason)


def pgtune(machine: Machine, workload_type: str, *, max_connections: int | None = None,
           version_num: int = 150000) -> dict[str, Recommendation]:
    """PGTune's recommendations for ``machine`` and the workload type (Linux)."""
    wt = workload_type if workload_type in WORKLOAD_TYPES else "web"
    out: dict[str, Recommendation] = {}
    storage = machine.storage if machine.storage in STORAGE_TYPES else "ssd"
    rpc = 4.0 if storage == "hdd" else 1.1
    out["random_page_cost"] = _num("random_page_cost", rpc,
                                   f"{storage}: random reads cost about as much as sequential "
                                   "ones" if rpc < 4 else "hdd: seeks make random reads dear")
    eic = {"hdd": 2, "ssd": 200, "san": 300, "nvme": 1000}[storage]
    out["effective_io_concurrency"] = _num("effective_io_concurrency", eic,
                                           f"{storage} serves many concurrent reads")
    out["checkpoint_completion_target"] = _num("checkpoint_completion_target", 0.9,
                                               "spread checkpoint writes over the interval")
    out["default_statistics_target"] = _num(
        "default_statistics_target", 500 if wt == "dw" else 100,
        "analytical queries gain from finer statistics" if wt == "dw" else "the default")
    min_wal = {"web": 1024, "oltp": 2048, "dw": 4096, "desktop": 100, "mixed": 1024}[wt]
    max_wal = {"web": 4096, "oltp": 8192, "dw": 16384, "desktop": 2048, "mixed": 4096}[wt]
    out["min_wal_size"] = _mem("min_wal_size", min_wal * 1024, f"PGTune for {wt}")
    out["max_wal_size"] = _mem("max_wal_size", max_wal * 1024,
                               f"PGTune for {wt}: fewer forced checkpoints")
    if wt in ("web", "oltp", "mixed") and version_num >= 120000:
        out["jit"] = Recommendation("jit", "off", None,
                                    "JIT compilation slows short queries down")
    workers = 8  # PostgreSQL's default max_worker_processes
    cores = machine.cores
    if cores is not None and cores >= 4:
        per_gather = math.ceil(cores / 2)
        if wt != "dw":
            per_gather = min(per_gather, 4)
        workers = cores
        out["max_worker_processes"] = _num("max_worker_processes", cores, f"{cores} cores")
        out["max_parallel_workers_per_gather"] = _num(
            "max_parallel_workers_per_gather", per_gather, "half the cores, at most 4"
            if wt != "dw" else "half the cores")
        out["max_parallel_workers"] = _num("max_parallel_workers", cores, f"{cores} cores")
        out["max_parallel_maintenance_workers"] = _num(
            "max_parallel_maintenance_workers", min(math.ceil(cores / 2), 4),
            "half the cores, at most 4")
    if machine.memory_bytes is None:
        return out
    total_kb = machine.memory_bytes / KB
    sb_kb = math.floor(total_kb / (16 if wt == "desktop" else 4))
    ram = format_bytes(machine.memory_bytes)
    out["shared_buffers"] = _mem("shared_buffers", sb_kb,
                                 f"{'1/16' if wt == 'desktop' else '1/4'} of {ram} RAM")
    out["huge_pages"] = Recommendation(
        "huge_pages", "try" if sb_kb >= 2 * 1024 * 1024 else "off", None,
        "shared_buffers of 2GB or more gain from huge pages" if sb_kb >= 2 * 1024 * 1024
        else "shared_buffers under 2GB")
    out["effective_cache_size"] = _mem(
        "effective_cache_size", math.floor(total_kb / 4 if wt == "desktop" else total_kb * 3 / 4),
        f"{'1/4' if wt == 'desktop' else '3/4'} of {ram}: what the OS cache and shared "
        "buffers hold together")
    mwm = math.floor(total_kb / (8 if wt == "dw" else 16))
    out["maintenance_work_mem"] = _mem("maintenance_work_mem", min(mwm, 8 * 1024 * 1024),
                                       f"1/{8 if wt == 'dw' else 16} of RAM, at most 8GB")
    wal_kb = math.floor(3 * sb_kb / 100)
    wal_kb = min(wal_kb, 16 * 1024)
    if 14 * 1024 < wal_kb < 16 * 1024:
        wal_kb = 16 * 1024
    out["wal_buffers"] = _mem("wal_buffers", max(wal_kb, 32), "3% of shared_buffers, at most "
                              "16MB")
    conns = max_connections or DEFAULT_CONNECTIONS[wt]
    wm = (total_kb - sb_kb) / ((conns + workers) * 3)
    wm /= {"web": 1, "oltp": 1, "dw": 2, "desktop": 6, "mixed": 2}[wt]
    out["work_mem"] = _mem("work_mem", max(math.floor(wm), 4 * 1024),
                           f"(RAM - shared_buffers) / (3 x ({conns} connections + {workers} "
                           f"workers)){' / 2' if wt in ('dw', 'mixed') else ''}, at least 4MB")
    return out


@dataclass(frozen=True, slots=True)
class TuningEvidence:
    """What the server showed that bears on the settings."""

    spill_work_mem: int = 0
    """The work_mem (bytes) the worst temporary-file spill needs (0: no spills)."""
    spilling_statements: int = 0
    cache_hit_ratio: float | None = None
    cache_low: bool = False
    checkpoints_timed: int = 0
    checkpoints_req: int = 0


@dataclass(frozen=True, slots=True)
class SettingAdvice:
    """One row of the tuning table: current and recommended value and why."""

    name: str
    current: str | None
    recommended: str
    reason: str
    restart: bool = False
    severity: Severity | None = None
    """The finding's severity, or None when the difference does not deserve one."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (report ``tuning.settings[]``)."""
        return {"name": self.name, "current": self.current, "recommended": self.recommended,
                "reason": self.reason, "restart": self.restart, "severity": self.severity}


def _current_amount(s: Setting) -> float | None:
    return float(s.bytes) if s.bytes is not None else s.number


def _apply_evidence(recs: dict[str, Recommendation], ev: TuningEvidence,
                    settings: Mapping[str, Setting], machine: Machine, workers: int
                    ) -> None:
    if ev.spill_work_mem:
        base = recs.get("work_mem")
        need = float(ev.spill_work_mem)
        value = need
        note = (f"{ev.spilling_statements} statement(s) spill to temporary files; the worst "
                f"needs about {format_memory(need)}")
        sb = recs.get("shared_buffers")
        conns = settings["max_connections"].number if "max_connections" in settings else None
        if machine.memory_bytes is not None and sb is not None and sb.amount and conns:
            # One such operation per connection at once must still fit next to shared_buffers.
            budget = (machine.memory_bytes - sb.amount) / (conns + workers)
            if need > budget:
                value = max(budget, base.amount or 0.0) if base else budget
                note += (f", more than the memory budget of {format_memory(budget)} per "
                         "connection: raise it only for the statements that spill (SET LOCAL)")
        value = float(round_memory(value))
        if base is None or value > (base.amount or 0.0):
            recs["work_mem"] = Recommendation("work_mem", format_memory(value), value, note,
                                              evidence_based=True)
    if ev.cache_low and "shared_buffers" in recs:
        r = recs["shared_buffers"]
        recs["shared_buffers"] = Recommendation(
            r.name, r.value, r.amount,
            f"{r.reason}; the cache hit ratio is {ev.cache_hit_ratio:.2%}", evidence_based=True)
    total = ev.checkpoints_req + ev.checkpoints_timed
    current = settings.get("max_wal_size")
    if total >= 10 and ev.checkpoints_req > ev.checkpoints_timed and current is not None \
            and current.bytes:
        base = recs.get("max_wal_size")
        value = float(round_memory(max(current.bytes * 2, base.amount or 0.0 if base else 0.0)))
        recs["max_wal_size"] = Recommendation(
            "max_wal_size", format_memory(value), value,
            f"{ev.checkpoints_req} checkpoints were forced by WAL volume against "
            f"{ev.checkpoints_timed} timed ones", evidence_based=True)


def _severity(name: str, rec: Recommendation, cur: Setting, machine: Machine
              ) -> Severity | None:
    cur_amount = _current_amount(cur)
    if rec.amount is None or cur_amount is None:
        return None if cur.setting == rec.value else "info"
    if math.isclose(cur_amount, rec.amount, rel_tol=0.1):
        return None
    if rec.evidence_based and cur_amount < rec.amount:
        return "warning"
    if name == "shared_buffers" and machine.memory_bytes and \
            cur_amount > 0.4 * machine.memory_bytes:
        return "warning"
    if name in ("shared_buffers", "effective_cache_size", "work_mem", "maintenance_work_mem",
                "wal_buffers", "min_wal_size", "max_wal_size"):
        ratio = cur_amount / rec.amount if rec.amount else 0.0
        return "info" if ratio < 0.5 or ratio > 2 else None
    return "info"


def tuning_advice(settings: Mapping[str, Setting], machine: Machine, workload_type: str, *,
                  evidence: TuningEvidence, version_num: int = 150000
                  ) -> tuple[list[SettingAdvice], list[Finding]]:
    """The tuning table (every recommended setting with its current value) and a finding for
    each difference that deserves one."""
    conns = settings.get("max_connections")
    recs = pgtune(machine, workload_type, version_num=version_num,
                  max_connections=int(conns.number) if conns and conns.number else None)
    workers = machine.cores if machine.cores is not None and machine.cores >= 4 else 8
    _apply_evidence(recs, evidence, settings, machine, workers)
    rows: list[SettingAdvice] = []
    findings: list[Finding] = []
    for name, rec in recs.items():
        cur = settings.get(name)
        severity = _severity(name, rec, cur, machine) if cur is not None else None
        restart = cur is not None and cur.context == "postmaster"
        row = SettingAdvice(name, None if cur is None else cur.display, rec.value, rec.reason,
                            restart, severity)
        rows.append(row)
        if severity is not None:
            findings.append(_finding(row, rec))
    findings.extend(_other_findings(settings))
    return rows, findings


def _alter(name: str, value: str, restart: bool) -> str:
    sql = f"ALTER SYSTEM SET {name} = {quote_literal(value)};"
    return sql if restart else f"{sql} SELECT pg_reload_conf();"


def _finding(row: SettingAdvice, rec: Recommendation) -> Finding:
    detail = rec.reason + (". Takes effect after a restart." if row.restart else ".")
    return Finding(f"setting.{row.name}", row.severity or "info",
                   f"{row.name} is {row.current}, recommended {row.recommended}",
                   {"setting": row.name, "current": row.current, "recommended": row.recommended,
                    "evidence_based": rec.evidence_based, "restart": row.restart},
                   _alter(row.name, row.recommended, row.restart), detail)


def _other_findings(settings: Mapping[str, Setting]) -> Sequence[Finding]:
    out: list[Finding] = []
    av = settings.get("autovacuum")
    if av is not None and av.setting == "off":
        out.append(Finding("setting.autovacuum", "critical", "autovacuum is off",
                           {"setting": "autovacuum", "current": "off", "recommended": "on"},
                           _alter("autovacuum", "on", False),
                           "Without it dead rows pile up and transaction IDs wrap around."))
    io = settings.get("track_io_timing")
    if io is not None and io.setting == "off":
        out.append(Finding("setting.track_io_timing", "info", "track_io_timing is off",
                           {"setting": "track_io_timing", "current": "off", "recommended": "on"},
                           _alter("track_io_timing", "on", False),
                           "With it pg_stat_statements records time spent reading blocks; its "
                           "cost is small on modern clocks (check with pg_test_timing)."))
    return out


_SIZE_UNITS = {"": 1, "b": 1, "k": KB, "kb": KB, "m": MB, "mb": MB, "g": GB, "gb": GB,
               "t": 1024**4, "tb": 1024**4}


def parse_size(text: str | int) -> int:
    """``500MB``, ``8GB``, ``1.5GB``, ``512kB`` or a number of bytes -> bytes (1024-based, as
    PostgreSQL counts); ValueError when it is not one."""
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"{text}: a size cannot be negative")
        return text
    raw = text.strip()
    number = raw.rstrip("bBkKmMgGtT ")
    unit = raw[len(number):].strip().lower()
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{text!r} is not a size such as 500MB or 8GB") from None
    if unit not in _SIZE_UNITS or value < 0 or not math.isfinite(value):
        raise ValueError(f"{text!r} is not a size such as 500MB or 8GB")
    return int(value * _SIZE_UNITS[unit])
