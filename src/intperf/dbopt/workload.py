"""The workload of the connected database as ``pg_stat_statements`` saw it: :class:`Statement`,
:func:`read_workload` and the totals used by Little's law (docs/MATH.md)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from intperf.dbopt.connection import MARKER
from intperf.errors import TargetDatabaseError

__all__ = [
    "WORKLOAD_MEASURES",
    "LoadSample",
    "Statement",
    "WorkloadTotals",
    "is_dml",
    "pgss_schema",
    "read_statements",
    "read_totals",
    "read_workload",
    "sample_load",
    "statements_period_s",
    "top_statements",
]


@dataclass(frozen=True, slots=True)
class Statement:
    """One normalized statement of ``pg_stat_statements`` (times in milliseconds)."""

    queryid: int
    query: str
    calls: int
    total_ms: float
    mean_ms: float
    rows: int
    shared_blks_hit: int
    shared_blks_read: int
    temp_blks_written: int
    dbname: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (report ``statements``)."""
        return {"queryid": self.queryid, "query": self.query, "calls": self.calls,
                "total_ms": round(self.total_ms, 3), "mean_ms": round(self.mean_ms, 3),
                "rows": self.rows, "shared_blks_hit": self.shared_blks_hit,
                "shared_blks_read": self.shared_blks_read,
                "temp_blks_written": self.temp_blks_written}


#: The measures the report ranks statements by, and how.
WORKLOAD_MEASURES: dict[str, Callable[[Statement], float]] = {
    "total_time": lambda s: s.total_ms,
    "mean_time": lambda s: s.mean_ms,
    "calls": lambda s: s.calls,
    "shared_blks_read": lambda s: s.shared_blks_read,
    "temp_blks_written": lambda s: s.temp_blks_written,
}

# A statement is DML when its first keyword, after comments and parentheses, is one of these.
_DML = frozenset({"select", "insert", "update", "delete", "with", "merge", "values", "table"})
_LEADING = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/|\()*", re.DOTALL)
_WORD = re.compile(r"[A-Za-z]+")


def is_dml(query: str) -> bool:
    """True for SELECT/INSERT/UPDATE/DELETE/MERGE/WITH/VALUES/TABLE; False for utility
    statements (SET, BEGIN, EXPLAIN, CREATE ...) and for intperf's own (``MARKER``)."""
    if MARKER in query:
        return False
    rest = query[_LEADING.match(query).end():]  # type: ignore[union-attr]
    word = _WORD.match(rest)
    return word is not None and word.group(0).lower() in _DML


def pgss_schema(conn: psycopg.Connection[Any]) -> str | None:
    """The schema holding the ``pg_stat_statements`` view in this database, or None."""
    row = conn.execute(
        "/* intperf-dbopt */ SELECT n.nspname FROM pg_catalog.pg_extension e"
        " JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = %s",
        ("pg_stat_statements",)).fetchone()
    return None if row is None else str(row[0])


def _require_schema(conn: psycopg.Connection[Any]) -> str:
    schema = pgss_schema(conn)
    if schema is None:
        raise TargetDatabaseError(
            "pg_stat_statements is not installed in this database: add it to "
            "shared_preload_libraries and run CREATE EXTENSION pg_stat_statements")
    return schema


