"""Duplicate, prefix-redundant and unused indexes and unindexed foreign keys, from catalog rows."""

from __future__ import annotations

from typing import Any

from intperf.dbopt.findings import Thresholds
from intperf.dbopt.inspect_fkeys import (
    ForeignKey,
    fk_findings,
    supporting_indexes,
    unindexed_foreign_keys,
)
from intperf.dbopt.inspect_indexes import (
    IndexInfo,
    duplicate_indexes,
    index_findings,
    redundant_indexes,
)

TEXT_OPS, INT_OPS = 3126, 1978
COLS = {0: "", 1: "id", 2: "customer_id", 3: "status", 4: "created_at", 5: "note"}
_oid = iter(range(1000, 10_000))


def ix(name: str, *attnums: int, include: tuple[int, ...] = (), table: str = "orders",
       **kw: Any) -> IndexInfo:
    keys = len(attnums)
    defaults: dict[str, Any] = {
        "oid": next(_oid), "schema": "public", "table": table, "name": name,
        "method": "btree", "attnums": (*attnums, *include),
        "columns": tuple(COLS[a] for a in (*attnums, *include)), "nkeys": keys,
        "opclasses": tuple(INT_OPS for _ in attnums), "collations": tuple(0 for _ in attnums),
        "options": tuple(0 for _ in attnums), "bytes": 20 * 1024 * 1024,
    }
    defaults.update(kw)
    return IndexInfo(**defaults)


def pairs(found: list[tuple[IndexInfo, IndexInfo]]) -> list[tuple[str, str]]:
    return [(a.name, b.name) for a, b in found]


def test_duplicates_keep_the_primary_key_then_the_most_used() -> None:
    pk = ix("orders_pkey", 1, is_unique=True, is_primary=True, constraint_name="orders_pkey")
    dup = ix("orders_id_idx", 1, is_unique=True)
    a = ix("orders_status_a", 3, scans=5)
    b = ix("orders_status_b", 3, scans=50)
    assert pairs(duplicate_indexes([pk, dup, a, b])) == [
        ("orders_id_idx", "orders_pkey"), ("orders_status_a", "orders_status_b")]


def test_not_duplicates_when_anything_differs() -> None:
    base = ix("s1", 3)
    others = [ix("s2", 3, opclasses=(TEXT_OPS,)), ix("s3", 3, options=(3,)),
              ix("s4", 3, predicate="(status <> 'done'::text)"), ix("s5", 3, method="hash"),
              ix("s6", 3, table="items"), ix("s7", 3, include=(5,)),
              ix("s8", 3, is_unique=True), ix("s9", 3, is_valid=False)]
    for other in others:
        assert duplicate_indexes([base, other]) == [], other.name


def test_prefix_redundancy() -> None:
    short = ix("o_status", 3)
    wide = ix("o_status_created", 3, 4)
    wider = ix("o_status_created_note", 3, 4, 5)
    assert pairs(redundant_indexes([short, wide, wider])) == [
        ("o_status", "o_status_created_note"), ("o_status_created", "o_status_created_note")]
    # A unique index is never redundant: it enforces something the wider one does not.
    assert redundant_indexes([ix("u", 3, is_unique=True), wide]) == []
    # Not a leading prefix, a different order, a partial wider index, an expression.
    assert redundant_indexes([ix("c", 4), wide]) == []
    assert redundant_indexes([ix("d", 3, options=(3,)), wide]) == []
    assert redundant_indexes([short, ix("p", 3, 4, predicate="(id > 0)")]) == []
    expr = "lower(status)"
    assert redundant_indexes([ix("e", 0, expressions=expr), ix("f", 0, 4, expressions=expr)]) == []
    # A non-unique index covered by a unique one on the same columns.
    assert pairs(redundant_indexes([short, ix("uq", 3, is_unique=True)])) == [("o_status", "uq")]
    # INCLUDE columns must be in the wider index.
    assert pairs(redundant_indexes([ix("i", 3, include=(4,)), wide])) == [("i", "o_status_created")]
    assert redundant_indexes([ix("j", 3, include=(5,)), wide]) == []


