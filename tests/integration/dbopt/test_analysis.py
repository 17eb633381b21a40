"""``analyze()`` against a private PostgreSQL 15 on the crafted schema (analysis_schema.py):
exactly the findings it was built to have; the read-only role path; nothing written."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from intperf.dbopt.analyze import AnalysisOptions, analyze
from intperf.dbopt.findings import Finding, Thresholds

from . import analysis_schema
from .conftest import PgTarget

pytestmark = pytest.mark.integration

#: Severity rules loosened so the small crafted schema trips them deterministically.
TEST_THRESHOLDS = Thresholds(unused_min_days=0, unused_index_bytes=0, slow_mean_ms=10,
                             seq_scan_min_rows=1000, seq_scan_min_scans=5)


@pytest.fixture
def shop(pg_target: PgTarget) -> PgTarget:
    analysis_schema.build(pg_target.dsn)
    pg_target.reset_statements()
    analysis_schema.run_workload(pg_target.dsn)
    return pg_target


def names(findings: list[Finding], key: str = "index") -> set[str]:
    return {str(f.evidence[key]) for f in findings}


def test_exact_findings_on_the_crafted_schema(shop: PgTarget) -> None:
    report = analyze(shop.dsn, AnalysisOptions(thresholds=TEST_THRESHOLDS, advise_indexes=False))

    duplicates = report.category("index.duplicate")
    assert len(duplicates) == 1
    pair = {duplicates[0].evidence["index"], duplicates[0].evidence["duplicate_of"]}
    assert pair == {"public.customers_email_idx", "public.customers_email_dup_idx"}
    assert duplicates[0].fix_sql == (
        f"DROP INDEX CONCURRENTLY IF EXISTS {duplicates[0].evidence['index'].split('.')[1]};")

    redundant = report.category("index.redundant")
    assert [(f.evidence["index"], f.evidence["covered_by"]) for f in redundant] == [
        ("public.orders_status_idx", "public.orders_status_created_idx")]
    assert redundant[0].fix_sql == "DROP INDEX CONCURRENTLY IF EXISTS orders_status_idx;"

    unused = report.category("index.unused")
    assert names(unused) == {"public.customers_name_idx"}
    assert unused[0].severity == "warning"  # 0-day / 0-byte thresholds
    assert unused[0].evidence["scans"] == 0 and unused[0].evidence["bytes"] > 0

    fks = report.category("foreign-key.unindexed")
    assert [(f.evidence["table"], f.evidence["columns"]) for f in fks] == [
        ("public.orders", ["customer_id"])]
    assert fks[0].severity == "warning"  # 20,000 referencing rows
    assert fks[0].fix_sql == "CREATE INDEX CONCURRENTLY ON orders (customer_id);"

    dead = report.category("table.dead-tuples")
    assert names(dead, "table") == {"public.events"}
    assert dead[0].severity == "critical"  # 75% dead
    assert dead[0].fix_sql == "VACUUM (ANALYZE) events;"
    assert dead[0].evidence["autovacuum_enabled"] is False

    assert names(report.category("table.seq-scans"), "table") == {"public.events"}
    assert names(report.category("table.bloat"), "name") == {"public.events"}
    assert all(f.evidence["estimate"] for f in report.category("table.bloat"))

    spills = report.category("statement.temp-spill")
    assert len(spills) == 1 and "ORDER BY note DESC" in spills[0].evidence["query"]
    assert spills[0].fix_sql is not None and spills[0].fix_sql.startswith("SET LOCAL work_mem")
    slow = report.category("statement.slow")
    assert len(slow) == 1 and "pg_sleep" in slow[0].evidence["query"]
    assert slow[0].evidence["calls"] == analysis_schema.SLEEP_QUERY_CALLS

    assert report.skipped == []
    assert not report.category("table.stale-statistics")


def test_report_json_and_top_statements(shop: PgTarget) -> None:
    report = analyze(shop.dsn, AnalysisOptions(top=3, advise_indexes=False))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["dsn"] == shop.dsn  # no password to redact here
    assert set(data["statements"]) == {"total_time", "mean_time", "calls", "shared_blks_read",
                                       "temp_blks_written"}
    assert all(len(v) <= 3 for v in data["statements"].values())
    top_total = data["statements"]["total_time"][0]
    assert "pg_sleep" in top_total["query"]  # 10 x 20 ms dominates the workload
    temp = data["statements"]["temp_blks_written"]
    assert len(temp) == 1 and temp[0]["temp_blks_written"] > 0
    assert data["summary"] == {s: sum(f["severity"] == s for f in data["findings"])
                               for s in ("critical", "warning", "info")}
    keys = data["pool"]["keys"]
    assert {k.removeprefix("spring.datasource.hikari.") for k in keys} >= {
        "maximum-pool-size", "minimum-idle", "connection-timeout", "idle-timeout",
        "max-lifetime"}
    assert data["tuning"]["machine"]["source"] in ("server", "local")  # superuser on loopback
    assert {r["name"] for r in data["tuning"]["settings"]} >= {
        "shared_buffers", "work_mem", "effective_cache_size", "random_page_cost"}
    assert data["server"]["version_num"] // 10000 == 15
    assert not any("intperf-dbopt" in s["query"] for v in data["statements"].values() for s in v)


def _counters(target: PgTarget) -> dict[str, Any]:
    with target.connect() as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM pg_class), (SELECT coalesce(sum(n_tup_ins + n_tup_upd"
            " + n_tup_del), 0) FROM pg_stat_user_tables)").fetchone()
    assert row is not None
    return {"relations": row[0], "writes": row[1]}


def test_read_only_role_with_pg_read_all_stats(shop: PgTarget) -> None:
    role = shop.create_role("pg_read_all_stats", password="s3cret-pw")
    before = _counters(shop)
    dsn = shop.dsn_for(role, "s3cret-pw")
    report = analyze(dsn, AnalysisOptions(thresholds=TEST_THRESHOLDS))
    assert "s3cret-pw" not in report.dsn and "***" in report.dsn
    assert "s3cret-pw" not in json.dumps(report.to_dict())
    # pg_read_all_stats shows every statement and the statistics views are public.
    assert report.category("statement.temp-spill")
    assert names(report.category("index.unused")) == {"public.customers_name_idx"}
    assert report.category("foreign-key.unindexed")
    # pg_stats hides columns the role may not read: no bloat estimate for those tables.
    assert report.bloat == []
    [note] = [s["reason"] for s in report.skipped if s["step"] == "bloat estimates"]
    assert "no SELECT privilege" in note
    assert report.server is not None and report.server.reads_all_stats
    assert not report.server.superuser
    assert _counters(shop) == before
    with shop.connect() as conn:
        texts = [r[0] for r in conn.execute(
            "SELECT query FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid"
            " WHERE r.rolname = %s", (role,))]
    assert texts
    allowed = ("select", "explain", "set", "show", "begin", "commit", "rollback", "/*",
               "prepare", "execute", "deallocate", "reset")
    assert all(t.lstrip().lower().startswith(allowed) for t in texts), texts


def test_without_pg_stat_statements_the_rest_still_works(pg_target: PgTarget) -> None:
    analysis_schema.build(pg_target.dsn)
    with pg_target.connect() as conn:
        conn.execute("DROP EXTENSION pg_stat_statements")
    report = analyze(pg_target.dsn, AnalysisOptions(thresholds=TEST_THRESHOLDS))
    missing = report.category("analysis.pg-stat-statements")
    assert len(missing) == 1 and missing[0].fix_sql == "CREATE EXTENSION pg_stat_statements;"
    assert report.statements == [] and report.indexes == []
    assert report.category("foreign-key.unindexed")


def test_session_is_read_only_with_timeouts(pg_target: PgTarget) -> None:
    from intperf.dbopt.connection import connect_target
    from intperf.errors import TargetDatabaseError

    with connect_target(pg_target.dsn, statement_timeout_ms=1234, lock_timeout_ms=567) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("1234ms",)
        assert conn.execute("SHOW lock_timeout").fetchone() == ("567ms",)
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        assert conn.execute("SHOW application_name").fetchone() == ("intperf-dbopt",)
    with pytest.raises(TargetDatabaseError, match="read-only transaction"), \
            connect_target(pg_target.dsn) as conn:
        conn.execute("CREATE TABLE nope (id int)")
    with psycopg.connect(pg_target.dsn) as conn:
        assert conn.execute("SELECT to_regclass('nope')").fetchone() == (None,)
