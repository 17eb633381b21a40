"""Declarative range partitioning for big append-mostly tables with a time column: the rule,
the interval from the row rate, the DDL, the migration steps and a retention suggestion.
`plan_partitioning` is pure; `read_table_profiles` reads its inputs from the catalog."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import sql

from intperf.dbopt.candidates import quote_table
from intperf.dbopt.connection import MARKER
from intperf.dbopt.query_model import quote_ident

Interval = Literal["day", "week", "month"]
_DAYS: dict[Interval, int] = {"day": 1, "week": 7, "month": 30}
#: Retention suggested per interval (detach older partitions) when the data is older.
RETENTION: dict[Interval, tuple[int, str]] = {"day": (90, "90 days"), "week": (26, "26 weeks"),
                                              "month": (13, "13 months")}
TIME_TYPES = ("timestamp with time zone", "timestamp without time zone", "date")


@dataclass(frozen=True, slots=True)
class TimeColumn:
    """A candidate partition key: its type, correlation with the physical order and range."""

    name: str
    type: str
    correlation: float | None = None  # pg_stats.correlation: ~1 for append order
    lowest: datetime | None = None  # first histogram bound
    highest: datetime | None = None  # last histogram bound


@dataclass(frozen=True, slots=True)
class TableProfile:
    """What the partitioning rule needs to know about a table."""

    table: str  # schema-qualified
    rows: int
    bytes: int
    inserted: int  # since the statistics period began
    updated: int
    deleted: int
    period_s: float  # length of that period
    time_columns: tuple[TimeColumn, ...] = ()
    primary_key: tuple[str, ...] = ()
    partitioned: bool = False
    referenced_by: tuple[str, ...] = ()  # tables with foreign keys to this one


@dataclass(frozen=True, slots=True)
class PartitioningRules:
    """Thresholds of the rule (docs/dbopt.md, "Partitioning")."""

    min_bytes: int = 1 << 30  # 1 GiB
    min_rows: int = 10_000_000
    max_change_ratio: float = 0.1  # (updates + deletes) / inserts: append-mostly below this
    target_rows: int = 10_000_000  # rows per partition the interval aims below
    max_partitions: int = 400
    premake: int = 3  # future partitions created ahead


@dataclass(frozen=True, slots=True)
class PartitionPlan:
    """A range-partitioning plan for one table."""

    table: str
    column: str
    interval: Interval
    rows_per_day: float
    partitions: int
    ddl: tuple[str, ...]
    migration: tuple[str, ...]
    retention: str | None
    retention_sql: str | None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {"table": self.table, "column": self.column, "interval": self.interval,
                "rows_per_day": round(self.rows_per_day, 1), "partitions": self.partitions,
                "ddl": list(self.ddl), "migration": list(self.migration),
                "retention": self.retention, "retention_sql": self.retention_sql,
                "notes": list(self.notes)}


def choose_interval(rows_per_day: float, rules: PartitioningRules) -> Interval:
    """The longest interval whose partitions stay under ``target_rows``."""
    order: tuple[Interval, ...] = ("month", "week", "day")
    for interval in order:
        if rows_per_day * _DAYS[interval] <= rules.target_rows:
            return interval
    return "day"


def rows_per_day(p: TableProfile, column: TimeColumn | None) -> float:
    """Insert rate from the statistics period, else rows over the time column's span."""
    if p.inserted > 0 and p.period_s > 0:
        return p.inserted / (p.period_s / 86400.0)
    if column and column.lowest and column.highest and column.highest > column.lowest:
        days = (column.highest - column.lowest).total_seconds() / 86400.0
        return p.rows / max(days, 1.0)
    return 0.0


def pick_time_column(p: TableProfile) -> TimeColumn | None:
    """The time column most correlated with the physical order (append order)."""
    usable = [c for c in p.time_columns if c.type in TIME_TYPES]
    if not usable:
        return None
    return max(usable, key=lambda c: (abs(c.correlation or 0.0), c.name == "created_at", c.name))


