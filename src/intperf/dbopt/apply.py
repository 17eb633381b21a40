"""Apply mode: create the advised indexes with ``CREATE INDEX CONCURRENTLY`` (inside the
maintenance window), check that plans use them, measure mean statement time before and after
from pg_stat_statements, and drop (concurrently) an index that did not help. Dry run by
default; every action goes to the ``audit`` callback (docs/dbopt.md, "Apply mode")."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg
from pglast import ast, parse_sql
from pglast.parser import ParseError
from psycopg import sql

from intperf.dbopt.connection import MARKER, connect_target
from intperf.dbopt.index_advisor import IndexAdvice
from intperf.dbopt.maintenance import MaintenanceWindow
from intperf.dbopt.whatif import WhatIf, WhatIfError
from intperf.dbopt.workload import pgss_schema
from intperf.errors import UsageError

_log = logging.getLogger(__name__)
Status = Literal["planned", "kept", "dropped", "failed", "exists", "refused"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One action of apply mode (the service writes it to its audit log)."""

    action: str  # plan, refuse, wait, create, create-failed, cleanup, verify, measure, keep, drop
    target: str  # schema-qualified index name
    detail: dict[str, Any] = field(default_factory=dict)


Audit = Callable[[AuditEntry], None]


@dataclass(slots=True)
class AppliedIndex:
    """What happened to one advised index."""

    advice: IndexAdvice
    index: str  # schema-qualified name
    status: Status = "planned"
    used_by: list[int] = field(default_factory=list)  # queryids whose plans use it
    mean_before_ms: float | None = None  # helped statements, weighted by calls
    mean_after_ms: float | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {"index": self.index, "create_sql": self.advice.create_sql, "status": self.status,
                "used_by": self.used_by, "mean_before_ms": self.mean_before_ms,
                "mean_after_ms": self.mean_after_ms, "reason": self.reason}


@dataclass(slots=True)
class ApplyReport:
    """The outcome of one apply run."""

    dry_run: bool
    indexes: list[AppliedIndex]
    window: str | None = None
    refused: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {"dry_run": self.dry_run, "window": self.window, "refused": self.refused,
                "indexes": [i.to_dict() for i in self.indexes]}


@dataclass(frozen=True, slots=True)
class ApplySettings:
    """Knobs of apply mode."""

    min_improvement: float = 0.05  # keep an index when helped statements got this much faster
    build_timeout_ms: int = 3_600_000  # statement_timeout of one CREATE INDEX CONCURRENTLY
    lock_timeout_ms: int = 5000
    wait_for_window: bool = False  # outside the window: wait for it (True) or refuse (False)
    max_wait_s: float = 86400.0


def apply_indexes(dsn: str, advice: Sequence[IndexAdvice], *, dry_run: bool = True,
                  measure_for_s: float = 60.0, maintenance_window: str | None = None,
                  audit: Audit | None = None, settings: ApplySettings | None = None,
                  sleep: Callable[[float], None] = time.sleep,
                  now: Callable[[], datetime] = lambda: datetime.now(UTC),
                  progress: Callable[[str], None] | None = None) -> ApplyReport:
    """Create, verify, measure and keep or drop the advised indexes (dry run by default)."""
    cfg = settings or ApplySettings()
    record = audit or (lambda _entry: None)
    say = progress or (lambda _msg: None)
    window = MaintenanceWindow.parse(maintenance_window) if maintenance_window else None
    items = [AppliedIndex(a, _index_name(a)) for a in advice]
    report = ApplyReport(dry_run, items, str(window) if window else None)
    if dry_run:
        for item in items:
            record(AuditEntry("plan", item.index, {"sql": item.advice.create_sql,
                                                   "dry_run": True}))
        return report
    if not items:
        return report
    if window is not None and not window.contains(now()):
        opens = window.next_start(now())
        wait_s = (opens - now()).total_seconds()
        if not cfg.wait_for_window or wait_s > cfg.max_wait_s:
            report.refused = f"outside the maintenance window {window} (opens {opens:%H:%M} UTC)"
            for item in items:
                item.status, item.reason = "refused", report.refused
                record(AuditEntry("refuse", item.index, {"reason": report.refused}))
            return report
        record(AuditEntry("wait", "-", {"window": str(window), "seconds": round(wait_s)}))
        say(f"waiting {wait_s:.0f} s for the maintenance window {window}")
        sleep(wait_s)
    for item in items:  # refuse bad input before anything is written
        create_statement(item.advice, item.index.split(".", 1)[-1])
    queryids = sorted({h.queryid for a in advice for h in a.helps})
    with connect_target(dsn) as reader, _writer(dsn, cfg) as writer:
        say(f"measuring {len(queryids)} statements for {measure_for_s:.0f} s before")
        before = _measure(reader, queryids, measure_for_s, sleep)
        created = []
        for item in items:
            if window is not None and not window.contains(now()):
                item.status, item.reason = "refused", f"the maintenance window {window} closed"
                record(AuditEntry("refuse", item.index, {"reason": item.reason}))
                continue
            if _create(writer, item, record, say):
                created.append(item)
        _verify(reader, created, record)
        say(f"measuring {len(queryids)} statements for {measure_for_s:.0f} s after")
        after = _measure(reader, queryids, measure_for_s, sleep)
        for item in created:
            _judge(item, before, after, cfg)
            record(AuditEntry("measure", item.index, {"mean_before_ms": item.mean_before_ms,
                                                      "mean_after_ms": item.mean_after_ms}))
            if item.status == "dropped":
                _drop(writer, item.index)
            record(AuditEntry("drop" if item.status == "dropped" else "keep", item.index,
                              {"reason": item.reason}))
    return report


