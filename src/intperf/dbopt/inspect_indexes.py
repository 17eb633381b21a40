"""Indexes: read the catalog (:func:`read_indexes`), then pure rules for unused, duplicate,
prefix-redundant and invalid indexes (docs/dbopt.md, "Indexes")."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from intperf.dbopt.findings import Finding, Severity, Thresholds, format_bytes, qualified

__all__ = [
    "IndexInfo",
    "duplicate_indexes",
    "index_findings",
    "read_indexes",
    "redundant_indexes",
]

# Every query keeps to user schemas: not the catalogs, TOAST or sessions' temporary schemas.

_INDEXES_SQL = """/* intperf-dbopt */
SELECT i.indexrelid::bigint AS oid, n.nspname AS schema, t.relname AS table_name,
       c.relname AS name, am.amname AS method, i.indisunique AS is_unique,
       i.indisprimary AS is_primary, i.indisvalid AS is_valid, i.indnkeyatts AS nkeys,
       i.indkey::int2[] AS attnums, i.indclass::oid[] AS opclasses,
       i.indcollation::oid[] AS collations, i.indoption::int2[] AS options,
       ARRAY(SELECT coalesce(a.attname::text, '')
             FROM pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, pos)
             LEFT JOIN pg_catalog.pg_attribute a
               ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             ORDER BY k.pos) AS columns,
       pg_catalog.pg_get_expr(i.indexprs, i.indrelid) AS expressions,
       pg_catalog.pg_get_expr(i.indpred, i.indrelid) AS predicate,
       pg_catalog.pg_get_indexdef(i.indexrelid) AS definition,
       (SELECT con.conname FROM pg_catalog.pg_constraint con
         WHERE con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x')
           AND con.conrelid = i.indrelid LIMIT 1) AS constraint_name,
       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint f
                WHERE f.contype = 'f' AND f.conindid = i.indexrelid) AS referenced_by_fk,
       pg_catalog.pg_relation_size(i.indexrelid) AS bytes,
       coalesce(s.idx_scan, 0) AS scans, t.reltuples::bigint AS table_rows
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid AND c.relkind = 'i'
JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
JOIN pg_catalog.pg_am am ON am.oid = c.relam
LEFT JOIN pg_catalog.pg_stat_all_indexes s ON s.indexrelid = i.indexrelid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
  AND t.oid::bigint <> ALL(%(exclude)s::bigint[])
  AND i.indexrelid::bigint <> ALL(%(exclude)s::bigint[])
ORDER BY n.nspname, t.relname, c.relname
"""


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """One index as the catalog and the statistics describe it.

    ``attnums``/``columns`` cover key then INCLUDE columns (``nkeys`` of them are keys); an
    expression column has attnum 0 and name ``""``. ``opclasses``, ``collations`` and
    ``options`` (ASC/DESC, NULLS FIRST) cover the key columns only.
    """

    oid: int
    schema: str
    table: str
    name: str
    method: str
    attnums: tuple[int, ...]
    columns: tuple[str, ...]
    nkeys: int
    bytes: int = 0
    scans: int = 0
    is_unique: bool = False
    is_primary: bool = False
    is_valid: bool = True
    opclasses: tuple[int, ...] = ()
    collations: tuple[int, ...] = ()
    options: tuple[int, ...] = ()
    expressions: str | None = None
    predicate: str | None = None
    definition: str = ""
    constraint_name: str | None = None
    referenced_by_fk: bool = False
    table_rows: int = 0

    @property
    def qualified_name(self) -> str:
        """The index name for SQL."""
        return qualified(self.schema, self.name)

    @property
    def qualified_table(self) -> str:
        """The table name for SQL."""
        return qualified(self.schema, self.table)

    @property
    def key_attnums(self) -> tuple[int, ...]:
        """The key columns' attribute numbers."""
        return self.attnums[: self.nkeys]

    @property
    def enforces(self) -> bool:
        """True when dropping it would drop a guarantee (uniqueness, a constraint, an FK)."""
        return (self.is_unique or self.is_primary or self.constraint_name is not None
                or self.referenced_by_fk)

    def evidence(self) -> dict[str, Any]:
        """The numbers findings about this index cite."""
        return {"index": f"{self.schema}.{self.name}", "table": f"{self.schema}.{self.table}",
                "bytes": self.bytes, "scans": self.scans, "definition": self.definition}