def read_statements(conn: psycopg.Connection[Any], *, min_calls: int = 1
                    ) -> list[Statement]:
    """Every DML statement of the connected database, by total time (ours left out).

    Only top-level statements on PostgreSQL 14+ (``toplevel``), so time spent in functions is
    not counted twice when ``pg_stat_statements.track = all``.
    """
    schema = _require_schema(conn)
    toplevel = sql.SQL(" AND s.toplevel") if conn.info.server_version >= 140000 else sql.SQL("")
    query = sql.SQL(
        "/* intperf-dbopt */ SELECT s.queryid, s.query, s.calls, s.total_exec_time,"
        " s.mean_exec_time, s.rows, s.shared_blks_hit, s.shared_blks_read, s.temp_blks_written,"
        " pg_catalog.current_database() AS dbname"
        " FROM {}.pg_stat_statements s"
        " WHERE s.dbid = (SELECT d.oid FROM pg_catalog.pg_database d"
        "                 WHERE d.datname = pg_catalog.current_database())"
        " AND s.calls >= %s{} ORDER BY s.total_exec_time DESC"
    ).format(sql.Identifier(schema), toplevel)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, (min_calls,)).fetchall()
    out: list[Statement] = []
    for r in rows:
        text = str(r["query"] or "")
        if r["queryid"] is None or not is_dml(text):
            continue
        out.append(Statement(
            queryid=int(r["queryid"]), query=text, calls=int(r["calls"]),
            total_ms=float(r["total_exec_time"]), mean_ms=float(r["mean_exec_time"]),
            rows=int(r["rows"]), shared_blks_hit=int(r["shared_blks_hit"]),
            shared_blks_read=int(r["shared_blks_read"]),
            temp_blks_written=int(r["temp_blks_written"]), dbname=str(r["dbname"])))
    return out


def read_workload(conn: psycopg.Connection[Any], *, limit: int = 200, min_calls: int = 1
                  ) -> list[Statement]:
    """The ``limit`` statements of the connected database with the most total time.

    Utility statements (SET, EXPLAIN, DDL ...) and intperf's own are left out. Raises
    TargetDatabaseError when pg_stat_statements is not installed in the database.
    """
    return read_statements(conn, min_calls=min_calls)[:limit]


def top_statements(statements: Sequence[Statement], n: int) -> dict[str, list[Statement]]:
    """The ``n`` statements with the highest value of each measure (zeros left out)."""
    out: dict[str, list[Statement]] = {}
    for name, key in WORKLOAD_MEASURES.items():
        ranked = sorted((s for s in statements if key(s) > 0), key=key, reverse=True)
        out[name] = ranked[:n]
    return out


@dataclass(frozen=True, slots=True)
class WorkloadTotals:
    """Calls and execution time of the whole database over ``seconds`` (Little's law input)."""

    calls: float
    exec_ms: float
    seconds: float
    since: datetime | None = None
    """Start of the period (the last reset of pg_stat_statements) when cumulative."""


def _totals_now(conn: psycopg.Connection[Any], schema: str) -> tuple[float, float, datetime,
                                                                      datetime | None]:
    info = sql.SQL("(SELECT i.stats_reset FROM {}.pg_stat_statements_info i)").format(
        sql.Identifier(schema)) if conn.info.server_version >= 140000 else sql.SQL("NULL")
    toplevel = sql.SQL(" AND s.toplevel") if conn.info.server_version >= 140000 else sql.SQL("")
    query = sql.SQL(
        "/* intperf-dbopt */ SELECT coalesce(sum(s.calls), 0), coalesce(sum(s.total_exec_time), 0),"
        " pg_catalog.clock_timestamp(), {}"
        " FROM {}.pg_stat_statements s"
        " WHERE s.dbid = (SELECT d.oid FROM pg_catalog.pg_database d"
        "                 WHERE d.datname = pg_catalog.current_database())"
        " AND s.query NOT LIKE %s AND s.query !~* %s{}"
    ).format(info, sql.Identifier(schema), toplevel)
    # EXPLAIN is how the index advisor costs statements: not the application's load.
    row = conn.execute(query, (f"%{MARKER}%", r"^\s*explain\M")).fetchone()
    assert row is not None  # an aggregate always returns a row
    return float(row[0]), float(row[1]), row[2], row[3]