@contextmanager
def _writer(dsn: str, cfg: ApplySettings) -> Iterator[psycopg.Connection[Any]]:
    with connect_target(dsn, read_only=False, statement_timeout_ms=cfg.build_timeout_ms,
                        lock_timeout_ms=cfg.lock_timeout_ms,
                        application_name="intperf-dbopt-apply") as conn:
        conn.autocommit = True  # CREATE/DROP INDEX CONCURRENTLY refuse a transaction block
        yield conn


def _index_name(a: IndexAdvice) -> str:
    schema = a.table.split(".", 1)[0] if "." in a.table else "public"
    return f"{schema}.{a.name or a.candidate().suggested_name()}"


def _sql(text: str) -> sql.SQL:
    return sql.SQL(MARKER + " " + text)


def _ident(qualified: str) -> sql.Identifier:
    return sql.Identifier(*qualified.split(".", 1))


def _exists(conn: psycopg.Connection[Any], qualified: str) -> tuple[bool, bool]:
    """(exists, valid) of an index."""
    row = conn.execute(_sql("SELECT i.indisvalid FROM pg_catalog.pg_index i"
                            " WHERE i.indexrelid = pg_catalog.to_regclass(%s)"),
                       (_ident(qualified).as_string(),)).fetchone()
    return (row is not None, bool(row[0]) if row else False)


def _create(conn: psycopg.Connection[Any], item: AppliedIndex, record: Audit,
            say: Callable[[str], None]) -> bool:
    if _exists(conn, item.index)[0]:
        item.status, item.reason = "exists", "an index of that name exists: left alone"
        record(AuditEntry("skip", item.index, {"reason": item.reason}))
        return False
    statement = create_statement(item.advice, item.index.split(".", 1)[-1])
    say(f"creating {item.index}")
    record(AuditEntry("create", item.index, {"sql": statement}))
    started = time.monotonic()
    try:
        conn.execute(sql.SQL(MARKER + " " + statement))
    except psycopg.Error as exc:
        item.status = "failed"
        item.reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        record(AuditEntry("create-failed", item.index, {"error": item.reason}))
        exists, valid = _exists(conn, item.index)
        if exists and not valid:  # what a failed CONCURRENTLY build leaves behind
            _drop(conn, item.index)
            record(AuditEntry("cleanup", item.index, {"reason": "invalid index dropped"}))
        return False
    item.status = "kept"
    record(AuditEntry("created", item.index, {"seconds": round(time.monotonic() - started, 3)}))
    return True