def test_one_drop_finding_per_index_and_unused_severity_rules() -> None:
    th = Thresholds()
    dup_a, dup_b = ix("dup_a", 3, scans=9), ix("dup_b", 3)
    unused_big = ix("big", 4, 5)
    unused_small = ix("small", 5, bytes=8192)
    fk_index = ix("fk", 2)
    pk = ix("pk", 1, is_primary=True, is_unique=True, constraint_name="pk")
    invalid = ix("broken", 2, 5, is_valid=False)
    found = index_findings([dup_a, dup_b, unused_big, unused_small, fk_index, pk, invalid],
                           stats_age_days=30, thresholds=th, fk_supporting={fk_index.oid})
    summary = sorted((f.category, f.evidence["index"], f.severity) for f in found)
    assert summary == [
        ("index.duplicate", "public.dup_b", "warning"),
        ("index.invalid", "public.broken", "warning"),
        ("index.unused", "public.big", "warning"),
        ("index.unused", "public.small", "info"),  # under 10 MB
    ]
    # Statistics younger than the minimum age: info, whatever the size, and said so.
    young = index_findings([unused_big], stats_age_days=2, thresholds=th)
    assert young[0].severity == "info" and "younger than 7 days" in (young[0].detail or "")
    assert young[0].fix_sql == "DROP INDEX CONCURRENTLY IF EXISTS big;"


def test_a_duplicate_backing_a_constraint_has_no_drop_fix() -> None:
    a = ix("a", 3, is_unique=True, constraint_name="orders_status_key", scans=0)
    b = ix("b", 3, is_unique=True, constraint_name="orders_status_key2", scans=0)
    [f] = index_findings([a, b], stats_age_days=30, thresholds=Thresholds())
    assert f.fix_sql is None and "DROP CONSTRAINT" in (f.detail or "")


def test_quoted_names_in_fix_sql() -> None:
    odd = ix("Order Index", 4, scans=0, schema="Sales")
    [f] = index_findings([odd], stats_age_days=30, thresholds=Thresholds())
    assert f.fix_sql == 'DROP INDEX CONCURRENTLY IF EXISTS "Sales"."Order Index";'


def fk(*attnums: int, rows: int = 50_000, table: str = "orders") -> ForeignKey:
    return ForeignKey(f"{table}_fk", "public", table, attnums,
                      tuple(COLS[a] for a in attnums), "public", "customers", rows, 12)


def test_foreign_keys_need_a_leading_index() -> None:
    one, two = fk(2), fk(2, 3)
    assert unindexed_foreign_keys([one, two], [ix("x", 2)]) == [two]
    assert unindexed_foreign_keys([one, two], [ix("x", 3, 2, 4)]) == [one]  # any order
    assert unindexed_foreign_keys([one], [ix("x", 4, 2)]) == [one]  # not leading
    assert unindexed_foreign_keys([one], [ix("x", 2, predicate="(id > 0)")]) == [one]
    assert unindexed_foreign_keys([one], [ix("x", 2, method="hash")]) == [one]
    leading, other = ix("s", 2, 4), ix("t", 4)
    assert supporting_indexes([one], [leading, other]) == {leading.oid}


def test_fk_findings_severity_and_fix() -> None:
    [big] = fk_findings([fk(2)], [], thresholds=Thresholds())
    assert big.category == "foreign-key.unindexed" and big.severity == "warning"
    assert big.fix_sql == "CREATE INDEX CONCURRENTLY ON orders (customer_id);"
    assert big.evidence["references"] == "public.customers"
    [small] = fk_findings([fk(2, 3, rows=10)], [], thresholds=Thresholds())
    assert small.severity == "info"
    assert small.fix_sql == "CREATE INDEX CONCURRENTLY ON orders (customer_id, status);"
