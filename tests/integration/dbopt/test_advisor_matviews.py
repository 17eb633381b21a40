"""Materialized-view and partitioning advice against the private PostgreSQL 15: the catalog
inputs, and the generated SQL runs and answers like the original statement."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from intperf.dbopt.analyze import AnalysisOptions, analyze
from intperf.dbopt.connection import connect_target
from intperf.dbopt.matviews import MatviewRules, read_column_types, suggest_matviews
from intperf.dbopt.partitioning import (
    PartitioningRules,
    plan_partitioning,
    read_table_profiles,
)
from intperf.dbopt.workload import read_workload

from .conftest import PgTarget
from .test_advisor import setup

pytestmark = pytest.mark.integration

SHOP = """
CREATE TABLE orders (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, status text);
CREATE TABLE order_items (id bigint PRIMARY KEY, order_id bigint NOT NULL, product_id int,
                          quantity int NOT NULL);
INSERT INTO orders SELECT i, timestamptz '2026-01-01' + i * interval '10 minutes', 'paid'
       FROM generate_series(1, 20000) i;
INSERT INTO order_items SELECT i, 1 + i / 3, i % 200, 1 + i % 4 FROM generate_series(1, 60000) i;
VACUUM ANALYZE orders; VACUUM ANALYZE order_items
"""
TOP = ("SELECT oi.product_id, sum(oi.quantity) AS q FROM order_items oi JOIN orders o"
       " ON o.id = oi.order_id WHERE o.created_at >= %s GROUP BY oi.product_id"
       " ORDER BY q DESC, oi.product_id LIMIT 10")


def test_matview_answers_like_the_statement(pg_target: PgTarget) -> None:
    since = datetime(2026, 3, 1, tzinfo=UTC)  # midnight: the day buckets are exact
    setup(pg_target, SHOP, [(TOP, (since,), 20)])
    with connect_target(pg_target.dsn) as conn:
        workload = read_workload(conn)
        types = read_column_types(conn, workload)
    assert types["orders"]["created_at"] == "timestamp with time zone"
    (advice,) = suggest_matviews(workload, types, MatviewRules(min_mean_ms=0.0, min_share=0.0,
                                                               period_s=3600, staleness_s=3600))
    with psycopg.connect(pg_target.dsn, autocommit=True) as conn:
        conn.execute(advice.create_sql)
        conn.execute(advice.index_sql)
        conn.execute(advice.refresh_sql)  # CONCURRENTLY works: the unique index is right
        original = conn.execute(TOP, (since,)).fetchall()
        read = conn.execute(advice.read_sql.replace("$1", "%s").replace("$2", "%s"),
                            (since, 10)).fetchall()
    assert read == original


def test_analyze_proposes_a_time_range_aggregate(pg_target: PgTarget) -> None:
    """Through analyze(): the column types make the time range a day bucket, and the period
    is the one pg_stat_statements covers (seconds here). With the default period of a day,
    288 refreshes would cost more than 20 calls save, and nothing would be proposed."""
    setup(pg_target, SHOP, [(TOP, (datetime(2026, 3, 1, tzinfo=UTC),), 20)])
    rules = MatviewRules(min_mean_ms=0.0, min_share=0.0)
    report = analyze(pg_target.dsn, AnalysisOptions(advise_indexes=False, matview_rules=rules))
    assert not [s for s in report.skipped if "materialized" in s["step"]], report.skipped
    (advice,) = report.matviews
    assert "o.created_at >= $1" in advice.query
    assert "date_trunc('day', o.created_at)" in advice.create_sql and not advice.exact
    statement = next(s for s in report.statements if s.queryid == advice.queryid)
    upper = statement.calls * statement.mean_ms * 0.95  # minus a few seconds' refreshes
    assert upper * 0.95 < advice.saved_ms <= upper
    assert report.to_dict()["matviews"][0]["name"] == advice.name


def test_partitioning_plan_from_the_catalog_runs(pg_target: PgTarget) -> None:
    setup(pg_target, SHOP, [])
    with pg_target.connect() as conn:  # a period of inserts only
        conn.execute("INSERT INTO orders SELECT i, timestamptz '2026-01-01' + i * interval"
                     " '10 minutes', 'paid' FROM generate_series(20001, 30000) i")
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("ANALYZE orders")
    rules = PartitioningRules(min_bytes=100_000, min_rows=1000, target_rows=1_000_000)
    with connect_target(pg_target.dsn) as conn:
        profiles = {p.table: p for p in read_table_profiles(conn, rules)}
    orders = profiles["public.orders"]
    assert orders.inserted >= 10_000 and orders.primary_key == ("id",)
    assert [c.name for c in orders.time_columns] == ["created_at"]
    plan = plan_partitioning(orders, rules, now=datetime(2026, 8, 1, tzinfo=UTC))
    assert plan is not None and plan.column == "created_at"
    with psycopg.connect(pg_target.dsn, autocommit=True) as conn:
        for statement in plan.ddl:
            conn.execute(statement)
        conn.execute("INSERT INTO orders_partitioned SELECT * FROM orders")
        count = conn.execute("SELECT count(*) FROM orders_partitioned").fetchone()
    assert count == (30000,)
