"""The index advisor on crafted schemas with known right answers (private PostgreSQL 15)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
import pytest

from intperf.dbopt.connection import connect_target
from intperf.dbopt.index_advisor import IndexAdvice, advise_indexes, run_advisor
from intperf.dbopt.workload import read_workload
from intperf.errors import TargetDatabaseError

from .conftest import PgTarget

pytestmark = pytest.mark.integration

#: 200,000 orders of 1,000 customers in 20 statuses; created_at is a permutation, not in the
#: heap's order (so an index on it alone does not make ORDER BY created_at cheap).
ORDERS = """
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL,
                     total numeric NOT NULL, note text, created_at timestamptz NOT NULL);
INSERT INTO orders SELECT i, i % 1000, 'status' || (i % 20), i % 500, repeat('x', 40),
       timestamptz '2026-01-01' + (i * 7919 % 200000) * interval '1 minute'
       FROM generate_series(1, 200000) i;
VACUUM ANALYZE orders;
"""


def setup(target: PgTarget, ddl: str, workload: Sequence[tuple[str, Sequence[Any], int]]) -> None:
    """Build the schema, forget the set-up's statistics, run the workload."""
    with target.connect() as conn:
        # With asynchronous commit VACUUM may find the rows' commits not yet flushed and leave
        # the pages out of the visibility map: index-only scans would then look useless.
        conn.execute("SET synchronous_commit = on")
        for statement in ddl.split(";"):
            if statement.strip():
                conn.execute(statement)
        reset_statistics(conn)
        for query, params, times in workload:
            for _ in range(times):
                cur = conn.execute(query, params)
                if cur.description:
                    cur.fetchall()


def reset_statistics(conn: psycopg.Connection[Any]) -> None:
    """Start the statistics period now: the set-up's writes must not count (PostgreSQL 15
    flushes a backend's counters lazily, so flush them first)."""
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT 1")
    conn.execute("SELECT pg_stat_statements_reset(), pg_stat_reset()")


def advise(target: PgTarget, budget: int | None = None, **kw: Any) -> list[IndexAdvice]:
    with connect_target(target.dsn) as conn:
        return advise_indexes(conn, read_workload(conn), budget_bytes=budget, **kw)


def test_equality_lookup_gets_an_index_on_its_column(pg_target: PgTarget) -> None:
    setup(pg_target, ORDERS, [("SELECT * FROM orders WHERE customer_id = %s", (7,), 20)])
    (advice,) = advise(pg_target)
    assert advice.table == "public.orders"
    assert advice.columns == ("customer_id",) and not advice.include and advice.where is None
    assert advice.create_sql == (
        "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON public.orders (customer_id)")
    assert 1_000_000 < advice.estimated_bytes < 20_000_000
    (gain,) = advice.helps
    assert gain.calls == 20 and gain.cost_after < gain.cost_before / 5
    assert advice.workload_gain == pytest.approx(20 * (gain.cost_before - gain.cost_after),
                                                 rel=0.01)


def test_equality_then_sort_key(pg_target: PgTarget) -> None:
    setup(pg_target, ORDERS, [("SELECT * FROM orders WHERE status = %s ORDER BY created_at DESC"
                               " LIMIT 20", ("status3",), 20)])
    (advice,) = advise(pg_target)
    assert advice.columns == ("status", "created_at")


def test_covering_index_when_it_pays_and_the_budget_allows(pg_target: PgTarget) -> None:
    setup(pg_target, ORDERS, [("SELECT id, total FROM orders WHERE customer_id = %s", (7,), 50)])
    (covering,) = advise(pg_target)
    assert covering.columns == ("customer_id",)
    assert set(covering.include) == {"id", "total"}
    # A budget below the covering index's size but above the plain one's: the plain index.
    (plain,) = advise(pg_target, budget=covering.estimated_bytes - 1)
    assert plain.columns == ("customer_id",) and not plain.include
    assert plain.estimated_bytes < covering.estimated_bytes
    assert advise(pg_target, budget=100_000) == []  # nothing fits


