"""``analyze(dsn, options) -> AnalysisReport``: one read-only session on the target runs every
inspection, then the pure rules turn what it read into findings, pool and tuning advice.

Each inspection step runs in its own short transaction: a step that times out or is refused
(a lock held by a migration, a privilege the role lacks) is recorded in ``skipped`` and the
analysis goes on; a lost connection ends it with :class:`TargetDatabaseError`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg

from intperf.dbopt.connection import (
    connect_target,
    describe_error,
    dsn_params,
    is_connection_failure,
    redact_dsn,
    translate_error,
)
from intperf.dbopt.findings import Finding, Thresholds, sort_findings
from intperf.dbopt.inspect_bloat import (
    BloatEstimate,
    bloat_findings,
    estimate_bloat,
    read_bloat_inputs,
)
from intperf.dbopt.inspect_fkeys import fk_findings, read_foreign_keys, supporting_indexes
from intperf.dbopt.inspect_indexes import index_findings, read_indexes
from intperf.dbopt.inspect_machine import is_local_host, read_server_machine, resolve_machine
from intperf.dbopt.inspect_server import (
    Activity,
    DatabaseStats,
    ServerInfo,
    Setting,
    cache_findings,
    connection_findings,
    read_activity,
    read_database_stats,
    read_server,
    read_settings,
)
from intperf.dbopt.inspect_statements import statement_findings, work_mem_for_spill
from intperf.dbopt.inspect_tables import (
    TableStats,
    read_locked_relations,
    read_tables,
    table_findings,
)
from intperf.dbopt.pool import PoolAdvice, PoolInputs, advise_pool, effective_spindles, littles_law
from intperf.dbopt.report import AnalysisReport
from intperf.dbopt.tuning import Machine, TuningEvidence, tuning_advice
from intperf.dbopt.workload import (
    LoadSample,
    Statement,
    pgss_schema,
    read_statements,
    sample_load,
    statements_period_s,
)

if TYPE_CHECKING:
    from intperf.dbopt.matviews import MatviewRules

__all__ = ["AnalysisOptions", "AnalysisReport", "analyze"]

log = logging.getLogger(__name__)
T = TypeVar("T")
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class AnalysisOptions:
    """What to analyze and how (the CLI options and the API body map onto these)."""

    budget_bytes: int | None = None
    """Disk budget for the recommended indexes (None: no limit)."""
    max_indexes: int = 10
    workload_type: str = "oltp"
    memory_bytes: int | None = None
    cores: int | None = None
    storage: str | None = None
    """ssd, hdd, san or nvme; None: assume ssd."""
    disks: int = 1
    app_instances: int = 1
    sample_seconds: float = 0.0
    """Measure the load for this long (Little's law); 0: the mean since the statistics reset."""
    top: int = 10
    workload_limit: int = 200
    statement_timeout_ms: int = 5000
    lock_timeout_ms: int = 1000
    advise_indexes: bool = True
    thresholds: Thresholds = field(default_factory=Thresholds)
    matview_rules: MatviewRules | None = None
    """Materialized-view rules (None: the defaults); ``period_s`` is always the period
    pg_stat_statements covers on the server."""

    def to_dict(self) -> dict[str, Any]:
        """The options as the report records them."""
        return {"budget_bytes": self.budget_bytes, "max_indexes": self.max_indexes,
                "workload_type": self.workload_type, "memory_bytes": self.memory_bytes,
                "cores": self.cores, "storage": self.storage, "disks": self.disks,
                "app_instances": self.app_instances, "sample_seconds": self.sample_seconds,
                "top": self.top, "statement_timeout_ms": self.statement_timeout_ms,
                "lock_timeout_ms": self.lock_timeout_ms}


class _Steps:
    """Runs inspection steps in their own transactions; records the ones that fail."""

    def __init__(self, conn: psycopg.Connection[Any], dsn: str, options: AnalysisOptions,
                 progress: Progress | None) -> None:
        self.conn = conn
        self.dsn = dsn
        self.options = options
        self.progress = progress
        self.skipped: list[dict[str, str]] = []

    def run(self, name: str, fn: Callable[[psycopg.Connection[Any]], T]) -> T | None:
        if self.progress is not None:
            self.progress(name)
        started = time.monotonic()
        try:
            result = fn(self.conn)
            self.conn.rollback()
        except psycopg.Error as exc:
            timeouts = {"statement_timeout_ms": self.options.statement_timeout_ms,
                        "lock_timeout_ms": self.options.lock_timeout_ms}
            if is_connection_failure(exc, self.conn):
                raise translate_error(exc, self.dsn, **timeouts) from exc
            self.conn.rollback()
            reason = describe_error(exc, **timeouts)
            self.skipped.append({"step": name, "reason": reason})
            log.warning("analysis step %r skipped: %s", name, reason)
            return None
        log.debug("step %r took %.3f s", name, time.monotonic() - started)
        return result


def analyze(dsn: str, options: AnalysisOptions | None = None, *,
            progress: Progress | None = None) -> AnalysisReport:
    """Analyze the PostgreSQL at ``dsn`` (read-only); raises TargetDatabaseError when it cannot
    be reached or the session is lost."""
    opts = options or AnalysisOptions()
    started = time.monotonic()
    at = datetime.now(UTC)
    params = dsn_params(dsn)
    with connect_target(dsn, statement_timeout_ms=opts.statement_timeout_ms,
                        lock_timeout_ms=opts.lock_timeout_ms) as conn:
        steps = _Steps(conn, dsn, opts, progress)
        server = steps.run("server", read_server)
        settings = steps.run("settings", read_settings) or {}
        server_machine = None
        if opts.memory_bytes is None or opts.cores is None:
            server_machine = _quiet(conn, read_server_machine)
        machine = resolve_machine(memory_bytes=opts.memory_bytes, cores=opts.cores,
                                  storage=opts.storage, server=server_machine,
                                  local=is_local_host(params.get("host")))
        has_pgss = steps.run("pg_stat_statements", pgss_schema) is not None
        statements: list[Statement] = []
        if has_pgss:
            statements = steps.run("statements", read_statements) or []
        locked = steps.run("locks", read_locked_relations) or {}
        for name in locked.values():
            steps.skipped.append({"step": "tables", "reason": f"{name} holds an ACCESS "
                                  "EXCLUSIVE lock: left out of the table and index checks"})
        tables = steps.run("tables", lambda c: read_tables(c, exclude=locked)) or []
        indexes = steps.run("indexes", lambda c: read_indexes(c, exclude=locked)) or []
        fkeys = steps.run("foreign keys", read_foreign_keys) or []
        db_stats = steps.run("database statistics", read_database_stats)
        activity = steps.run("connections", read_activity)
        bloat_inputs = steps.run("bloat estimates", read_bloat_inputs) or []
        load = steps.run(
            "load sample" + (f" ({opts.sample_seconds:g} s)" if opts.sample_seconds else ""),
            lambda c: sample_load(c, seconds=opts.sample_seconds, with_statements=has_pgss))
        workload = statements[: opts.workload_limit]
        advice = _advise(steps, workload, opts) if has_pgss and opts.advise_indexes else []
        partitions = _partitions(steps)
        matviews = _matviews(steps, workload, opts.matview_rules)
    bs = int(settings["block_size"].number or 8192) if "block_size" in settings else 8192
    estimates = [e for e in (estimate_bloat(i, block_size=bs,
                                            maxalign=8 if server is None or server.sixty_four_bit
                                            else 4) for i in bloat_inputs) if e is not None]
    unseen = sum(1 for i in bloat_inputs if i.columns_with_stats < i.columns)
    if unseen:
        steps.skipped.append({"step": "bloat estimates", "reason": (
            f"{unseen} table(s) or index(es) have no statistics this role can see (never "
            "analyzed, or no SELECT privilege on their columns): not estimated")})
    findings = _findings(opts, server, settings, statements, tables, indexes, fkeys, db_stats,
                         activity, estimates, has_pgss)
    pool = _pool(opts, machine, settings, db_stats, load)
    tuning_rows, tuning_findings = tuning_advice(
        settings, machine, opts.workload_type,
        evidence=_tuning_evidence(statements, db_stats, opts),
        version_num=server.version_num if server else 150000)
    findings += pool.findings + tuning_findings
    findings = _link_advice(findings, advice)
    return AnalysisReport(
        dsn=redact_dsn(dsn), analyzed_at=at, duration_s=time.monotonic() - started,
        options=opts.to_dict(), server=server, settings=settings, database_stats=db_stats,
        findings=sort_findings(findings), statements=statements, top=opts.top, tables=tables,
        connections=activity, bloat=estimates, indexes=advice, pool=pool, machine=machine,
        workload_type=opts.workload_type, tuning=tuning_rows, skipped=steps.skipped,
        partitions=partitions, matviews=matviews)


def _quiet(conn: psycopg.Connection[Any], fn: Callable[[psycopg.Connection[Any]], T]
           ) -> T | None:
    """Run an optional read (the machine's size through the server); no privilege, no fuss."""
    try:
        result = fn(conn)
        conn.rollback()
    except psycopg.Error as exc:
        if is_connection_failure(exc, conn):
            raise
        conn.rollback()
        return None
    return result


def _advise(steps: _Steps, workload: Sequence[Statement], opts: AnalysisOptions) -> list[Any]:
    """The index advisor's recommendations (imported lazily: it is optional)."""
    try:
        from intperf.dbopt.index_advisor import advise_indexes
    except ImportError as exc:
        steps.skipped.append({"step": "index advice", "reason": f"not available: {exc}"})
        return []
    if not workload:
        return []
    from intperf.errors import TargetDatabaseError

    def run(conn: psycopg.Connection[Any]) -> list[Any]:
        return list(advise_indexes(conn, workload, budget_bytes=opts.budget_bytes,
                                   max_indexes=opts.max_indexes, progress=steps.progress))

    try:
        return steps.run("index advice", run) or []
    except TargetDatabaseError as exc:
        if is_connection_failure(exc.__cause__ or exc, steps.conn):
            raise
        steps.conn.rollback()
        steps.skipped.append({"step": "index advice", "reason": str(exc)})
        return []


def _partitions(steps: _Steps) -> list[Any]:
    """Range-partitioning plans for big append-mostly tables (the advisor's, when present)."""
    try:
        from intperf.dbopt.partitioning import plan_partitioning, read_table_profiles
    except ImportError as exc:
        steps.skipped.append({"step": "partitioning advice", "reason": f"not available: {exc}"})
        return []

    def run(conn: psycopg.Connection[Any]) -> list[Any]:
        plans = (plan_partitioning(p) for p in read_table_profiles(conn))
        return [p for p in plans if p is not None]

    return steps.run("partitioning advice", run) or []


def _matviews(steps: _Steps, workload: Sequence[Statement], rules: MatviewRules | None
              ) -> list[Any]:
    """Materialized views for repeated expensive aggregates: the statements, the types of
    their tables' columns (time ranges become day buckets) and the period their calls were
    counted over (what a refresh schedule costs is weighed against it)."""
    try:
        from intperf.dbopt.matviews import MatviewRules, read_column_types, suggest_matviews
    except ImportError as exc:
        steps.skipped.append({"step": "materialized view advice",
                              "reason": f"not available: {exc}"})
        return []
    if not workload:
        return []

    def run(conn: psycopg.Connection[Any]) -> list[Any]:
        types = read_column_types(conn, workload)
        period = statements_period_s(conn)
        chosen = rules or MatviewRules()
        if period is not None:
            chosen = dataclasses.replace(chosen, period_s=max(period, 1.0))
        return list(suggest_matviews(workload, types, chosen))

    return steps.run("materialized view advice", run) or []


def _findings(opts: AnalysisOptions, server: ServerInfo | None, settings: dict[str, Setting],
              statements: list[Statement], tables: list[TableStats], indexes: list[Any],
              fkeys: list[Any], db_stats: DatabaseStats | None, activity: Activity | None,
              estimates: list[BloatEstimate], has_pgss: bool) -> list[Finding]:
    th = opts.thresholds
    out: list[Finding] = []
    if not has_pgss:
        out.append(Finding(
            "analysis.pg-stat-statements", "warning",
            "pg_stat_statements is not installed in this database: no statement analysis",
            {"database": server.database if server else None},
            "CREATE EXTENSION pg_stat_statements;",
            "It also needs shared_preload_libraries = 'pg_stat_statements' (a restart). "
            "Without it there are no top statements, index advice or measured load."))
    out += statement_findings(statements, thresholds=th)
    out += table_findings(tables, thresholds=th)
    out += index_findings(indexes, stats_age_days=server.stats_age_days if server else None,
                          thresholds=th, fk_supporting=supporting_indexes(fkeys, indexes))
    out += fk_findings(fkeys, indexes, thresholds=th)
    if db_stats is not None:
        out += cache_findings(db_stats, workload_type=opts.workload_type, thresholds=th,
                              shared_buffers=settings.get("shared_buffers"))
    if activity is not None:
        out += connection_findings(activity, settings, thresholds=th)
    out += bloat_findings(estimates, thresholds=th)
    return out


def _pool(opts: AnalysisOptions, machine: Machine, settings: dict[str, Setting],
          db_stats: DatabaseStats | None, load: LoadSample | None) -> PoolAdvice:
    hit = db_stats.hit_ratio if db_stats is not None else None
    storage = machine.storage
    totals = load.totals if load is not None else None

    def number(name: str, default: float = 0.0) -> float:
        s = settings.get(name)
        return s.number if s is not None and s.number is not None else default

    idle_timeout = settings.get("idle_session_timeout")
    return advise_pool(PoolInputs(
        cores=machine.cores, spindles=effective_spindles(storage, opts.disks, hit),
        app_instances=opts.app_instances,
        littles=littles_law(totals.calls, totals.exec_ms, totals.seconds) if totals else None,
        busy_sessions_mean=load.busy_mean if load is not None else None,
        busy_sessions_max=max(load.busy) if load is not None and load.busy else None,
        open_sessions=max(load.open) if load is not None and load.open else None,
        max_connections=int(number("max_connections")) or None,
        reserved_connections=int(number("superuser_reserved_connections", 3)),
        idle_session_timeout_ms=int(number("idle_session_timeout"))
        if idle_timeout is not None and idle_timeout.unit == "ms" else 0))


def _tuning_evidence(statements: Sequence[Statement], db_stats: DatabaseStats | None,
                     opts: AnalysisOptions) -> TuningEvidence:
    spills = [s for s in statements if s.temp_blks_written > 0 and s.calls > 0]
    need = max((work_mem_for_spill(s.temp_blks_written * 8192 / s.calls) for s in spills),
               default=0)
    ratio = db_stats.hit_ratio if db_stats is not None else None
    th = opts.thresholds
    warn = th.dw_cache_warning if opts.workload_type == "dw" else th.cache_warning
    requested = db_stats.blks_hit + db_stats.blks_read if db_stats is not None else 0
    return TuningEvidence(
        spill_work_mem=need, spilling_statements=len(spills), cache_hit_ratio=ratio,
        cache_low=ratio is not None and requested >= th.cache_min_blocks and ratio < warn,
        checkpoints_timed=db_stats.checkpoints_timed if db_stats else 0,
        checkpoints_req=db_stats.checkpoints_req if db_stats else 0)


def _link_advice(findings: list[Finding], advice: Sequence[Any]) -> list[Finding]:
    """Give slow statements and sequentially scanned tables the advisor's CREATE INDEX."""
    by_query: dict[int, str] = {}
    by_table: dict[str, str] = {}
    for a in advice:
        sql = str(getattr(a, "create_sql", "") or "")
        if not sql:
            continue
        for gain in getattr(a, "helps", ()) or ():
            by_query.setdefault(int(getattr(gain, "queryid", 0)), sql)
        table = str(getattr(a, "table", ""))
        by_table.setdefault(table if "." in table else f"public.{table}", sql)
    out: list[Finding] = []
    for f in findings:
        fix: str | None = None
        if f.fix_sql is None and f.category in ("statement.slow", "statement.disk-reads"):
            fix = by_query.get(int(f.evidence.get("queryid", 0)))
        elif f.fix_sql is None and f.category == "table.seq-scans":
            fix = by_table.get(str(f.evidence.get("table")))
        out.append(dataclasses.replace(f, fix_sql=fix) if fix else f)
    return out

