"""Materialized-view suggestions for repeated expensive aggregates (pure)."""

from __future__ import annotations

import pytest
from pglast import parse_sql

from intperf.dbopt.matviews import MatviewRules, matview_for, suggest_matviews
from intperf.dbopt.workload import Statement

TYPES = {"orders": {"created_at": "timestamp with time zone"},
         "order_items": {"quantity": "integer"}}


def stmt(query: str, calls: int = 5000, mean_ms: float = 300.0, qid: int = 1) -> Statement:
    return Statement(qid, query, calls, calls * mean_ms, mean_ms, calls, 0, 0, 0)


def _valid(sql: str) -> None:
    assert len(parse_sql(sql)) == 1, sql


def test_aggregate_without_parameters_is_materialized_as_is() -> None:
    a = matview_for(stmt("SELECT country, status, count(*) FROM users GROUP BY country, status"),
                    {}, MatviewRules())
    assert a is not None and a.exact
    assert a.create_sql.startswith(f"CREATE MATERIALIZED VIEW {a.name} AS SELECT country")
    assert a.index_sql == f"CREATE UNIQUE INDEX ON {a.name} (country, status);"
    assert a.read_sql == f"SELECT country, status, count_3 FROM {a.name}"
    assert a.refresh_sql == f"REFRESH MATERIALIZED VIEW CONCURRENTLY {a.name};"
    for sql in (a.create_sql, a.index_sql, a.read_sql, a.refresh_sql):
        _valid(sql)


def test_equality_parameter_becomes_a_key_column() -> None:
    a = matview_for(stmt("SELECT category_id, avg(price) FROM products WHERE seller_id = $1 "
                         "GROUP BY category_id"), {}, MatviewRules())
    assert a is not None and a.exact
    assert "seller_id AS seller_id_eq" in a.create_sql
    assert "(seller_id_eq, category_id)" in a.index_sql
    assert a.read_sql.endswith("WHERE seller_id_eq = $1")


def test_time_range_is_bucketed_by_day_and_reaggregated() -> None:
    q = ("SELECT oi.product_id, sum(oi.quantity) AS q FROM order_items oi JOIN orders o "
         "ON o.id = oi.order_id WHERE o.created_at >= $1 GROUP BY oi.product_id "
         "ORDER BY q DESC LIMIT $2")
    a = matview_for(stmt(q), TYPES, MatviewRules())
    assert a is not None and not a.exact
    assert "date_trunc('day', o.created_at) AS created_at_day" in a.create_sql
    assert "(created_at_day, product_id)" in a.index_sql
    assert ("SELECT product_id, sum(q) AS q FROM " + a.name) in a.read_sql
    assert "created_at_day >= date_trunc('day', $1::timestamp with time zone)" in a.read_sql
    assert a.read_sql.endswith("GROUP BY product_id ORDER BY q DESC LIMIT $2")
    for sql in (a.create_sql, a.index_sql, a.read_sql):
        _valid(sql)


@pytest.mark.parametrize("query", [
    "SELECT id FROM orders WHERE user_id = $1",  # not an aggregate
    "SELECT count(*) FROM orders",  # no GROUP BY
    "SELECT status, count(*) FROM orders WHERE note LIKE $1 GROUP BY status",  # LIKE $1
    "SELECT date_trunc($1, created_at), count(*) FROM orders GROUP BY 1",  # param in SELECT
    # a range on a column whose type is unknown
    "SELECT status, count(*) FROM orders WHERE total > $1 GROUP BY status",
    # avg cannot be re-aggregated from day buckets
    "SELECT status, avg(total) FROM orders WHERE created_at >= $1 GROUP BY status",
    "SELECT a FROM t UNION SELECT b FROM u",
    "not sql at all",
])
def test_not_materializable(query: str) -> None:
    assert matview_for(stmt(query), TYPES, MatviewRules()) is None


def test_only_repeated_expensive_statements_qualify() -> None:
    q = "SELECT country, count(*) FROM users GROUP BY country"
    statements = [stmt(q, qid=1), stmt(q, calls=3, qid=2), stmt(q, mean_ms=1.0, qid=3),
                  stmt("SELECT id FROM users WHERE id = $1", calls=10**7, mean_ms=0.05, qid=4)]
    found = suggest_matviews(statements, TYPES)
    assert [a.queryid for a in found] == [1]
    assert found[0].saved_ms > 0


def test_refresh_strategy_follows_the_staleness_tolerance() -> None:
    q = stmt("SELECT country, count(*) FROM users GROUP BY country")
    hourly = matview_for(q, {}, MatviewRules(staleness_s=3600))
    assert hourly is not None and "every 1 h" in hourly.refresh
    often = matview_for(q, {}, MatviewRules(staleness_s=300))
    assert often is not None and "every 5 min" in often.refresh
    assert often.saved_ms < hourly.saved_ms  # more refreshes cost more
    slow = matview_for(stmt("SELECT country, count(*) FROM users GROUP BY country",
                            mean_ms=600_000), {}, MatviewRules(staleness_s=300))
    assert slow is not None and slow.refresh.startswith("none fits") and slow.saved_ms == 0


def test_cheap_refresh_versus_rare_calls_is_not_worth_it() -> None:
    rare = stmt("SELECT country, count(*) FROM users GROUP BY country", calls=20)
    assert suggest_matviews([rare], {}, MatviewRules(staleness_s=60)) == []