def test_partial_index_for_is_null(pg_target: PgTarget) -> None:
    ddl = ORDERS + "UPDATE orders SET note = NULL WHERE id % 50 = 0; VACUUM ANALYZE orders;"
    setup(pg_target, ddl, [("SELECT id FROM orders WHERE note IS NULL AND customer_id = %s",
                            (7,), 30)])
    (best,) = advise(pg_target, budget=None)
    assert best.columns == ("customer_id",) and best.where == "note IS NULL"
    assert best.create_sql.endswith("WHERE note IS NULL")
    # 2% of the rows: a fraction of the full index's size
    assert best.estimated_bytes < 1_000_000
    (smaller,) = advise(pg_target, budget=best.estimated_bytes - 1)
    assert smaller.where == "note IS NULL" and not smaller.include


def test_max_indexes_and_several_tables(pg_target: PgTarget) -> None:
    ddl = ORDERS + """
    CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL, country text NOT NULL);
    INSERT INTO customers SELECT i, 'c' || i || '@x', 'C' || (i % 30)
           FROM generate_series(1, 50000) i;
    VACUUM ANALYZE customers;"""
    setup(pg_target, ddl, [
        ("SELECT * FROM orders WHERE customer_id = %s", (7,), 20),
        ("SELECT id FROM customers WHERE email = %s", ("c9@x",), 30),
        ("SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id"
         " WHERE c.email = %s", ("c9@x",), 10)])
    both = advise(pg_target)
    assert {(a.table, a.columns[0]) for a in both} == {("public.orders", "customer_id"),
                                                       ("public.customers", "email")}
    (one,) = advise(pg_target, max_indexes=1)
    best = max(both, key=lambda a: a.workload_gain)
    assert (one.table, one.columns) == (best.table, best.columns)


def test_write_heavy_table_rejects_a_marginal_index(pg_target: PgTarget) -> None:
    ddl = """
    CREATE TABLE events (id bigserial PRIMARY KEY, kind int NOT NULL, payload text);
    INSERT INTO events (kind, payload) SELECT i % 100, 'p' FROM generate_series(1, 20000) i;
    VACUUM ANALYZE events;"""
    lookup = ("SELECT count(*) FROM events WHERE kind = %s", (3,), 3)
    setup(pg_target, ddl, [lookup])
    assert [a.columns for a in advise(pg_target)] == [("kind",)]  # a quiet table: worth it
    with pg_target.connect() as conn:  # now 200,000 inserts in the same period
        conn.execute("INSERT INTO events (kind, payload)"
                     " SELECT i % 100, 'p' FROM generate_series(1, 200000) i")
        conn.execute("ANALYZE events")
    assert advise(pg_target) == []


def test_the_advisor_writes_nothing(pg_target: PgTarget) -> None:
    setup(pg_target, ORDERS, [("SELECT * FROM orders WHERE customer_id = %s", (7,), 5)])
    with connect_target(pg_target.dsn) as conn:  # a read-only session
        run = run_advisor(conn, read_workload(conn), budget_bytes=None, progress=lambda _: None)
        assert run.advice and run.whatif_calls > 0
        assert run.cost_after < run.cost_before
    with psycopg.connect(pg_target.dsn) as conn:
        rows = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'orders'")
        assert [r[0] for r in rows] == ["orders_pkey"]
        assert conn.execute("SELECT count(*) FROM hypopg_list_indexes").fetchone() == (0,)


def test_progress_and_skipped_statements(pg_target: PgTarget) -> None:
    setup(pg_target, ORDERS, [("SELECT * FROM orders WHERE customer_id = %s", (7,), 5),
                              ("SELECT count(*) FROM orders", (), 2),
                              ("INSERT INTO orders VALUES (%s, 1, 'x', 1, NULL, now())",
                               (10**9,), 1)])
    lines: list[str] = []
    with connect_target(pg_target.dsn) as conn:
        run = run_advisor(conn, read_workload(conn), budget_bytes=None, progress=lines.append)
    assert any("candidates" in line for line in lines)
    assert any("recommended" in line for line in lines)
    skipped = {run.statements[q].query.split()[0] for q in run.skipped}
    assert {"INSERT", "SELECT"} <= skipped  # the INSERT and the count(*) without a predicate
    assert all(run.statements[q].query != "SELECT * FROM orders WHERE customer_id = $1"
               for q in run.skipped)


def test_hypopg_missing_is_an_error(pg_target: PgTarget) -> None:
    setup(pg_target, ORDERS, [("SELECT * FROM orders WHERE customer_id = %s", (7,), 5)])
    with pg_target.connect() as conn:
        conn.execute("DROP EXTENSION hypopg")
    with pytest.raises(TargetDatabaseError, match="HypoPG"):
        advise(pg_target)
