"""Foreign keys whose referencing columns no index leads: every delete or key update on the
referenced table then scans the referencing table (docs/dbopt.md, "Foreign keys")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from intperf.dbopt.findings import Finding, Severity, Thresholds, qualified, quote_ident
from intperf.dbopt.inspect_indexes import IndexInfo

__all__ = ["ForeignKey", "fk_findings", "read_foreign_keys", "supporting_indexes",
           "unindexed_foreign_keys"]

_FKEYS_SQL = """/* intperf-dbopt */
SELECT con.conname AS name, n.nspname AS schema, t.relname AS table_name,
       con.conkey::int2[] AS attnums,
       ARRAY(SELECT a.attname::text
             FROM pg_catalog.unnest(con.conkey) WITH ORDINALITY AS k(attnum, pos)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
             ORDER BY k.pos) AS columns,
       rn.nspname AS ref_schema, rt.relname AS ref_table,
       greatest(coalesce(st.n_live_tup, 0), t.reltuples::bigint, 0) AS table_rows,
       coalesce(rs.n_tup_del, 0) + coalesce(rs.n_tup_upd, 0) AS ref_changes
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class t ON t.oid = con.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
JOIN pg_catalog.pg_class rt ON rt.oid = con.confrelid
JOIN pg_catalog.pg_namespace rn ON rn.oid = rt.relnamespace
LEFT JOIN pg_catalog.pg_stat_all_tables st ON st.relid = con.conrelid
LEFT JOIN pg_catalog.pg_stat_all_tables rs ON rs.relid = con.confrelid
WHERE con.contype = 'f'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
ORDER BY n.nspname, t.relname, con.conname
"""


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """A foreign-key constraint: the referencing table and columns, the referenced table."""

    name: str
    schema: str
    table: str
    attnums: tuple[int, ...]
    columns: tuple[str, ...]
    ref_schema: str
    ref_table: str
    table_rows: int = 0
    ref_changes: int = 0
    """Deletes plus updates on the referenced table since the statistics were reset."""


def read_foreign_keys(conn: psycopg.Connection[Any]) -> list[ForeignKey]:
    """Every foreign key of the user tables."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(_FKEYS_SQL).fetchall()
    return [ForeignKey(r["name"], r["schema"], r["table_name"],
                       tuple(int(a) for a in r["attnums"]), tuple(r["columns"]),
                       r["ref_schema"], r["ref_table"], int(r["table_rows"] or 0),
                       int(r["ref_changes"] or 0)) for r in rows]


def _supports(ix: IndexInfo, fk: ForeignKey) -> bool:
    """True when ``ix`` can find the referencing rows: a valid, non-partial B-tree whose
    leading key columns are the foreign key's columns in any order."""
    n = len(fk.attnums)
    return (ix.schema == fk.schema and ix.table == fk.table and ix.is_valid
            and ix.method == "btree" and ix.predicate is None and ix.nkeys >= n
            and set(ix.key_attnums[:n]) == set(fk.attnums))


def unindexed_foreign_keys(fkeys: Sequence[ForeignKey], indexes: Sequence[IndexInfo]
                           ) -> list[ForeignKey]:
    """The foreign keys no index supports (see :func:`_supports`)."""
    return [fk for fk in fkeys if not any(_supports(ix, fk) for ix in indexes)]


def supporting_indexes(fkeys: Sequence[ForeignKey], indexes: Sequence[IndexInfo]
                       ) -> set[int]:
    """The oids of indexes that support some foreign key (never "unused": deletes on the
    referenced table need them even when nothing else scans them)."""
    return {ix.oid for ix in indexes for fk in fkeys if _supports(ix, fk)}


def fk_findings(fkeys: Sequence[ForeignKey], indexes: Sequence[IndexInfo], *,
                thresholds: Thresholds) -> list[Finding]:
    """One finding per unindexed foreign key: a warning from ``fk_min_rows`` rows on."""
    out: list[Finding] = []
    for fk in unindexed_foreign_keys(fkeys, indexes):
        severity: Severity = "warning" if fk.table_rows >= thresholds.fk_min_rows else "info"
        cols = ", ".join(quote_ident(c) for c in fk.columns)
        out.append(Finding(
            "foreign-key.unindexed", severity,
            f"foreign key {fk.name} on {fk.schema}.{fk.table} ({', '.join(fk.columns)}) "
            "has no index",
            {"constraint": fk.name, "table": f"{fk.schema}.{fk.table}",
             "columns": list(fk.columns), "references": f"{fk.ref_schema}.{fk.ref_table}",
             "table_rows": fk.table_rows, "referenced_deletes_updates": fk.ref_changes},
            f"CREATE INDEX CONCURRENTLY ON {qualified(fk.schema, fk.table)} ({cols});",
            f"Deleting or re-keying a row of {fk.ref_table} scans {fk.table} for referencing "
            "rows (holding locks meanwhile), and joins on the key cannot use an index."))
    return out
