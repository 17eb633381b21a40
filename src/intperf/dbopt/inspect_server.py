"""The server as a whole: version, relevant settings, database statistics (cache hit ratio,
temporary files), checkpoints, connection states; pure rules for cache and connections."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from intperf.dbopt.findings import Finding, Severity, Thresholds, quote_literal

__all__ = [
    "RELEVANT_SETTINGS",
    "Activity",
    "DatabaseStats",
    "ServerInfo",
    "Setting",
    "cache_findings",
    "connection_findings",
    "read_activity",
    "read_database_stats",
    "read_server",
    "read_settings",
    "setting_bytes",
]

#: Settings the report shows and the tuning advice reasons about.
RELEVANT_SETTINGS = (
    "max_connections", "superuser_reserved_connections", "shared_buffers",
    "effective_cache_size", "work_mem", "maintenance_work_mem", "huge_pages", "wal_buffers",
    "min_wal_size", "max_wal_size", "checkpoint_timeout", "checkpoint_completion_target",
    "default_statistics_target", "random_page_cost", "seq_page_cost",
    "effective_io_concurrency", "max_worker_processes", "max_parallel_workers",
    "max_parallel_workers_per_gather", "max_parallel_maintenance_workers", "jit", "autovacuum",
    "autovacuum_max_workers", "autovacuum_naptime", "autovacuum_vacuum_scale_factor",
    "autovacuum_analyze_scale_factor", "track_io_timing", "track_counts", "statement_timeout",
    "lock_timeout", "idle_in_transaction_session_timeout", "idle_session_timeout",
    "log_min_duration_statement", "log_temp_files", "shared_preload_libraries",
    "pg_stat_statements.max", "pg_stat_statements.track", "block_size",
)

_UNIT_BYTES = {"B": 1, "kB": 1024, "8kB": 8192, "16kB": 16384, "32kB": 32768, "MB": 1024**2,
               "GB": 1024**3, "TB": 1024**4}


def setting_bytes(setting: str, unit: str | None) -> int | None:
    """A memory setting in bytes from ``pg_settings`` (``setting`` in ``unit``); None when it is
    not a memory amount (or -1, "use the default")."""
    if unit not in _UNIT_BYTES:
        return None
    try:
        value = int(float(setting))
    except ValueError:
        return None
    return None if value < 0 else value * _UNIT_BYTES[unit]


@dataclass(frozen=True, slots=True)
class Setting:
    """One row of ``pg_settings``."""

    name: str
    setting: str
    unit: str | None = None
    context: str = "user"
    """``postmaster``: a restart applies it; ``sighup``: a reload."""
    source: str = "default"
    pending_restart: bool = False

    @property
    def bytes(self) -> int | None:
        """The value in bytes for memory settings."""
        return setting_bytes(self.setting, self.unit)

    @property
    def number(self) -> float | None:
        """The value as a number when it is one."""
        try:
            return float(self.setting)
        except ValueError:
            return None

    @property
    def display(self) -> str:
        """The value with its unit, as SHOW would say it (memory in whole units)."""
        n = self.bytes
        if n is not None:
            for name, size in (("GB", 1024**3), ("MB", 1024**2), ("kB", 1024)):
                if n >= size and n % size == 0:
                    return f"{n // size}{name}"
            return f"{n}B"
        return f"{self.setting}{self.unit or ''}" if self.unit in ("ms", "s", "min") \
            else self.setting

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (report ``server.settings``)."""
        return {"value": self.display, "setting": self.setting, "unit": self.unit,
                "context": self.context, "source": self.source,
                "pending_restart": self.pending_restart}


def read_settings(conn: psycopg.Connection[Any], names: Sequence[str] = RELEVANT_SETTINGS
                  ) -> dict[str, Setting]:
    """The named settings as the server has them now."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "/* intperf-dbopt */ SELECT name, setting, unit, context, source, pending_restart"
            " FROM pg_catalog.pg_settings WHERE name = ANY(%s)", (list(names),)).fetchall()
    return {r["name"]: Setting(r["name"], str(r["setting"]), r["unit"], r["context"],
                               r["source"], bool(r["pending_restart"])) for r in rows}


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """Who and where: version, database, role, statistics age."""

    version: str
    version_num: int
    database: str
    user: str
    superuser: bool = False
    reads_all_stats: bool = False
    in_recovery: bool = False
    started_at: datetime | None = None
    stats_reset: datetime | None = None
    now: datetime | None = None
    database_bytes: int = 0
    sixty_four_bit: bool = True

    @property
    def stats_age_days(self) -> float | None:
        """Days since the database's statistics were reset (or the server started, when they
        never were): how long an index had to be scanned."""
        since = self.stats_reset or self.started_at
        if since is None or self.now is None:
            return None
        return max((self.now - since).total_seconds(), 0.0) / 86400.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (report ``server``)."""
        return {"version": self.version, "version_num": self.version_num,
                "database": self.database, "user": self.user, "superuser": self.superuser,
                "reads_all_stats": self.reads_all_stats, "in_recovery": self.in_recovery,
                "started_at": None if self.started_at is None else self.started_at.isoformat(),
                "stats_reset": None if self.stats_reset is None else self.stats_reset.isoformat(),
                "stats_age_days": None if self.stats_age_days is None
                else round(self.stats_age_days, 3), "database_bytes": self.database_bytes}