def plan_partitioning(p: TableProfile, rules: PartitioningRules | None = None,
                      now: datetime | None = None) -> PartitionPlan | None:
    """The plan, or None when the table is small, not append-mostly, has no time column or is
    partitioned already."""
    rules = rules or PartitioningRules()
    if p.partitioned or (p.bytes < rules.min_bytes and p.rows < rules.min_rows):
        return None
    if p.inserted <= 0 or (p.updated + p.deleted) > rules.max_change_ratio * p.inserted:
        return None
    column = pick_time_column(p)
    if column is None:
        return None
    now = now or datetime.now(UTC)
    rate = rows_per_day(p, column)
    interval = choose_interval(rate, rules)
    start = _floor(column.lowest or now, interval)
    bounds = _bounds(start, now, interval, rules.premake)
    while len(bounds) - 1 > rules.max_partitions and interval != "month":
        interval = "week" if interval == "day" else "month"
        bounds = _bounds(_floor(column.lowest or now, interval), now, interval, rules.premake)
    ddl = _ddl(p, column.name, interval, bounds)
    notes = []
    if p.primary_key and column.name not in p.primary_key:
        notes.append(f"the primary key ({', '.join(p.primary_key)}) must include the partition "
                     f"key: it becomes ({', '.join((*p.primary_key, column.name))})")
    if p.referenced_by:
        notes.append("foreign keys from " + ", ".join(p.referenced_by) + " must be re-created "
                     "against the partitioned table (they need the new primary key)")
    keep, text = RETENTION[interval]
    span_days = (now - (column.lowest or now)).total_seconds() / 86400.0
    retention = retention_sql = None
    if span_days > keep * _DAYS[interval]:
        retention = (f"keep {text}: detach and drop older partitions "
                     f"(data goes back {span_days:,.0f} days)")
        oldest = _name(p.table, bounds[0], interval)
        retention_sql = (f"ALTER TABLE {quote_table(p.table)} DETACH PARTITION "
                         f"{quote_table(oldest)} CONCURRENTLY; DROP TABLE {quote_table(oldest)};")
    return PartitionPlan(p.table, column.name, interval, rate, len(bounds) - 1, tuple(ddl),
                         tuple(_migration(p, column.name, interval, bounds, now)), retention,
                         retention_sql, tuple(notes))


def _floor(t: datetime, interval: Interval) -> datetime:
    t = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "month":
        return t.replace(day=1)
    if interval == "week":
        return t - timedelta(days=t.weekday())
    return t


