"""Table and B-tree index bloat **estimates** from the catalog and ``pg_stats``: the model of the
well-known estimation queries (ioguix's pgsql-bloat-estimation, as in pgexperts' pgx_scripts),
with the arithmetic done here in pure functions. No table is read (unlike pgstattuple).

Model (docs/dbopt.md, "Bloat estimates"): a heap tuple takes a 4-byte line pointer plus its
header (23 bytes and a null bitmap) and the average width of its columns from ``pg_stats``
(weighted by ``1 - null_frac``), each part aligned to MAXALIGN; a page holds
``(block_size - 24) * fillfactor / 100`` bytes of them; TOAST adds a page per 4 chunks. A
B-tree tuple takes an 8-byte header (12 with a null bitmap), aligned, plus its aligned data and
a line pointer; a page holds ``(block_size - 24 - 16) * fillfactor / 100`` bytes (fillfactor 90
by default), plus the metapage. Bloat is the actual size minus that estimate. Tables without
statistics for every column (never analyzed, or columns the role may not read) are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from intperf.dbopt.findings import Finding, Severity, Thresholds, format_bytes, qualified

__all__ = [
    "BloatEstimate",
    "BloatInput",
    "bloat_findings",
    "estimate_bloat",
    "read_bloat_inputs",
]

_TABLE_INPUTS_SQL = """/* intperf-dbopt */
SELECT 'table' AS kind, n.nspname AS schema, c.relname AS table_name, c.relname AS name,
       c.reltuples::float8 AS tuples, c.relpages::bigint AS pages,
       coalesce(toast.relpages, 0)::bigint AS toast_pages,
       coalesce(toast.reltuples, 0)::float8 AS toast_tuples,
       coalesce(substring(pg_catalog.array_to_string(c.reloptions, ' ')
                          FROM 'fillfactor=([0-9]+)')::int, 100) AS fillfactor,
       count(*) AS columns, count(s.attname) AS columns_with_stats,
       coalesce(bool_or(s.null_frac > 0), false) AS has_nulls,
       coalesce(sum((1 - s.null_frac) * s.avg_width), 0)::float8 AS data_width,
       bool_or(a.atttypid = 'pg_catalog.name'::pg_catalog.regtype) AS has_name_type
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_stats s
  ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = a.attname
 AND NOT s.inherited
LEFT JOIN pg_catalog.pg_class toast ON toast.oid = c.reltoastrelid
WHERE c.relkind IN ('r', 'm') AND c.relpages > 0
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
GROUP BY n.nspname, c.relname, c.reltuples, c.relpages, toast.relpages, toast.reltuples,
         c.reloptions
"""

_INDEX_INPUTS_SQL = """/* intperf-dbopt */
SELECT 'index' AS kind, n.nspname AS schema, t.relname AS table_name, c.relname AS name,
       c.reltuples::float8 AS tuples, c.relpages::bigint AS pages,
       0::bigint AS toast_pages, 0::float8 AS toast_tuples,
       coalesce(substring(pg_catalog.array_to_string(c.reloptions, ' ')
                          FROM 'fillfactor=([0-9]+)')::int, 90) AS fillfactor,
       count(*) AS columns, count(s.attname) AS columns_with_stats,
       coalesce(bool_or(s.null_frac > 0), false) AS has_nulls,
       coalesce(sum((1 - s.null_frac) * s.avg_width), 0)::float8 AS data_width,
       coalesce(bool_or(coalesce(ta.atttypid, ia.atttypid) = 'pg_catalog.name'::pg_catalog.regtype),
                false) AS has_name_type
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
JOIN pg_catalog.pg_am am ON am.oid = c.relam AND am.amname = 'btree'
CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, pos)
LEFT JOIN pg_catalog.pg_attribute ta
  ON k.attnum <> 0 AND ta.attrelid = i.indrelid AND ta.attnum = k.attnum
LEFT JOIN pg_catalog.pg_attribute ia
  ON k.attnum = 0 AND ia.attrelid = i.indexrelid AND ia.attnum = k.pos
LEFT JOIN pg_catalog.pg_stats s
  ON s.schemaname = n.nspname
 AND s.tablename = CASE WHEN k.attnum = 0 THEN c.relname ELSE t.relname END
 AND s.attname = coalesce(ta.attname, ia.attname) AND NOT s.inherited
