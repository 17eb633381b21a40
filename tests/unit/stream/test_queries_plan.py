"""Reading index hints out of plans (the pure half of stream/plan_hints.py)."""

from __future__ import annotations

from typing import Any

from intperf.stream.plan_hints import (
    PlanHints,
    SeqScan,
    TableFacts,
    filter_columns,
    index_hint,
    preparable,
    psycopg_dsn,
    quote_ident,
    seq_scans,
)

PLAN: list[dict[str, Any]] = [{"Plan": {
    "Node Type": "Limit", "Plan Rows": 20, "Plans": [{
        "Node Type": "Nested Loop", "Plan Rows": 25, "Plans": [
            {"Node Type": "Seq Scan", "Relation Name": "orders", "Schema": "public",
             "Alias": "o", "Plan Rows": 25, "Filter": "(o.customer_id = $1)"},
            {"Node Type": "Index Scan", "Relation Name": "customers", "Schema": "public",
             "Index Cond": "(c.id = o.customer_id)", "Plan Rows": 1},
            {"Node Type": "Seq Scan", "Relation Name": "tiny", "Schema": "public",
             "Plan Rows": 3},  # no filter
        ]}]}}]


def test_seq_scans_found_anywhere_in_the_plan() -> None:
    assert seq_scans(PLAN) == [SeqScan("public", "orders", "(o.customer_id = $1)", 25.0)]


def test_filter_columns() -> None:
    assert filter_columns("(o.customer_id = $1)") == (["customer_id"], [])
    assert filter_columns(
        "(((status)::text = $1) AND (created_at > (now() - ($2)::interval)) AND (id = ANY ($3)))"
    ) == (["status", "id"], ["created_at"])
    assert filter_columns("($1 < total)") == ([], ["total"])
    assert filter_columns("((a = $1) OR (b = $2))") == ([], [])  # no single index serves OR
    assert filter_columns("(a.x = b.y)") == ([], [])  # a join condition
    assert filter_columns("(lower(email) = $1)") == ([], [])  # an expression, not a column
    assert filter_columns("this is not SQL") == ([], [])


def test_index_hint_rules() -> None:
    big = {("public", "orders"): TableFacts(50_000, frozenset({"id"}))}
    scans = seq_scans(PLAN)
    assert index_hint(scans, big) == (
        "no index on orders(customer_id): consider CREATE INDEX CONCURRENTLY ON orders "
        "(customer_id)")
    indexed = {("public", "orders"): TableFacts(50_000, frozenset({"id", "customer_id"}))}
    assert index_hint(scans, indexed) is None
    small = {("public", "orders"): TableFacts(5_000, frozenset())}
    assert index_hint(scans, small) is None
    unselective = [SeqScan("public", "orders", "(status = $1)", 20_000.0)]
    assert index_hint(unselective, big) is None
    assert index_hint(scans, {}) is None
    odd = [SeqScan("Sales", "Order Lines", '("Customer" = $1)', 1.0)]
    facts = {("Sales", "Order Lines"): TableFacts(1e6, frozenset())}
    assert index_hint(odd, facts) == (
        'no index on "Sales"."Order Lines"("Customer"): consider CREATE INDEX CONCURRENTLY ON '
        '"Sales"."Order Lines" ("Customer")')
    assert quote_ident("orders") == "orders" and quote_ident('a"b') == '"a""b"'


def test_only_single_dml_statements_are_preparable() -> None:
    assert preparable("SELECT * FROM t WHERE a = $1 AND b IN ($2)") == 2
    assert preparable("UPDATE t SET a = $1 WHERE id = $2") == 2
    assert preparable("DELETE FROM t") == 0
    assert preparable("SELECT 1; DROP TABLE t") is None
    assert preparable("DROP TABLE t") is None
    assert preparable("SELECT * INTO copy FROM t") is None
    assert preparable("SELECT FROM WHERE (") is None


def test_dsn_and_services_without_one() -> None:
    assert psycopg_dsn("postgresql+psycopg://u@h:5/db") == "postgresql://u@h:5/db"
    assert psycopg_dsn("postgres://u@h/db") == "postgres://u@h/db"
    hints = PlanHints({"shop": "postgresql+psycopg://u@h/db"})
    assert hints.databases == {"shop": "postgresql://u@h/db"}
    assert hints("other", "SELECT 1") is None
    assert hints("shop", "") is None