def statements_period_s(conn: psycopg.Connection[Any]) -> float | None:
    """Seconds the counters of pg_stat_statements cover: since its last reset
    (``pg_stat_statements_info.stats_reset``, PostgreSQL 14+), else since the database's
    statistics were reset or the server started. None without the extension."""
    schema = pgss_schema(conn)
    if schema is None:
        conn.rollback()
        return None
    info = sql.SQL("(SELECT i.stats_reset FROM {}.pg_stat_statements_info i), ").format(
        sql.Identifier(schema)) if conn.info.server_version >= 140000 else sql.SQL("")
    row = conn.execute(sql.SQL(
        "/* intperf-dbopt */ SELECT extract(epoch FROM pg_catalog.now() - coalesce({}"
        " (SELECT d.stats_reset FROM pg_catalog.pg_stat_database d"
        "  WHERE d.datname = pg_catalog.current_database()),"
        " pg_catalog.pg_postmaster_start_time()))").format(info)).fetchone()
    conn.rollback()
    return None if row is None or row[0] is None else max(float(row[0]), 0.0)


def read_totals(conn: psycopg.Connection[Any], *, sample_seconds: float = 0.0,
                sleep: Callable[[float], None] = time.sleep) -> WorkloadTotals:
    """Calls and execution time per second of the database.

    With ``sample_seconds`` > 0, the difference of two readings that far apart (the current
    load); otherwise everything since pg_stat_statements was last reset (a long-run mean).
    Utility statements count here (they hold connections too); intperf's own do not.
    """
    schema = _require_schema(conn)
    calls0, ms0, t0, reset = _totals_now(conn, schema)
    conn.rollback()  # never sit idle in a transaction while sampling
    if sample_seconds <= 0:
        seconds = (t0 - reset).total_seconds() if reset is not None else 0.0
        return WorkloadTotals(calls0, ms0, max(seconds, 0.0), reset)
    sleep(sample_seconds)
    calls1, ms1, t1, _ = _totals_now(conn, schema)
    conn.rollback()
    return WorkloadTotals(max(calls1 - calls0, 0.0), max(ms1 - ms0, 0.0),
                          (t1 - t0).total_seconds(), t0)


@dataclass(frozen=True, slots=True)
class LoadSample:
    """The load over a sampling period: statement totals (None without pg_stat_statements) and
    sessions of the database counted in ``pg_stat_activity`` at each sample."""

    totals: WorkloadTotals | None
    busy: tuple[int, ...]
    """Sessions active or idle in a transaction (they hold a pooled connection)."""
    open: tuple[int, ...]
    """Sessions in any state."""

    @property
    def busy_mean(self) -> float | None:
        """Mean busy sessions over the samples."""
        return sum(self.busy) / len(self.busy) if self.busy else None


def count_sessions(conn: psycopg.Connection[Any]) -> tuple[int, int]:
    """(busy, open) client sessions of the connected database, ours left out."""
    row = conn.execute(
        "/* intperf-dbopt */ SELECT count(*) FILTER (WHERE a.state IN ('active',"
        " 'idle in transaction', 'idle in transaction (aborted)', 'fastpath function call')),"
        " count(*)"
        " FROM pg_catalog.pg_stat_activity a WHERE a.backend_type = 'client backend'"
        " AND a.datname = pg_catalog.current_database()"
        " AND a.pid <> pg_catalog.pg_backend_pid()").fetchone()
    conn.rollback()
    assert row is not None
    return int(row[0]), int(row[1])


def sample_load(conn: psycopg.Connection[Any], *, seconds: float = 0.0, interval: float = 0.5,
                with_statements: bool = True, sleep: Callable[[float], None] = time.sleep,
                clock: Callable[[], float] = time.monotonic) -> LoadSample:
    """Sample the load for ``seconds`` (one instant when 0): pg_stat_statements totals at both
    ends (:func:`read_totals`) and session counts every ``interval`` seconds."""
    busy: list[int] = []
    opened: list[int] = []
    if not with_statements or seconds <= 0:
        b, o = count_sessions(conn)
        totals = read_totals(conn) if with_statements else None
        return LoadSample(totals, (b,), (o,))

    def sample_sessions(duration: float) -> None:
        end = clock() + duration
        while True:
            b, o = count_sessions(conn)
            busy.append(b)
            opened.append(o)
            left = end - clock()
            if left <= 0:
                return
            sleep(min(interval, left))

    totals = read_totals(conn, sample_seconds=seconds, sleep=sample_sessions)
    return LoadSample(totals, tuple(busy), tuple(opened))
