"""Severity rules for tables, statements, cache, connections and bloat; statement filtering;
the machine-size parsers. All pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from intperf.dbopt.findings import Finding, Thresholds, count_by_severity, sort_findings
from intperf.dbopt.inspect_bloat import BloatInput, bloat_findings, estimate_bloat
from intperf.dbopt.inspect_machine import (
    is_local_host,
    parse_cgroup_cpu,
    parse_cgroup_memory,
    parse_cpuinfo,
    parse_meminfo,
    resolve_machine,
)
from intperf.dbopt.inspect_server import (
    DatabaseStats,
    Setting,
    cache_findings,
    connection_findings,
    summarize_activity,
)
from intperf.dbopt.inspect_statements import statement_findings, work_mem_for_spill
from intperf.dbopt.inspect_tables import TableStats, table_findings
from intperf.dbopt.workload import Statement, is_dml, top_statements

TH = Thresholds()
MB = 1024 * 1024
NOW = datetime(2026, 11, 25, tzinfo=UTC)


def categories(found: list[Finding]) -> list[tuple[str, str]]:
    return [(f.category, f.severity) for f in found]


@pytest.mark.parametrize(("live", "dead", "expected"), [
    (9_000, 1_000, []),  # 10%
    (7_000, 3_000, [("table.dead-tuples", "warning")]),  # 30%
    (4_000, 6_000, [("table.dead-tuples", "critical")]),  # 60%
    (100, 900, []),  # 90% of a tiny table: under dead_min_tuples
])
def test_dead_tuples(live: int, dead: int, expected: list[tuple[str, str]]) -> None:
    t = TableStats("public", "t", live=live, dead=dead, last_analyze=NOW)
    assert categories(table_findings([t], thresholds=TH)) == expected


def test_dead_tuples_with_autovacuum_off_say_so() -> None:
    t = TableStats("app", "Events", live=1000, dead=9000, autovacuum_enabled=False)
    [f] = table_findings([t], thresholds=TH)
    assert f.fix_sql == 'VACUUM (ANALYZE) app."Events";'
    assert "RESET (autovacuum_enabled)" in (f.detail or "")


def test_statistics_never_analyzed_or_stale() -> None:
    never = TableStats("public", "a", live=5000)
    stale = TableStats("public", "b", live=10_000, modified=3_000, last_autoanalyze=NOW)
    fresh = TableStats("public", "c", live=10_000, modified=100, last_analyze=NOW)
    assert categories(table_findings([never, stale, fresh], thresholds=TH)) == [
        ("table.stale-statistics", "warning"), ("table.stale-statistics", "info")]


def test_sequential_scans_of_a_large_table() -> None:
    hot = TableStats("public", "orders", live=50_000, seq_scan=400, seq_tup_read=20_000_000,
                     idx_scan=10, last_analyze=NOW)
    indexed = TableStats("public", "items", live=50_000, seq_scan=400, idx_scan=9_000,
                         last_analyze=NOW)
    small = TableStats("public", "tiny", live=100, seq_scan=10_000, last_analyze=NOW)
    [f] = table_findings([hot, indexed, small], thresholds=TH)
    assert f.category == "table.seq-scans" and f.evidence["rows_per_seq_scan"] == 50_000.0


def stmt(qid: int, query: str = "SELECT 1", **kw: float) -> Statement:
    values = {"calls": 100, "total_ms": 100.0, "mean_ms": 1.0, "rows": 1, "shared_blks_hit": 10,
              "shared_blks_read": 0, "temp_blks_written": 0}
    values.update(kw)
    return Statement(qid, query, **{k: (int(v) if k not in ("total_ms", "mean_ms") else v)
                                    for k, v in values.items()})  # type: ignore[arg-type]


def test_statement_rules() -> None:
    slow = stmt(1, "SELECT * FROM orders WHERE note LIKE $1", mean_ms=250, total_ms=25_000)
    crawl = stmt(2, mean_ms=1500, total_ms=150_000)
    rare = stmt(3, calls=3, mean_ms=5000, total_ms=15_000)
    spill = stmt(4, "SELECT * FROM t ORDER BY x", calls=10, temp_blks_written=12_800)
    reader = stmt(5, calls=10, shared_blks_read=50_000)
    found = statement_findings([slow, crawl, rare, spill, reader], thresholds=TH)
    assert sorted((f.category, f.severity, f.evidence["queryid"]) for f in found) == [
        ("statement.disk-reads", "warning", 5),
        ("statement.slow", "critical", 2),
        ("statement.slow", "warning", 1),
        ("statement.temp-spill", "warning", 4),
    ]
    sp = next(f for f in found if f.category == "statement.temp-spill")
    # 12,800 blocks x 8 kB / 10 calls = 10 MB per call -> 20 MB -> 32 MB.
    assert sp.evidence["temp_bytes_per_call"] == 10 * MB
    assert sp.fix_sql == "SET LOCAL work_mem = '32MB';"
    assert "ORDER BY x" in sp.title


def test_work_mem_for_spill() -> None:
    assert work_mem_for_spill(0) == 4 * MB
    assert work_mem_for_spill(3 * MB) == 8 * MB
    assert work_mem_for_spill(600 * MB) == 2048 * MB


def test_top_statements_per_measure() -> None:
    s = [stmt(1, total_ms=10, calls=5), stmt(2, total_ms=30, calls=1),
         stmt(3, total_ms=20, calls=9, temp_blks_written=7)]
    top = top_statements(s, 2)
    assert [x.queryid for x in top["total_time"]] == [2, 3]
    assert [x.queryid for x in top["calls"]] == [3, 1]
    assert [x.queryid for x in top["temp_blks_written"]] == [3]
    assert top["shared_blks_read"] == []


@pytest.mark.parametrize(("query", "dml"), [
    ("SELECT 1", True), ("  with x as (select 1) select * from x", True),
    ("/* app */ -- note\n (SELECT 1) UNION (SELECT 2)", True), ("insert into t values ($1)", True),
    ("UPDATE t SET a = $1", True), ("delete from t", True), ("VALUES (1)", True),
    ("TABLE t", True), ("SET work_mem = $1", False), ("BEGIN", False),
    ("EXPLAIN SELECT 1", False), ("CREATE INDEX ON t (a)", False), ("vacuum t", False),
    ("/* intperf-dbopt */ SELECT 1", False), ("", False),
])
def test_is_dml(query: str, dml: bool) -> None:
    assert is_dml(query) is dml


def test_cache_hit_ratio_thresholds_by_workload() -> None:
    low = DatabaseStats(blks_hit=95_000, blks_read=5_000)  # 95%
    assert categories(cache_findings(low, workload_type="oltp", thresholds=TH)) == [
        ("cache.hit-ratio", "warning")]
    assert cache_findings(low, workload_type="dw", thresholds=TH) == []
    bad = DatabaseStats(blks_hit=80_000, blks_read=20_000)
    assert categories(cache_findings(bad, workload_type="web", thresholds=TH)) == [
        ("cache.hit-ratio", "critical")]
    assert cache_findings(DatabaseStats(blks_hit=10, blks_read=90), workload_type="web",
                          thresholds=TH) == []  # too few blocks to judge


def test_connections_near_the_limit_and_idle_transactions() -> None:
    rows = [{"pid": i, "state": "idle", "here": True, "in_state_s": 5.0} for i in range(80)]
    rows += [{"pid": 900, "state": "idle in transaction", "here": True, "in_state_s": 600.0,
              "usename": "app", "application_name": "shop", "datname": "shop"}]
    activity = summarize_activity(rows)
    assert activity.total == 81 and activity.states == {"idle": 80, "idle in transaction": 1}
    settings = {"max_connections": Setting("max_connections", "100"),
                "superuser_reserved_connections": Setting("superuser_reserved_connections",
                                                          "3"),
                "idle_in_transaction_session_timeout": Setting(
                    "idle_in_transaction_session_timeout", "0", "ms")}
    found = connection_findings(activity, settings, thresholds=TH)
    assert categories(found) == [("connections.near-limit", "warning"),
                                 ("connections.idle-in-transaction", "warning")]
    assert found[1].fix_sql == ("ALTER SYSTEM SET idle_in_transaction_session_timeout = '60s'; "
                                "SELECT pg_reload_conf();")
    assert found[1].evidence["sessions"][0]["pid"] == 900


def test_table_bloat_estimate() -> None:
    # 10,000 rows of ~100 bytes: tuple = 4 + 24 + 104 = 132 bytes, 8,168 / 132 = 61.9 per page
    # (the model does not round down) -> 162 pages; of the 1,000 pages 838 (83.8%) are bloat.
    item = BloatInput("table", "public", "t", "t", tuples=10_000, pages=1_000,
                      data_width=100.0, columns=3, columns_with_stats=3)
    est = estimate_bloat(item)
    assert est is not None
    assert est.expected_bytes == 162 * 8192
    assert est.bloat_bytes == 838 * 8192 and est.ratio == pytest.approx(0.838)
    [f] = bloat_findings([est], thresholds=TH)
    assert (f.category, f.severity) == ("table.bloat", "info")  # 6.5 MB < 10 MB
    assert f.fix_sql == "VACUUM (FULL, ANALYZE) t;" and "estimate" in f.title


def test_index_bloat_estimate_and_untrusted_inputs() -> None:
    # 100,000 bigint keys: tuple = 4 + 8 + 8 = 20 bytes, floor(8152 * 0.9 / 20) = 366 per page.
    item = BloatInput("index", "public", "t", "t_pkey", tuples=100_000, pages=1_000,
                      fillfactor=90, data_width=8.0)
    est = estimate_bloat(item)
    assert est is not None and est.expected_bytes == (1 + 274) * 8192
    [f] = bloat_findings([est], thresholds=TH)
    assert f.category == "index.bloat" and f.fix_sql == "REINDEX INDEX CONCURRENTLY t_pkey;"
    for bad in (BloatInput("table", "public", "t", "t", 10, 10, columns=3, columns_with_stats=2),
                BloatInput("table", "public", "t", "t", -1, 10),
                BloatInput("table", "public", "t", "t", 10, 10, has_name_type=True)):
        assert estimate_bloat(bad) is None


def test_severity_order_and_counts() -> None:
    fs = [Finding("b.x", "info", "1", {}), Finding("a.y", "critical", "2", {}),
          Finding("a.x", "warning", "3", {})]
    assert [f.severity for f in sort_findings(fs)] == ["critical", "warning", "info"]
    assert count_by_severity(fs) == {"critical": 1, "warning": 1, "info": 1}


def test_machine_parsers() -> None:
    assert parse_meminfo("MemTotal:       16314360 kB\nMemFree: 1 kB") == 16314360 * 1024
    assert parse_cpuinfo("processor\t: 0\nmodel\nprocessor\t: 1\n") == 2
    assert parse_cgroup_memory("max\n") is None and parse_cgroup_memory("2147483648") == 2 * 1024**3
    assert parse_cgroup_cpu("max 100000") is None and parse_cgroup_cpu("150000 100000") == 2
    assert all(is_local_host(h) for h in (None, "", "/var/run/postgresql", "localhost",
                                          "127.0.0.5", "::1", "[::1]"))
    assert not any(is_local_host(h) for h in ("10.0.0.1", "db.example.com", "localhost,10.1.1.1"))


def test_resolve_machine_sources() -> None:
    m = resolve_machine(memory_bytes=None, cores=None, storage=None, server=(8 * MB, 4),
                        local=True, local_reader=lambda: (1, 1))
    assert (m.memory_bytes, m.cores, m.source, m.storage, m.storage_assumed) == (
        8 * MB, 4, "server", "ssd", True)
    m = resolve_machine(memory_bytes=None, cores=None, storage="hdd", server=None, local=True,
                        local_reader=lambda: (2 * MB, 3))
    assert (m.memory_bytes, m.cores, m.source) == (2 * MB, 3, "local")
    m = resolve_machine(memory_bytes=64 * MB, cores=None, storage=None, server=None,
                        local=False)
    assert (m.memory_bytes, m.cores, m.source) == (64 * MB, None, "options")
    m = resolve_machine(memory_bytes=None, cores=None, storage=None, server=None, local=False)
    assert m.source == "unknown"
