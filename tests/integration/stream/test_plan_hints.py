"""Index hints from a real PostgreSQL 15: a generic plan, never executed, read-only."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from intperf.stream.plan_hints import PlanHints, psycopg_dsn
from intperf.stream.queries import normalize

pytestmark = pytest.mark.integration


@pytest.fixture
def orders_table(postgres_url: str) -> Iterator[tuple[str, str]]:
    """A 50,000-row table of orders without any index but its primary key: (DSN, name)."""
    dsn = psycopg_dsn(postgres_url)
    name = f"orders_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {name} (id bigserial PRIMARY KEY, customer_id int NOT NULL, "
            "status text NOT NULL, total numeric NOT NULL, created_at timestamptz NOT NULL)"
        )
        conn.execute(
            f"INSERT INTO {name} (customer_id, status, total, created_at) "
            "SELECT i % 2000, (ARRAY['new', 'paid', 'shipped'])[i % 3 + 1], i % 500, "
            "now() - i * interval '1 minute' FROM generate_series(1, 50000) AS i"
        )
        conn.execute(f"ANALYZE {name}")
    yield dsn, name
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE {name}")


def test_seq_scan_on_big_table_gives_index_hint_and_index_removes_it(
    orders_table: tuple[str, str],
) -> None:
    dsn, table = orders_table
    hints = PlanHints({"shop": dsn})
    query = normalize(f"SELECT id, total FROM {table} WHERE customer_id = 42 ORDER BY id")
    hint = hints.lookup(dsn, query)
    assert hint == (
        f"no index on {table}(customer_id): consider CREATE INDEX CONCURRENTLY ON "
        f"{table} (customer_id)"
    )
    # the cached call answers the same
    assert hints("shop", query) == hint
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE INDEX ON {table} (customer_id)")
        conn.execute(f"ANALYZE {table}")
    assert hints.lookup(dsn, query) is None


def test_equality_then_range_columns_and_low_selectivity(orders_table: tuple[str, str]) -> None:
    dsn, table = orders_table
    hints = PlanHints({"shop": dsn})
    both = normalize(
        f"SELECT * FROM {table} WHERE created_at > now() - interval '1 day' AND customer_id = 7"
    )
    assert hints.lookup(dsn, both) == (
        f"no index on {table}(customer_id, created_at): consider CREATE INDEX CONCURRENTLY "
        f"ON {table} (customer_id, created_at)"
    )
    # a third of the table matches: an index would not help, so no hint
    assert hints.lookup(dsn, normalize(f"SELECT * FROM {table} WHERE status = 'paid'")) is None


def test_statements_are_never_executed(orders_table: tuple[str, str]) -> None:
    dsn, table = orders_table
    hints = PlanHints({"shop": dsn})
    assert hints.lookup(dsn, normalize(f"DELETE FROM {table} WHERE customer_id = 3")) == (
        f"no index on {table}(customer_id): consider CREATE INDEX CONCURRENTLY ON "
        f"{table} (customer_id)"
    )
    hints.lookup(dsn, normalize(f"UPDATE {table} SET total = 0 WHERE customer_id = 3"))
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            f"SELECT count(*), count(*) FILTER (WHERE total = 0 AND customer_id = 3) FROM {table}"
        ).fetchone()
    assert row == (50_000, 0)


def test_refused_and_failing_statements_give_none_and_a_reason(
    orders_table: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    dsn, table = orders_table
    hints = PlanHints({"shop": dsn})
    caplog.set_level(logging.INFO, logger="intperf.stream.plan_hints")
    # two statements: refused before anything is sent
    assert hints("shop", f"SELECT 1; DROP TABLE {table}") is None
    # a column that does not exist: PREPARE fails, the reason is logged
    assert hints("shop", f"SELECT * FROM {table} WHERE nope = $1") is None
    assert hints("other-service", "SELECT 1") is None  # no DSN configured
    text = caplog.text
    assert "not a single SELECT/INSERT/UPDATE/DELETE" in text
    assert "42703" in text
    assert "127.0.0.1" not in text and "postgres@" not in text
    with psycopg.connect(dsn) as conn:
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (50_000,)


def test_unreachable_database_backs_off(caplog: pytest.LogCaptureFixture) -> None:
    clock = [0.0]
    dsn = "postgresql://intperf:secret-password@127.0.0.1:1/nowhere"
    hints = PlanHints({"shop": dsn}, connect_timeout_s=2, clock=lambda: clock[0])
    caplog.set_level(logging.INFO, logger="intperf.stream.plan_hints")
    assert hints("shop", "SELECT * FROM t WHERE a = $1") is None
    assert "cannot reach its database" in caplog.text
    assert "secret-password" not in caplog.text and "127.0.0.1" not in caplog.text
    caplog.clear()
    assert hints("shop", "SELECT * FROM t WHERE b = $1") is None  # backing off: not tried
    assert caplog.text == ""