def read_indexes(conn: psycopg.Connection[Any], *, exclude: Collection[int] = ()
                 ) -> list[IndexInfo]:
    """Every index on user tables, with its size and scan count; not those of (or in) the
    relations in ``exclude`` (oids: locked ones)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_INDEXES_SQL, {"exclude": list(exclude)}).fetchall()
    return [IndexInfo(
        oid=int(r["oid"]), schema=r["schema"], table=r["table_name"], name=r["name"],
        method=r["method"], attnums=tuple(int(a) for a in r["attnums"]),
        columns=tuple(r["columns"]), nkeys=int(r["nkeys"]), bytes=int(r["bytes"] or 0),
        scans=int(r["scans"] or 0), is_unique=bool(r["is_unique"]),
        is_primary=bool(r["is_primary"]), is_valid=bool(r["is_valid"]),
        opclasses=tuple(int(o) for o in r["opclasses"]),
        collations=tuple(int(o) for o in r["collations"]),
        options=tuple(int(o) for o in r["options"]), expressions=r["expressions"],
        predicate=r["predicate"], definition=r["definition"] or "",
        constraint_name=r["constraint_name"], referenced_by_fk=bool(r["referenced_by_fk"]),
        table_rows=max(int(r["table_rows"] or 0), 0)) for r in rows]


def _signature(ix: IndexInfo) -> tuple[Any, ...]:
    """Everything that makes two indexes answer the same queries identically."""
    return (ix.schema, ix.table, ix.method, ix.attnums, ix.nkeys, ix.opclasses, ix.collations,
            ix.options, ix.expressions, ix.predicate, ix.is_unique)


def _keep_rank(ix: IndexInfo) -> tuple[int, int, int, int, int]:
    """Lower sorts first: the index to keep among equivalent ones."""
    return (0 if ix.is_primary else 1, 0 if ix.constraint_name else 1,
            0 if ix.referenced_by_fk else 1, -ix.scans, ix.oid)


def duplicate_indexes(indexes: Iterable[IndexInfo]) -> list[tuple[IndexInfo, IndexInfo]]:
    """``(drop, keep)`` pairs: valid indexes identical in columns, operator classes, order,
    expressions, predicate and uniqueness. The kept one is the primary key, else the one
    backing a constraint or a foreign key, else the most scanned, else the oldest."""
    groups: dict[tuple[Any, ...], list[IndexInfo]] = defaultdict(list)
    for ix in indexes:
        if ix.is_valid:
            groups[_signature(ix)].append(ix)
    pairs: list[tuple[IndexInfo, IndexInfo]] = []
    for members in groups.values():
        if len(members) > 1:
            keep, *drop = sorted(members, key=_keep_rank)
            pairs.extend((d, keep) for d in drop)
    return pairs


def _covers(big: IndexInfo, small: IndexInfo) -> bool:
    """True when ``big`` answers every query ``small`` answers (B-tree key prefix rule)."""
    n = small.nkeys
    return (big.oid != small.oid and big.schema == small.schema and big.table == small.table
            and big.method == small.method == "btree" and big.is_valid
            and small.expressions is None and n <= big.nkeys
            and 0 not in big.key_attnums[:n]
            and big.key_attnums[:n] == small.key_attnums
            and big.opclasses[:n] == small.opclasses
            and big.collations[:n] == small.collations
            and big.options[:n] == small.options
            and big.predicate == small.predicate
            and set(small.attnums[n:]) <= set(big.attnums))


def redundant_indexes(indexes: Sequence[IndexInfo]) -> list[tuple[IndexInfo, IndexInfo]]:
    """``(redundant, covering)`` pairs: a non-unique B-tree whose key columns are a leading
    prefix of another B-tree's on the same table (same operator classes, collations, order and
    predicate; its INCLUDE columns within the other's columns). Exact duplicates are left to
    :func:`duplicate_indexes`. The covering index named is the widest one."""
    duplicates = {id(d) for d, _ in duplicate_indexes(indexes)}
    pairs: list[tuple[IndexInfo, IndexInfo]] = []
    for small in indexes:
        if small.enforces or not small.is_valid or id(small) in duplicates:
            continue
        covering = [big for big in indexes if id(big) not in duplicates and _covers(big, small)
                    and _signature(big) != _signature(small)]
        if covering:
            best = min(covering, key=lambda b: (-b.nkeys, *_keep_rank(b)))
            pairs.append((small, best))
    return pairs


def _drop_sql(ix: IndexInfo) -> str:
    return f"DROP INDEX CONCURRENTLY IF EXISTS {ix.qualified_name};"


def index_findings(indexes: Sequence[IndexInfo], *, stats_age_days: float | None,
                   thresholds: Thresholds, fk_supporting: Collection[int] = ()
                   ) -> list[Finding]:
    """Findings for duplicate, redundant, unused and invalid indexes.

    An index gets at most one "drop" finding: duplicate before redundant before unused. The
    indexes in ``fk_supporting`` (oids) are never reported unused: a foreign key needs them.
    """
    out: list[Finding] = []
    reported: set[int] = set()
    for drop, keep in duplicate_indexes(indexes):
        reported.add(drop.oid)
        # Uniqueness stays enforced by the identical index kept; a constraint or a foreign key
        # depending on this very index must be moved first.
        blocked = drop.constraint_name is not None or drop.referenced_by_fk
        fix = None if blocked else _drop_sql(drop)
        detail = f"Identical to {keep.name}: every write maintains both for nothing."
        if drop.constraint_name is not None:
            detail += (f" It backs constraint {drop.constraint_name}: drop that constraint "
                       "instead (ALTER TABLE ... DROP CONSTRAINT), the other index remains.")
        elif drop.referenced_by_fk:
            detail += (" A foreign key depends on it: recreate the foreign key after dropping "
                       "it so that it uses the other index.")
        out.append(Finding(
            "index.duplicate", "warning",
            f"index {drop.schema}.{drop.name} duplicates {keep.name} on {drop.table}",
            {**drop.evidence(), "duplicate_of": f"{keep.schema}.{keep.name}"}, fix, detail))
    for small, big in redundant_indexes(indexes):
        if small.oid in reported:
            continue
        reported.add(small.oid)
        big_enough = small.bytes >= thresholds.redundant_index_bytes
        severity: Severity = "warning" if big_enough else "info"
        out.append(Finding(
            "index.redundant", severity,
            f"index {small.schema}.{small.name} is covered by {big.name} on {small.table}",
            {**small.evidence(), "covered_by": f"{big.schema}.{big.name}",
             "covered_by_definition": big.definition},
            _drop_sql(small),
            f"Its key columns lead {big.name}, which serves the same lookups and orderings; "
            f"dropping it saves {format_bytes(small.bytes)} and a write per row change."))
    for ix in indexes:
        if ix.oid in reported:
            continue
        if not ix.is_valid:
            out.append(Finding(
                "index.invalid", "warning", f"index {ix.schema}.{ix.name} is invalid",
                ix.evidence(), _drop_sql(ix),
                "A failed CREATE INDEX CONCURRENTLY left it behind: it is maintained on "
                "every write but never used. Drop it, then create it again if it is needed."))
        elif ix.scans == 0 and not ix.enforces and ix.oid not in fk_supporting:
            out.append(_unused(ix, stats_age_days, thresholds))
    return out


def _unused(ix: IndexInfo, stats_age_days: float | None, thresholds: Thresholds) -> Finding:
    old_enough = stats_age_days is not None and stats_age_days >= thresholds.unused_min_days
    big = ix.bytes >= thresholds.unused_index_bytes
    severity: Severity = "warning" if old_enough and big else "info"
    age = "an unknown time" if stats_age_days is None else f"{stats_age_days:.1f} days"
    detail = (f"Never scanned since the statistics were reset {age} ago; every write still "
              "maintains it. Check replicas too (their scans are counted there) before "
              "dropping it.")
    if not old_enough:
        detail += (f" The statistics are younger than {thresholds.unused_min_days:g} days: "
                   "let a full business cycle pass before deciding.")
    return Finding("index.unused", severity,
                   f"index {ix.schema}.{ix.name} on {ix.table} is unused "
                   f"({format_bytes(ix.bytes)})",
                   {**ix.evidence(), "stats_age_days": None if stats_age_days is None
                    else round(stats_age_days, 2)},
                   _drop_sql(ix), detail)
