"""Tables: scans (sequential versus index), live and dead tuples, last vacuum and analyze; pure
rules for dead tuples, stale statistics and large tables read by sequential scans."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from intperf.dbopt.findings import Finding, Severity, Thresholds, format_bytes, qualified

__all__ = ["TableStats", "read_locked_relations", "read_tables", "table_findings"]

_TABLES_SQL = """/* intperf-dbopt */
SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind,
       coalesce(s.seq_scan, 0) AS seq_scan, coalesce(s.seq_tup_read, 0) AS seq_tup_read,
       coalesce(s.idx_scan, 0) AS idx_scan, coalesce(s.n_live_tup, 0) AS live,
       coalesce(s.n_dead_tup, 0) AS dead, coalesce(s.n_mod_since_analyze, 0) AS modified,
       coalesce(s.n_tup_ins, 0) AS inserts, coalesce(s.n_tup_upd, 0) AS updates,
       coalesce(s.n_tup_del, 0) AS deletes,
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
       coalesce(c.reloptions, '{}') AS reloptions,
       pg_catalog.pg_table_size(c.oid) AS table_bytes,
       pg_catalog.pg_indexes_size(c.oid) AS index_bytes,
       coalesce(io.heap_blks_hit, 0) AS heap_hit, coalesce(io.heap_blks_read, 0) AS heap_read
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_stat_all_tables s ON s.relid = c.oid
LEFT JOIN pg_catalog.pg_statio_all_tables io ON io.relid = c.oid
WHERE c.relkind IN ('r', 'm', 'p') AND c.oid::bigint <> ALL(%s::bigint[])
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
ORDER BY n.nspname, c.relname
"""


@dataclass(frozen=True, slots=True)
class TableStats:
    """A user table's activity since the statistics were reset, and its size."""

    schema: str
    name: str
    seq_scan: int = 0
    seq_tup_read: int = 0
    idx_scan: int = 0
    live: int = 0
    dead: int = 0
    modified: int = 0
    """Rows changed since the last analyze."""
    inserts: int = 0
    updates: int = 0
    deletes: int = 0
    last_vacuum: datetime | None = None
    last_autovacuum: datetime | None = None
    last_analyze: datetime | None = None
    last_autoanalyze: datetime | None = None
    table_bytes: int = 0
    index_bytes: int = 0
    heap_hit: int = 0
    heap_read: int = 0
    autovacuum_enabled: bool = True
    kind: str = "r"

    @property
    def qualified_name(self) -> str:
        """The table name for SQL."""
        return qualified(self.schema, self.name)

    @property
    def dead_ratio(self) -> float:
        """Dead tuples over all tuples (0 for an empty table)."""
        total = self.live + self.dead
        return self.dead / total if total else 0.0

    @property
    def last_vacuumed(self) -> datetime | None:
        """The later of the last manual and automatic vacuum."""
        return _latest(self.last_vacuum, self.last_autovacuum)

    @property
    def last_analyzed(self) -> datetime | None:
        """The later of the last manual and automatic analyze."""
        return _latest(self.last_analyze, self.last_autoanalyze)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (report ``tables``)."""
        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.isoformat()

        return {"table": f"{self.schema}.{self.name}", "seq_scan": self.seq_scan,
                "seq_tup_read": self.seq_tup_read, "idx_scan": self.idx_scan,
                "live_tuples": self.live, "dead_tuples": self.dead,
                "dead_ratio": round(self.dead_ratio, 4), "modified_since_analyze": self.modified,
                "last_vacuum": iso(self.last_vacuumed), "last_analyze": iso(self.last_analyzed),
                "table_bytes": self.table_bytes, "index_bytes": self.index_bytes,
                "autovacuum_enabled": self.autovacuum_enabled}


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def _autovacuum_enabled(reloptions: Sequence[str]) -> bool:
    return not any(o.lower() in ("autovacuum_enabled=false", "autovacuum_enabled=off",
                                 "autovacuum_enabled=0") for o in reloptions)


def read_locked_relations(conn: psycopg.Connection[Any]) -> dict[int, str]:
    """Relations of this database another session holds ACCESS EXCLUSIVE (a migration, a
    VACUUM FULL): oid -> "schema.name (pid N)". Size functions would wait for them."""
    rows = conn.execute(
        "/* intperf-dbopt */ SELECT DISTINCT l.relation::bigint, n.nspname || '.' || c.relname,"
        " l.pid FROM pg_catalog.pg_locks l"
        " JOIN pg_catalog.pg_class c ON c.oid = l.relation"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' AND l.granted"
        " AND l.pid <> pg_catalog.pg_backend_pid() AND l.database = (SELECT d.oid FROM"
        " pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())").fetchall()
    return {int(oid): f"{name} (pid {pid})" for oid, name, pid in rows}


def read_tables(conn: psycopg.Connection[Any], *, exclude: Collection[int] = ()
                ) -> list[TableStats]:
    """Every user table (and materialized view) with its activity and size, but the relations
    in ``exclude`` (oids: locked ones)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_TABLES_SQL, (list(exclude),)).fetchall()
    return [TableStats(
        schema=r["schema"], name=r["name"], seq_scan=int(r["seq_scan"]),
        seq_tup_read=int(r["seq_tup_read"]), idx_scan=int(r["idx_scan"]), live=int(r["live"]),
        dead=int(r["dead"]), modified=int(r["modified"]), inserts=int(r["inserts"]),
        updates=int(r["updates"]), deletes=int(r["deletes"]), last_vacuum=r["last_vacuum"],
        last_autovacuum=r["last_autovacuum"], last_analyze=r["last_analyze"],
        last_autoanalyze=r["last_autoanalyze"], table_bytes=int(r["table_bytes"] or 0),
        index_bytes=int(r["index_bytes"] or 0), heap_hit=int(r["heap_hit"]),
        heap_read=int(r["heap_read"]), autovacuum_enabled=_autovacuum_enabled(r["reloptions"]),
        kind=str(r["kind"])) for r in rows]