def _next(t: datetime, interval: Interval) -> datetime:
    if interval == "month":
        return t.replace(year=t.year + t.month // 12, month=t.month % 12 + 1)
    return t + timedelta(days=_DAYS[interval])


def _bounds(start: datetime, now: datetime, interval: Interval, premake: int) -> list[datetime]:
    out = [start]
    end = _floor(now, interval)
    for _ in range(premake):
        end = _next(end, interval)
    while out[-1] < end:
        out.append(_next(out[-1], interval))
    return out


def _name(table: str, start: datetime, interval: Interval) -> str:
    fmt = {"day": "%Y%m%d", "week": "%Y%m%d", "month": "%Y%m"}[interval]
    return f"{table}_p{start.strftime(fmt)}"


def _literal(t: datetime) -> str:
    return str(sql.Literal(t.isoformat()).as_string())


def _ddl(p: TableProfile, column: str, interval: Interval, bounds: Sequence[datetime]
         ) -> list[str]:
    parent = f"{p.table}_partitioned"
    qp = quote_table(parent)
    out = [f"CREATE TABLE {qp} (LIKE {quote_table(p.table)} INCLUDING DEFAULTS INCLUDING "
           f"CONSTRAINTS INCLUDING GENERATED INCLUDING IDENTITY INCLUDING STORAGE "
           f"INCLUDING COMMENTS) PARTITION BY RANGE ({quote_ident(column)});"]
    if p.primary_key:
        key = list(dict.fromkeys((*p.primary_key, column)))
        out.append(f"ALTER TABLE {qp} ADD PRIMARY KEY ({', '.join(map(quote_ident, key))});")
    for lo, hi in itertools.pairwise(bounds):
        out.append(f"CREATE TABLE {quote_table(_name(parent, lo, interval))} PARTITION OF {qp} "
                   f"FOR VALUES FROM ({_literal(lo)}) TO ({_literal(hi)});")
    return out


def _migration(p: TableProfile, column: str, interval: Interval, bounds: Sequence[datetime],
               now: datetime) -> list[str]:
    # Steps shown to the user (never run by us); identifiers are quoted.
    old, new = quote_table(p.table), quote_table(f"{p.table}_partitioned")
    col = quote_ident(column)
    legacy = quote_ident(f"{p.table.rsplit('.', 1)[-1]}_legacy")
    bare = quote_ident(p.table.rsplit(".", 1)[-1])
    cutoff = _literal(_floor(now, interval))
    return [
        f"1. Create {new} and its {len(bounds) - 1} partitions (the DDL above), outside peak "
        "hours; nothing reads it yet.",
        f"2. Copy the history in batches, one transaction per partition range, oldest first: "  # noqa: S608
        f"INSERT INTO {new} SELECT * FROM {old} WHERE {col} >= <range start> AND {col} < "
        f"<range end>; (ranges before {cutoff}). Each batch commits, so no long transaction "
        "holds back vacuum; re-run a range if it fails.",
        f"3. Swap the names in one short transaction: BEGIN; LOCK TABLE {old} IN EXCLUSIVE "  # noqa: S608
        f"MODE; INSERT INTO {new} SELECT * FROM {old} WHERE {col} >= {cutoff}; ALTER TABLE "
        f"{old} RENAME TO {legacy}; ALTER TABLE {new} RENAME TO {bare}; COMMIT; (writers wait "
        "only for the rows since the cutoff; move sequence ownership with ALTER SEQUENCE ... "
        "OWNED BY).",
        "4. Attach instead of copy where it is cheaper: a range loaded into a standalone table "
        "(CREATE TABLE ... (LIKE ...); INSERT ...; ADD CONSTRAINT ... CHECK (range)) is "
        "attached with ALTER TABLE ... ATTACH PARTITION ... FOR VALUES FROM (...) TO (...); "
        "the CHECK constraint spares the validation scan. Create future partitions ahead of "
        "time (a scheduled job or pg_partman).",
        f"5. Verify counts per range against {legacy}, re-create foreign keys that point to the "
        f"table, then drop {legacy}.",
    ]


# --- catalog inputs -------------------------------------------------------------------------
def _sql(text: str) -> sql.SQL:
    return sql.SQL(MARKER + " " + text)


_PROFILE_SQL = _sql("""
SELECT n.nspname || '.' || c.relname, greatest(c.reltuples::bigint, 0),
       pg_catalog.pg_table_size(c.oid), coalesce(s.n_tup_ins, 0), coalesce(s.n_tup_upd, 0),
       coalesce(s.n_tup_del, 0),
       extract(epoch FROM now() - coalesce(d.stats_reset, pg_catalog.pg_postmaster_start_time())),
       c.relkind = 'p',
       ARRAY(SELECT a.attname::text FROM pg_catalog.pg_index i
             JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
             WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY a.attnum),
       ARRAY(SELECT DISTINCT f.conrelid::regclass::text FROM pg_catalog.pg_constraint f
             WHERE f.confrelid = c.oid AND f.contype = 'f'),
       c.oid
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_stat_user_tables s ON s.relid = c.oid
CROSS JOIN pg_catalog.pg_stat_database d
WHERE d.datname = pg_catalog.current_database() AND c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
  AND (pg_catalog.pg_table_size(c.oid) >= %s OR c.reltuples >= %s)
ORDER BY pg_catalog.pg_table_size(c.oid) DESC LIMIT 50""")

_TIME_SQL = _sql("""
SELECT a.attname::text, pg_catalog.format_type(a.atttypid, NULL), st.correlation,
       (st.histogram_bounds::text::text[])[1],
       (st.histogram_bounds::text::text[])[array_length(st.histogram_bounds::text::text[], 1)]
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_stats st
  ON st.schemaname = n.nspname AND st.tablename = c.relname AND st.attname = a.attname
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
  AND pg_catalog.format_type(a.atttypid, NULL) = ANY(%s)""")


def read_table_profiles(conn: psycopg.Connection[Any], rules: PartitioningRules | None = None
                        ) -> list[TableProfile]:
    """Profiles of the tables big enough for the rule (at most 50, biggest first)."""
    rules = rules or PartitioningRules()
    out = []
    with conn.cursor() as cur:
        cur.execute(_PROFILE_SQL, (rules.min_bytes, rules.min_rows))
        rows = cur.fetchall()
        for name, nrows, size, ins, upd, dele, period, part, pk, refs, oid in rows:
            cur.execute(_TIME_SQL, (oid, list(TIME_TYPES)))
            cols = tuple(TimeColumn(str(c), str(t), None if r is None else float(r),
                                    _ts(lo), _ts(hi)) for c, t, r, lo, hi in cur.fetchall())
            out.append(TableProfile(str(name), int(nrows), int(size), int(ins), int(upd),
                                    int(dele), float(period or 0), cols, tuple(pk or ()),
                                    bool(part), tuple(refs or ())))
    conn.rollback()
    return out


def _ts(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)
