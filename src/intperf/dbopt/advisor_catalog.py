"""Catalog reads for the index advisor: the tables a workload names (columns, existing B-tree
indexes, write counters) and the length of the statistics periods. I/O, read-only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from intperf.dbopt.candidates import IndexCandidate, quote_table
from intperf.dbopt.connection import MARKER
from intperf.dbopt.workload import pgss_schema


@dataclass(frozen=True, slots=True)
class ExistingIndex:
    """A B-tree index already on the table ('' stands for an expression column)."""

    name: str
    columns: tuple[str, ...]
    include: tuple[str, ...]
    partial: bool
    unique: bool

    def serves(self, cand: IndexCandidate) -> bool:
        """True when this index already answers every lookup the candidate would."""
        if self.partial or cand.where is not None:
            return False
        if self.columns[: cand.width] != cand.columns:
            return False
        return set(cand.include) <= set(self.columns) | set(self.include)


@dataclass(frozen=True, slots=True)
class TableInfo:
    """One table of the workload: schema-qualified name, columns, indexes, write counters."""

    name: str  # "schema.relname" (parts unquoted)
    oid: int
    columns: tuple[str, ...]
    live_rows: int
    inserted: int
    updated: int
    hot_updated: int
    deleted: int
    indexes: tuple[ExistingIndex, ...]


def _sql(text: str) -> sql.SQL:
    return sql.SQL(MARKER + " " + text)


def read_tables(conn: psycopg.Connection[Any], names: Iterable[str]) -> dict[str, TableInfo]:
    """The ordinary tables and materialized views among `names` (as statements write them),
    keyed by those names; views, CTE names and unknown names are left out."""
    out: dict[str, TableInfo] = {}
    by_oid: dict[int, TableInfo] = {}
    with conn.cursor() as cur:
        for name in sorted(set(names)):
            cur.execute(_sql(
                "SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c"
                " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.oid = pg_catalog.to_regclass(%s) AND c.relkind IN ('r', 'm')"),
                (quote_table(name),))
            row = cur.fetchone()
            if row is None:
                continue
            oid = int(row[0])
            if oid not in by_oid:
                by_oid[oid] = _table(cur, oid, f"{row[1]}.{row[2]}")
            out[name] = by_oid[oid]
    conn.rollback()
    return out


def _table(cur: psycopg.Cursor[Any], oid: int, name: str) -> TableInfo:
    cur.execute(_sql("SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = %s"
                     " AND attnum > 0 AND NOT attisdropped ORDER BY attnum"), (oid,))
    columns = tuple(str(r[0]) for r in cur.fetchall())
    cur.execute(_sql(
        "SELECT coalesce(s.n_live_tup, c.reltuples::bigint, 0), coalesce(s.n_tup_ins, 0),"
        " coalesce(s.n_tup_upd, 0), coalesce(s.n_tup_hot_upd, 0), coalesce(s.n_tup_del, 0)"
        " FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_stat_user_tables s"
        " ON s.relid = c.oid WHERE c.oid = %s"), (oid,))
    stats = cur.fetchone() or (0, 0, 0, 0, 0)
    cur.execute(_sql(
        "SELECT ic.relname, i.indisunique, i.indpred IS NOT NULL, i.indnkeyatts,"
        " ARRAY(SELECT coalesce(a.attname, '') FROM unnest(i.indkey::int2[])"
        "       WITH ORDINALITY AS k(attnum, ord)"
        "       LEFT JOIN pg_catalog.pg_attribute a"
        "       ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.ord)"
        " FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid"
        " JOIN pg_catalog.pg_am am ON am.oid = ic.relam"
        " WHERE i.indrelid = %s AND am.amname = 'btree' AND i.indisvalid ORDER BY ic.relname"),
        (oid,))
    indexes = []
    for iname, unique, partial, nkey, cols in cur.fetchall():
        cols = tuple(str(c) for c in cols)
        indexes.append(ExistingIndex(str(iname), cols[:nkey], cols[nkey:], bool(partial),
                                     bool(unique)))
    return TableInfo(name, oid, columns, int(stats[0]), int(stats[1]), int(stats[2]),
                     int(stats[3]), int(stats[4]), tuple(indexes))


def index_names(conn: psycopg.Connection[Any], schema: str) -> set[str]:
    """Names of the relations in a schema (an index name must not collide with any)."""
    with conn.cursor() as cur:
        cur.execute(_sql("SELECT c.relname FROM pg_catalog.pg_class c"
                         " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                         " WHERE n.nspname = %s"), (schema,))
        names = {str(r[0]) for r in cur.fetchall()}
    conn.rollback()
    return names


def period_ratio(conn: psycopg.Connection[Any]) -> float:
    """Length of the pg_stat_statements period over the table statistics' period.

    Table write counters are multiplied by it so they cover the same time as the statements'
    call counts. Statistics never reset count from the server's start (an approximation).
    """
    schema = pgss_schema(conn)
    if schema is None or conn.info.server_version < 140000:
        conn.rollback()
        return 1.0
    with conn.cursor() as cur:
        cur.execute(_sql(
            "SELECT extract(epoch FROM now() - coalesce(i.stats_reset,"
            " pg_catalog.pg_postmaster_start_time())),"
            " extract(epoch FROM now() - coalesce(d.stats_reset,"
            " pg_catalog.pg_postmaster_start_time()))"
            " FROM {}.pg_stat_statements_info i, pg_catalog.pg_stat_database d"
            " WHERE d.datname = pg_catalog.current_database()").format(sql.Identifier(schema)))
        row = cur.fetchone()
    conn.rollback()
    if row is None or not row[1] or float(row[1]) <= 0:
        return 1.0
    return max(float(row[0]) / float(row[1]), 0.0)


def setting(conn: psycopg.Connection[Any], name: str, default: float) -> float:
    """A numeric server setting (``random_page_cost`` ...)."""
    with conn.cursor() as cur:
        cur.execute(_sql("SELECT pg_catalog.current_setting(%s, true)"), (name,))
        row = cur.fetchone()
    conn.rollback()
    try:
        return float(row[0]) if row and row[0] is not None else default
    except ValueError:
        return default