def read_server(conn: psycopg.Connection[Any]) -> ServerInfo:
    """Version, database, role and statistics age."""
    with conn.cursor(row_factory=dict_row) as cur:
        r = cur.execute("""/* intperf-dbopt */
            SELECT pg_catalog.current_setting('server_version') AS version,
                   pg_catalog.current_setting('server_version_num')::int AS version_num,
                   pg_catalog.current_database() AS database, current_user AS usr,
                   coalesce((SELECT rolsuper FROM pg_catalog.pg_roles
                             WHERE rolname = current_user), false) AS superuser,
                   pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')
                     AS reads_all_stats,
                   pg_catalog.pg_is_in_recovery() AS in_recovery,
                   pg_catalog.pg_postmaster_start_time() AS started_at,
                   (SELECT d.stats_reset FROM pg_catalog.pg_stat_database d
                     WHERE d.datname = pg_catalog.current_database()) AS stats_reset,
                   pg_catalog.now() AS now,
                   pg_catalog.pg_database_size(pg_catalog.current_database()) AS db_bytes,
                   pg_catalog.version() ~ '64-bit|x86_64|aarch64|ppc64|amd64' AS sixty_four
        """).fetchone()
    assert r is not None
    return ServerInfo(str(r["version"]), int(r["version_num"]), str(r["database"]),
                      str(r["usr"]), bool(r["superuser"]), bool(r["reads_all_stats"]),
                      bool(r["in_recovery"]), r["started_at"], r["stats_reset"], r["now"],
                      int(r["db_bytes"] or 0), bool(r["sixty_four"]))