def table_findings(tables: Sequence[TableStats], *, thresholds: Thresholds) -> list[Finding]:
    """Dead tuples, stale or missing statistics, large tables read by sequential scans."""
    out: list[Finding] = []
    for t in tables:
        if t.kind == "p":  # a partitioned parent has no rows of its own
            continue
        dead = _dead_tuples(t, thresholds)
        if dead is not None:
            out.append(dead)
        else:
            stale = _stale_statistics(t, thresholds)
            if stale is not None:
                out.append(stale)
        seq = _seq_scans(t, thresholds)
        if seq is not None:
            out.append(seq)
    return out


def _evidence(t: TableStats) -> dict[str, Any]:
    return {"table": f"{t.schema}.{t.name}", "live_tuples": t.live, "dead_tuples": t.dead,
            "table_bytes": t.table_bytes,
            "last_vacuum": None if t.last_vacuumed is None else t.last_vacuumed.isoformat(),
            "last_analyze": None if t.last_analyzed is None else t.last_analyzed.isoformat(),
            "autovacuum_enabled": t.autovacuum_enabled}


def _dead_tuples(t: TableStats, th: Thresholds) -> Finding | None:
    ratio = t.dead_ratio
    if t.dead < th.dead_min_tuples or ratio < th.dead_ratio:
        return None
    severity: Severity = "critical" if ratio >= th.dead_critical_ratio else "warning"
    detail = ("Dead row versions make scans read more pages and indexes larger; VACUUM makes "
              "their space reusable.")
    if not t.autovacuum_enabled:
        detail += (" Autovacuum is disabled for this table: ALTER TABLE "
                   f"{t.qualified_name} RESET (autovacuum_enabled); lets it run again.")
    return Finding("table.dead-tuples", severity,
                   f"table {t.schema}.{t.name} is {ratio:.0%} dead tuples ({t.dead:,} dead)",
                   {**_evidence(t), "dead_ratio": round(ratio, 4)},
                   f"VACUUM (ANALYZE) {t.qualified_name};", detail)


def _stale_statistics(t: TableStats, th: Thresholds) -> Finding | None:
    rows = max(t.live, t.modified)
    if t.last_analyzed is None and rows >= th.dead_min_tuples:
        return Finding("table.stale-statistics", "warning",
                       f"table {t.schema}.{t.name} has never been analyzed",
                       {**_evidence(t), "modified_since_analyze": t.modified},
                       f"ANALYZE {t.qualified_name};",
                       "Without statistics the planner guesses row counts and can pick bad "
                       "plans.")
    if (t.last_analyzed is not None and t.modified >= th.dead_min_tuples
            and t.modified >= th.stale_stats_ratio * max(t.live, 1)):
        return Finding("table.stale-statistics", "info",
                       f"table {t.schema}.{t.name} changed {t.modified:,} rows since its last "
                       "analyze",
                       {**_evidence(t), "modified_since_analyze": t.modified},
                       f"ANALYZE {t.qualified_name};",
                       "The planner's row estimates drift as the data changes.")
    return None


def _seq_scans(t: TableStats, th: Thresholds) -> Finding | None:
    if (t.live < th.seq_scan_min_rows or t.seq_scan < th.seq_scan_min_scans
            or t.seq_scan <= t.idx_scan):
        return None
    per_scan = t.seq_tup_read / t.seq_scan if t.seq_scan else 0.0
    return Finding("table.seq-scans", "warning",
                   f"table {t.schema}.{t.name} ({format_bytes(t.table_bytes)}) is read by "
                   f"{t.seq_scan:,} sequential scans",
                   {**_evidence(t), "seq_scan": t.seq_scan, "idx_scan": t.idx_scan,
                    "seq_tup_read": t.seq_tup_read, "rows_per_seq_scan": round(per_scan, 1)},
                   None,
                   "Each sequential scan reads the whole table. The index advice names the "
                   "statements behind them and the indexes that would serve them.")
