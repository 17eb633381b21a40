"""A crafted schema and workload whose analysis has known right answers.

- ``customers_email_idx`` and ``customers_email_dup_idx`` are identical: one duplicate.
- ``orders_status_idx`` (status) leads ``orders_status_created_idx`` (status, created_at), which
  the workload uses: one prefix-redundant index.
- ``customers_name_idx`` is never scanned: the one unused index (``items_order_id_idx`` is never
  scanned either, but it is the index of a foreign key: not reported as unused).
- ``orders.customer_id`` references customers without an index: one unindexed foreign key.
- ``events`` (autovacuum disabled) had 3 of 4 rows deleted: dead tuples, and table bloat.
- The workload: lookups by email, a created_at/status range, a sort that spills to temporary
  files under ``work_mem = 64kB``, a slow ``pg_sleep`` statement and full scans of events.
"""

from __future__ import annotations

from typing import Any

import psycopg

ORDERS = 20_000
EVENTS = 20_000
SLEEP_QUERY_CALLS = 10

SCHEMA = """
CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL, name text NOT NULL);
CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    status text NOT NULL,
    created_at timestamptz NOT NULL,
    note text NOT NULL
);
CREATE TABLE items (
    id bigint PRIMARY KEY,
    order_id bigint NOT NULL REFERENCES orders (id),
    sku text NOT NULL
);
CREATE TABLE events (id bigint NOT NULL, payload text NOT NULL)
    WITH (autovacuum_enabled = false);
CREATE INDEX customers_email_idx ON customers (email);
CREATE INDEX customers_email_dup_idx ON customers (email);
CREATE INDEX customers_name_idx ON customers (name);
CREATE INDEX orders_status_idx ON orders (status);
CREATE INDEX orders_status_created_idx ON orders (status, created_at);
CREATE INDEX items_order_id_idx ON items (order_id);
"""

DATA = f"""
INSERT INTO customers SELECT g, 'c' || g || '@example.com', 'Customer ' || g
    FROM generate_series(1, 2000) g;
INSERT INTO orders SELECT g, 1 + g % 2000, (ARRAY['new', 'paid', 'shipped'])[1 + g % 3],
    timestamptz '2026-01-01' + g * interval '1 minute', md5(g::text) || md5((g * 7)::text)
    FROM generate_series(1, {ORDERS}) g;
INSERT INTO items SELECT g, 1 + g % {ORDERS}, 'sku-' || g % 100 FROM generate_series(1, 40000) g;
INSERT INTO events SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, {EVENTS}) g;
DELETE FROM events WHERE id % 4 <> 0;
"""

SLEEP_SQL = "SELECT pg_sleep(0.02), %s::int AS n"
SPILL_SQL = "SELECT id, note FROM orders ORDER BY note DESC, id"


def flush_statistics(conn: psycopg.Connection[Any]) -> None:
    """Make the backend publish its table and index counters before this returns.

    A PostgreSQL 15 backend flushes them when it goes idle at most once a second; after
    ``pg_stat_force_next_flush()`` the next idle point (before the answer to this statement is
    complete) flushes unconditionally.
    """
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT 1")


def build(dsn: str) -> None:
    """Create and fill the schema, then analyze it once the inserts are counted (otherwise
    they would count as rows modified since the last analyze)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute(DATA)
        flush_statistics(conn)
        conn.execute("ANALYZE customers, orders, items, events")


def run_workload(dsn: str) -> None:
    """Run the workload through psycopg (so pg_stat_statements sees it), its counters flushed."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")  # make the index choices deterministic
        for i in range(20):
            conn.execute("SELECT id FROM customers WHERE email = %s",
                         (f"c{i + 1}@example.com",)).fetchall()
            conn.execute("SELECT id FROM orders WHERE created_at >= %s AND created_at < %s"
                         " AND status = %s", ("2026-01-05", "2026-01-05 01:00", "paid")).fetchall()
        conn.execute("SET enable_seqscan = on")
        conn.execute("SET work_mem = '64kB'")
        for _ in range(3):
            conn.execute(SPILL_SQL).fetchall()
        conn.execute("RESET work_mem")
        for i in range(SLEEP_QUERY_CALLS):
            conn.execute(SLEEP_SQL, (i,)).fetchall()
        for _ in range(6):
            conn.execute("SELECT count(*) FROM events").fetchall()
        flush_statistics(conn)