@dataclass(frozen=True, slots=True)
class DatabaseStats:
    """``pg_stat_database`` of the connected database and ``pg_stat_bgwriter``."""

    blks_hit: int = 0
    blks_read: int = 0
    temp_files: int = 0
    temp_bytes: int = 0
    xact_commit: int = 0
    xact_rollback: int = 0
    deadlocks: int = 0
    checkpoints_timed: int = 0
    checkpoints_req: int = 0

    @property
    def hit_ratio(self) -> float | None:
        """Shared-buffer hits over block requests (None before any request)."""
        total = self.blks_hit + self.blks_read
        return self.blks_hit / total if total else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (report ``server.database_stats``)."""
        ratio = self.hit_ratio
        return {"blks_hit": self.blks_hit, "blks_read": self.blks_read,
                "cache_hit_ratio": None if ratio is None else round(ratio, 5),
                "temp_files": self.temp_files, "temp_bytes": self.temp_bytes,
                "xact_commit": self.xact_commit, "xact_rollback": self.xact_rollback,
                "deadlocks": self.deadlocks, "checkpoints_timed": self.checkpoints_timed,
                "checkpoints_req": self.checkpoints_req}


def read_database_stats(conn: psycopg.Connection[Any]) -> DatabaseStats:
    """Block hits and reads, temporary files and checkpoints."""
    with conn.cursor(row_factory=dict_row) as cur:
        r = cur.execute("""/* intperf-dbopt */
            SELECT d.blks_hit, d.blks_read, d.temp_files, d.temp_bytes, d.xact_commit,
                   d.xact_rollback, d.deadlocks, b.checkpoints_timed, b.checkpoints_req
            FROM pg_catalog.pg_stat_database d, pg_catalog.pg_stat_bgwriter b
            WHERE d.datname = pg_catalog.current_database()
        """).fetchone()
    if r is None:
        return DatabaseStats()
    return DatabaseStats(**{k: int(v or 0) for k, v in r.items()})


@dataclass(frozen=True, slots=True)
class Activity:
    """Client sessions by state (all databases, and this one), long idle transactions."""

    states: dict[str, int] = field(default_factory=dict)
    """State -> sessions on the whole server (``unknown``: another role's, not visible)."""
    database_states: dict[str, int] = field(default_factory=dict)
    idle_in_transaction: list[dict[str, Any]] = field(default_factory=list)
    """Sessions idle in a transaction, longest first: pid, user, application, seconds."""

    @property
    def total(self) -> int:
        """Client sessions on the server."""
        return sum(self.states.values())

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (report ``connections``)."""
        return {"total": self.total, "states": self.states,
                "database_states": self.database_states,
                "idle_in_transaction": self.idle_in_transaction}


def read_activity(conn: psycopg.Connection[Any]) -> Activity:
    """Client sessions other than ours from ``pg_stat_activity``."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("""/* intperf-dbopt */
            SELECT a.pid, a.datname, a.usename, a.application_name,
                   coalesce(a.state, 'unknown') AS state,
                   extract(epoch FROM pg_catalog.clock_timestamp() - a.state_change)::float8
                     AS in_state_s,
                   a.datname = pg_catalog.current_database() AS here
            FROM pg_catalog.pg_stat_activity a
            WHERE a.backend_type = 'client backend' AND a.pid <> pg_catalog.pg_backend_pid()
        """).fetchall()
    return summarize_activity(rows)


def summarize_activity(rows: Sequence[Mapping[str, Any]]) -> Activity:
    """Group ``pg_stat_activity`` rows (pure)."""
    states = Counter(str(r["state"]) for r in rows)
    here = Counter(str(r["state"]) for r in rows if r.get("here"))
    idle_tx = sorted(
        ({"pid": r["pid"], "user": r.get("usename"), "application": r.get("application_name"),
          "database": r.get("datname"), "seconds": round(float(r.get("in_state_s") or 0.0), 1)}
         for r in rows if str(r["state"]).startswith("idle in transaction")),
        key=lambda d: -float(d["seconds"]))
    return Activity(dict(states), dict(here), idle_tx)


def cache_findings(stats: DatabaseStats, *, workload_type: str, thresholds: Thresholds,
                   shared_buffers: Setting | None = None) -> list[Finding]:
    """Cache hit ratio of the database against the workload's thresholds."""
    ratio = stats.hit_ratio
    requested = stats.blks_hit + stats.blks_read
    if ratio is None or requested < thresholds.cache_min_blocks:
        return []
    dw = workload_type == "dw"
    warn = thresholds.dw_cache_warning if dw else thresholds.cache_warning
    crit = thresholds.dw_cache_critical if dw else thresholds.cache_critical
    if ratio >= warn:
        return []
    severity: Severity = "critical" if ratio < crit else "warning"
    evidence: dict[str, Any] = {"cache_hit_ratio": round(ratio, 5), "blks_hit": stats.blks_hit,
                                "blks_read": stats.blks_read, "threshold": warn}
    if shared_buffers is not None:
        evidence["shared_buffers"] = shared_buffers.display
    return [Finding(
        "cache.hit-ratio", severity,
        f"cache hit ratio {ratio:.2%} is below {warn:.0%}", evidence, None,
        "Reads that miss shared buffers go to the OS cache or the disk. The tuning section "
        "says whether shared_buffers can grow; otherwise the working set outgrew memory, and "
        "indexes that cut the reads of the top statements (by shared blocks read) help most.")]


def connection_findings(activity: Activity, settings: Mapping[str, Setting], *,
                        thresholds: Thresholds) -> list[Finding]:
    """Sessions near max_connections; sessions idle in a transaction for too long."""
    out: list[Finding] = []
    max_conn = settings.get("max_connections")
    reserved = settings.get("superuser_reserved_connections")
    if max_conn is not None and max_conn.number:
        usable = max_conn.number - (reserved.number or 0 if reserved else 0)
        if usable > 0 and activity.total >= thresholds.connections_ratio * usable:
            out.append(Finding(
                "connections.near-limit", "warning",
                f"{activity.total} of {int(usable)} usable connections are open",
                {"open": activity.total, "max_connections": int(max_conn.number),
                 "superuser_reserved": int(reserved.number or 0) if reserved else 0,
                 "states": activity.states},
                None,
                "New connections will be refused soon. Size the application pools with the "
                "pool advice (a few busy connections beat many idle ones) or add a pooler."))
    long_idle = [s for s in activity.idle_in_transaction
                 if float(s["seconds"]) >= thresholds.idle_in_transaction_s]
    if long_idle:
        timeout = settings.get("idle_in_transaction_session_timeout")
        fix = None
        if timeout is None or (timeout.number or 0) == 0:
            fix = ("ALTER SYSTEM SET idle_in_transaction_session_timeout = "
                   f"{quote_literal(f'{int(thresholds.idle_in_transaction_s)}s')}; "
                   "SELECT pg_reload_conf();")
        out.append(Finding(
            "connections.idle-in-transaction", "warning",
            f"{len(long_idle)} session(s) idle in a transaction for over "
            f"{thresholds.idle_in_transaction_s:g} s",
            {"sessions": long_idle[:10]}, fix,
            "An open transaction holds its locks and keeps VACUUM from removing rows dead since "
            "it began. Fix the application path that forgets to commit; the timeout is a "
            "safety net."))
    return out