WHERE c.relkind = 'i' AND c.relpages > 0
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
GROUP BY n.nspname, t.relname, c.relname, c.reltuples, c.relpages, c.reloptions
"""


@dataclass(frozen=True, slots=True)
class BloatInput:
    """What the estimate needs about one table or B-tree index."""

    kind: str  # "table" or "index"
    schema: str
    table: str
    name: str
    tuples: float
    pages: int
    toast_pages: int = 0
    toast_tuples: float = 0.0
    fillfactor: int = 100
    columns: int = 1
    columns_with_stats: int = 1
    has_nulls: bool = False
    data_width: float = 0.0
    has_name_type: bool = False


@dataclass(frozen=True, slots=True)
class BloatEstimate:
    """An estimate: actual bytes, the bytes the rows would need, and the difference."""

    kind: str
    schema: str
    table: str
    name: str
    real_bytes: int
    expected_bytes: int

    @property
    def bloat_bytes(self) -> int:
        """Estimated wasted bytes (0 when the estimate exceeds the actual size)."""
        return max(self.real_bytes - self.expected_bytes, 0)

    @property
    def ratio(self) -> float:
        """Estimated wasted share of the actual size."""
        return self.bloat_bytes / self.real_bytes if self.real_bytes else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (report ``bloat[]``)."""
        return {"kind": self.kind, "table": f"{self.schema}.{self.table}",
                "name": f"{self.schema}.{self.name}", "real_bytes": self.real_bytes,
                "expected_bytes": self.expected_bytes, "bloat_bytes": self.bloat_bytes,
                "bloat_ratio": round(self.ratio, 4), "estimate": True}


def read_bloat_inputs(conn: psycopg.Connection[Any]) -> list[BloatInput]:
    """The inputs of every user table and B-tree index with at least one page."""
    out: list[BloatInput] = []
    with conn.cursor(row_factory=dict_row) as cur:
        for query in (_TABLE_INPUTS_SQL, _INDEX_INPUTS_SQL):
            out.extend(BloatInput(
                kind=r["kind"], schema=r["schema"], table=r["table_name"], name=r["name"],
                tuples=float(r["tuples"]), pages=int(r["pages"]),
                toast_pages=int(r["toast_pages"]), toast_tuples=float(r["toast_tuples"]),
                fillfactor=int(r["fillfactor"]), columns=int(r["columns"]),
                columns_with_stats=int(r["columns_with_stats"]), has_nulls=bool(r["has_nulls"]),
                data_width=float(r["data_width"]), has_name_type=bool(r["has_name_type"]))
                for r in cur.execute(query).fetchall())
    return out


def _align(n: float, maxalign: int) -> int:
    """``n`` rounded up to a multiple of ``maxalign`` (PostgreSQL's MAXALIGN)."""
    return int(math.ceil(n / maxalign) * maxalign)


def estimate_bloat(item: BloatInput, *, block_size: int = 8192, maxalign: int = 8
                   ) -> BloatEstimate | None:
    """The estimate for one relation, or None when it cannot be trusted (missing statistics,
    a ``name`` column, never analyzed)."""
    if (item.columns_with_stats < item.columns or item.has_name_type or item.tuples < 0
            or item.pages <= 0):
        return None
    data = _align(math.ceil(item.data_width), maxalign)
    if item.kind == "table":
        header = 23 + ((item.columns + 7) // 8 if item.has_nulls else 0)
        tuple_bytes = 4 + _align(header, maxalign) + data
        per_page = (block_size - 24) * item.fillfactor / 100 / tuple_bytes
        pages = math.ceil(item.tuples / per_page) + math.ceil(item.toast_tuples / 4)
        real = item.pages + item.toast_pages
    else:
        header = 8 + (4 if item.has_nulls else 0)
        tuple_bytes = 4 + _align(header, maxalign) + data
        per_page = math.floor((block_size - 24 - 16) * item.fillfactor / 100 / tuple_bytes)
        pages = 1 + (math.ceil(item.tuples / per_page) if per_page > 0 else 0)
        real = item.pages
    return BloatEstimate(item.kind, item.schema, item.table, item.name, real * block_size,
                         pages * block_size)


def bloat_findings(estimates: Sequence[BloatEstimate], *, thresholds: Thresholds
                   ) -> list[Finding]:
    """Relations of at least ``bloat_min_bytes`` with an estimated ``bloat_ratio`` or more."""
    out: list[Finding] = []
    for e in estimates:
        if e.real_bytes < thresholds.bloat_min_bytes or e.ratio < thresholds.bloat_ratio:
            continue
        severity: Severity = ("critical" if e.ratio >= thresholds.bloat_critical_ratio
                    and e.bloat_bytes >= 100 * thresholds.redundant_index_bytes
                    else "warning" if e.bloat_bytes >= thresholds.redundant_index_bytes
                    else "info")
        what = "table" if e.kind == "table" else "index"
        evidence = {**e.to_dict(), "estimate": "catalog and pg_stats (no table read)"}
        if e.kind == "table":
            fix = f"VACUUM (FULL, ANALYZE) {qualified(e.schema, e.name)};"
            detail = ("An estimate from the catalog. VACUUM FULL rewrites the table under an "
                      "ACCESS EXCLUSIVE lock; pg_repack does the same online. Plain VACUUM "
                      "only makes the space reusable.")
        else:
            fix = f"REINDEX INDEX CONCURRENTLY {qualified(e.schema, e.name)};"
            detail = ("An estimate from the catalog (B-tree deduplication can make an index "
                      "smaller than estimated). REINDEX CONCURRENTLY rebuilds it without "
                      "blocking writes.")
        out.append(Finding(
            f"{what}.bloat", severity,
            f"{what} {e.schema}.{e.name}: estimated {e.ratio:.0%} bloat "
            f"({format_bytes(e.bloat_bytes)} of {format_bytes(e.real_bytes)})",
            evidence, fix, detail))
    return out