def create_statement(advice: IndexAdvice, name: str) -> str:
    """The ``CREATE INDEX CONCURRENTLY`` rebuilt from the advice's fields (never its text, which
    may have come through the API), checked to be exactly one index statement."""
    statement = advice.candidate().definition(name, concurrently=True)
    try:
        parsed = parse_sql(statement)
    except ParseError as exc:
        raise UsageError(f"index on {advice.table}: not a valid definition: {exc}") from exc
    if len(parsed) != 1 or not isinstance(parsed[0].stmt, ast.IndexStmt) or not (
            parsed[0].stmt.concurrent):
        raise UsageError(f"index on {advice.table}: not a single CREATE INDEX CONCURRENTLY")
    return statement


def _drop(conn: psycopg.Connection[Any], qualified: str) -> None:
    conn.execute(_sql("DROP INDEX CONCURRENTLY IF EXISTS {}").format(
        _ident(qualified)))


def _verify(conn: psycopg.Connection[Any], created: list[AppliedIndex], record: Audit) -> None:
    """Which helped statements' (generic) plans use each new index."""
    if not created:
        return
    whatif = WhatIf(conn)
    try:
        for item in created:
            name = item.index.split(".", 1)[-1]
            for gain in item.advice.helps:
                try:
                    whatif.register(gain.queryid, gain.query)
                except WhatIfError:
                    continue
                plan = whatif.plan(gain.queryid)
                if plan is not None and name in _index_names(plan.get("Plan", {})):
                    item.used_by.append(gain.queryid)
            record(AuditEntry("verify", item.index, {"used_by": item.used_by}))
    finally:
        whatif.close()


def _index_names(node: dict[str, Any]) -> set[str]:
    out = {str(node["Index Name"])} if "Index Name" in node else set()
    for child in node.get("Plans", ()) or ():
        out |= _index_names(child)
    return out


Snapshot = dict[int, tuple[float, float]]  # queryid -> (calls, total ms)


def _snapshot(conn: psycopg.Connection[Any], queryids: list[int]) -> Snapshot:
    schema = pgss_schema(conn)
    if schema is None or not queryids:
        conn.rollback()
        return {}
    rows = conn.execute(_sql(
        "SELECT queryid, sum(calls), sum(total_exec_time) FROM {}.pg_stat_statements"
        " WHERE dbid = (SELECT oid FROM pg_catalog.pg_database"
        " WHERE datname = pg_catalog.current_database()) AND queryid = ANY(%s)"
        " GROUP BY queryid").format(sql.Identifier(schema)), (queryids,)).fetchall()
    conn.rollback()
    return {int(q): (float(c), float(t)) for q, c, t in rows}


def _measure(conn: psycopg.Connection[Any], queryids: list[int], seconds: float,
             sleep: Callable[[float], None]) -> dict[int, tuple[float, float]]:
    """queryid -> (calls, mean ms) over `seconds`; nothing when not measuring (0 s)."""
    if seconds <= 0:
        return {}
    first = _snapshot(conn, queryids)
    sleep(seconds)
    second = _snapshot(conn, queryids)
    out = {}
    for qid, (calls, total) in second.items():
        c0, t0 = first.get(qid, (0.0, 0.0))
        if calls > c0:
            out[qid] = (calls - c0, (total - t0) / (calls - c0))
    return out


def _judge(item: AppliedIndex, before: dict[int, tuple[float, float]],
           after: dict[int, tuple[float, float]], cfg: ApplySettings) -> None:
    helped = [h.queryid for h in item.advice.helps]
    if not item.used_by:
        item.status, item.reason = "dropped", "no plan of the statements it was for uses it"
        return
    measured = [q for q in helped if q in before and q in after]
    if not measured:
        item.status = "kept"
        item.reason = "plans use it; not measured (the statements did not run, or --measure 0)"
        return
    weight = sum(after[q][0] for q in measured)
    item.mean_before_ms = sum(after[q][0] * before[q][1] for q in measured) / weight
    item.mean_after_ms = sum(after[q][0] * after[q][1] for q in measured) / weight
    if item.mean_after_ms <= item.mean_before_ms * (1 - cfg.min_improvement):
        item.status = "kept"
        item.reason = f"mean {item.mean_before_ms:.3f} ms -> {item.mean_after_ms:.3f} ms"
    else:
        item.status = "dropped"
        item.reason = (f"did not help: mean {item.mean_before_ms:.3f} ms -> "
                       f"{item.mean_after_ms:.3f} ms (wanted {cfg.min_improvement:.0%} less)")
