"""Index hints for slow queries from the service's own PostgreSQL (I/O; the processor calls it
off the event loop as the slow-query topology's ``plan_hint``).

The normalized statement is PREPAREd and its generic plan read with ``EXPLAIN (FORMAT JSON)
EXECUTE`` with NULL parameters, under ``plan_cache_mode = force_generic_plan``, in a
read-only transaction that is rolled back: the statement itself never runs (EXPLAIN without
ANALYZE). A Seq Scan filtering a big table on columns no index leads with becomes
"no index on orders(customer_id): consider CREATE INDEX CONCURRENTLY ON orders (customer_id)".
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import psycopg
from pglast import ast, parse_sql, parser
from pglast.enums.parsenodes import A_Expr_Kind
from pglast.enums.primnodes import BoolExprType
from psycopg import sql

from intperf.stream.queries import fingerprint

if TYPE_CHECKING:
    from intperf.config import StreamSettings

__all__ = [
    "PlanHints",
    "SeqScan",
    "TableFacts",
    "filter_columns",
    "index_hint",
    "preparable",
    "psycopg_dsn",
    "seq_scans",
]

log = logging.getLogger(__name__)

STATEMENT_NAME: Final = "intperf_plan_hint"
_EQUALITY = frozenset({"="})
_RANGE = frozenset({"<", ">", "<=", ">="})
_PARAM = re.compile(r"\$(\d+)")
_BARE = re.compile(r"^[a-z_][a-z0-9_$]*$")


# -- pure: what the plan says ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeqScan:
    """A sequential scan with a filter in a plan: which table, the filter, estimated rows."""

    schema: str
    table: str
    filter: str
    rows: float


@dataclass(frozen=True, slots=True)
class TableFacts:
    """Estimated rows of a table (``reltuples``; -1: never analyzed) and the columns its
    indexes lead with."""

    rows: float
    indexed: frozenset[str]


def seq_scans(plan: Any) -> list[SeqScan]:
    """The filtered Seq Scans of an ``EXPLAIN (FORMAT JSON, VERBOSE)`` result."""

    def walk(node: Any) -> Iterator[Mapping[str, Any]]:
        if isinstance(node, list):
            for x in node:
                yield from walk(x)
        elif isinstance(node, Mapping):
            if "Node Type" in node:
                yield node
            for key in ("Plan", "Plans"):
                if key in node:
                    yield from walk(node[key])

    return [
        SeqScan(
            str(n.get("Schema", "public")),
            str(n["Relation Name"]),
            str(n["Filter"]),
            float(n.get("Plan Rows", 0.0)),
        )
        for n in walk(plan)
        if n.get("Node Type") == "Seq Scan" and "Filter" in n and "Relation Name" in n
    ]


def _operand_is_value(node: Any) -> bool:
    """A constant, parameter or expression of them (``now() - $1::interval``): no columns."""
    if isinstance(node, (list, tuple)):
        return all(_operand_is_value(x) for x in node)
    if not isinstance(node, ast.Node):
        return True
    if isinstance(node, (ast.ColumnRef, ast.SubLink)):
        return False
    slots = getattr(type(node), "__slots__", ())
    return all(_operand_is_value(getattr(node, name, None)) for name in slots)


def _column_name(node: Any) -> str | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.ColumnRef) and node.fields:
        last = node.fields[-1]
        return str(last.sval) if isinstance(last, ast.String) else None
    return None


def _conjuncts(node: Any) -> Iterator[Any]:
    if isinstance(node, ast.BoolExpr):
        if (
            node.boolop == BoolExprType.AND_EXPR
        ):  # AND: each argument must hold; OR/NOT: no single index helps
            for arg in node.args or ():
                yield from _conjuncts(arg)
        return
    yield node


def filter_columns(filter_text: str) -> tuple[list[str], list[str]]:
    """Columns a filter compares with a parameter or constant: (equalities, ranges).

    ``((orders.customer_id = $1) AND (orders.created_at > $2))`` gives
    ``(["customer_id"], ["created_at"])``; ``= ANY ($1)`` counts as an equality.
    """
    try:
        stmts = parse_sql(f"SELECT 1 WHERE {filter_text}")
    except parser.ParseError:
        return [], []
    where = getattr(stmts[0].stmt, "whereClause", None)
    eq: list[str] = []
    rng: list[str] = []
    for node in _conjuncts(where):
        if not isinstance(node, ast.A_Expr) or not node.name:
            continue
        op = str(node.name[-1].sval)
        kind = node.kind
        for col_side, value_side in ((node.lexpr, node.rexpr), (node.rexpr, node.lexpr)):
            col = _column_name(col_side)
            if col is None or not _operand_is_value(value_side):
                continue
            if op in _EQUALITY and kind in (A_Expr_Kind.AEXPR_OP, A_Expr_Kind.AEXPR_OP_ANY):
                eq.append(col)
            elif op in _RANGE and kind == A_Expr_Kind.AEXPR_OP:
                rng.append(col)
            break
    return list(dict.fromkeys(eq)), [c for c in dict.fromkeys(rng) if c not in eq]


def quote_ident(name: str) -> str:
    """``name`` as PostgreSQL prints an identifier (quoted unless plain lowercase)."""
    if _BARE.match(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def index_hint(
    scans: Sequence[SeqScan],
    tables: Mapping[tuple[str, str], TableFacts],
    *,
    min_rows: float = 10_000,
    max_fraction: float = 0.1,
) -> str | None:
    """The hint for the first Seq Scan that an index would serve, or None.

    A scan qualifies when its table has at least ``min_rows`` rows (by the statistics), the
    filter keeps at most ``max_fraction`` of them (the planner's estimate), it compares
    columns with values, and no index of the table leads with the first column proposed
    (equality columns first, then one range column).
    """
    for scan in scans:
        facts = tables.get((scan.schema, scan.table))
        if facts is None or facts.rows < min_rows or scan.rows > max_fraction * facts.rows:
            continue
        eq, rng = filter_columns(scan.filter)
        columns = eq + rng[:1]
        if not columns or columns[0] in facts.indexed:
            continue
        table = quote_ident(scan.table)
        if scan.schema != "public":
            table = f"{quote_ident(scan.schema)}.{table}"
        cols = ", ".join(quote_ident(c) for c in columns)
        return (
            f"no index on {table}({cols}): consider CREATE INDEX CONCURRENTLY ON {table} ({cols})"
        )
    return None


def preparable(normalized: str) -> int | None:
    """The number of parameters if ``normalized`` is one SELECT, INSERT, UPDATE or DELETE
    that PREPARE accepts as it is, else None (nothing else is ever sent to the database)."""
    try:
        stmts = parse_sql(normalized)
    except parser.ParseError:
        return None
    if len(stmts) != 1:
        return None
    stmt = stmts[0].stmt
    if not isinstance(stmt, (ast.SelectStmt, ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt)):
        return None
    if isinstance(stmt, ast.SelectStmt) and stmt.intoClause is not None:
        return None
    return max((int(m) for m in _PARAM.findall(normalized)), default=0)


def psycopg_dsn(dsn: str) -> str:
    """A libpq connection string from a SQLAlchemy-style URL (``postgresql+psycopg://``)."""
    return re.sub(r"^postgres(?:ql)?\+\w+://", "postgresql://", dsn)


# -- I/O ------------------------------------------------------------------------------------------


class _Skip(Exception):
    """Internal: why a lookup gave no hint (never leaves this module)."""


class PlanHints:
    """``plan_hint(service, normalized)`` for the services with a configured DSN.

    Results (hints and "no hint") are cached per (DSN, fingerprint) for ``ttl_s``; a database
    that cannot be reached is left alone for ``retry_after_s``. Thread-safe. Errors never
    raise: they give None and are logged (INFO) with the service and reason, never the DSN.
    """

    def __init__(
        self,
        databases: Mapping[str, str],
        *,
        statement_timeout_ms: int = 2_000,
        connect_timeout_s: int = 5,
        min_rows: float = 10_000,
        max_fraction: float = 0.1,
        ttl_s: float = 3_600.0,
        retry_after_s: float = 60.0,
        cache_size: int = 4_096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.databases = {s: psycopg_dsn(d) for s, d in databases.items()}
        self.statement_timeout_ms = statement_timeout_ms
        self.connect_timeout_s = connect_timeout_s
        self.min_rows, self.max_fraction = min_rows, max_fraction
        self.ttl_s, self.retry_after_s = ttl_s, retry_after_s
        self._cache: OrderedDict[tuple[str, str], tuple[float, str | None]] = OrderedDict()
        self._cache_size = cache_size
        self._down_until: dict[str, float] = {}
        self._clock = clock
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, stream: StreamSettings, **options: Any) -> PlanHints:
        """From ``intperf.stream.databases`` (service -> DSN)."""
        return cls({d.service: d.dsn for d in stream.databases}, **options)

    def __call__(self, service: str, normalized: str) -> str | None:
        """The index hint for ``normalized`` on ``service``'s database (cached), or None."""
        dsn = self.databases.get(service)
        if dsn is None or not normalized:
            return None
        key = (dsn, fingerprint(normalized))
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] > now:
                self._cache.move_to_end(key)
                return cached[1]
            if self._down_until.get(dsn, 0.0) > now:
                return None
        try:
            hint = self.lookup(dsn, normalized)
        except _Skip as why:
            log.info("no plan hint for a slow query of %s: %s", service, why)
            hint = None
        except psycopg.OperationalError as exc:
            log.info(
                "no plan hint for a slow query of %s: cannot reach its database (%s); "
                "retrying in %.0f s",
                service,
                type(exc).__name__,
                self.retry_after_s,
            )
            with self._lock:
                self._down_until[dsn] = now + self.retry_after_s
            return None
        except psycopg.Error as exc:
            log.info(
                "no plan hint for a slow query of %s: %s (SQLSTATE %s)",
                service,
                exc.diag.message_primary or type(exc).__name__,
                exc.sqlstate,
            )
            hint = None
        with self._lock:
            self._cache[key] = (now + self.ttl_s, hint)
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return hint

    def lookup(self, dsn: str, normalized: str) -> str | None:
        """Ask the database (no cache). Raises psycopg errors, or _Skip with the reason."""
        params = preparable(normalized)
        if params is None:
            raise _Skip("not a single SELECT/INSERT/UPDATE/DELETE that PostgreSQL parses")
        with psycopg.connect(dsn, connect_timeout=self.connect_timeout_s, autocommit=False) as conn:
            conn.read_only = True
            try:
                return self._explain(conn, normalized, params)
            finally:
                conn.rollback()

    def _explain(self, conn: psycopg.Connection[Any], normalized: str, params: int) -> str | None:
        timeout = f"{self.statement_timeout_ms}ms"
        with conn.cursor() as cur:
            cur.execute(
                "SELECT set_config('statement_timeout', %s, true), "
                "set_config('lock_timeout', %s, true), "
                "set_config('plan_cache_mode', 'force_generic_plan', true)",
                (timeout, timeout),
            )
            # The statement is the subject itself, so it cannot be a bound parameter: it was
            # checked to be exactly one DML statement (preparable), is sent with the extended
            # protocol (binary=True: one statement only) inside a read-only transaction.
            prepare = sql.SQL("PREPARE {} AS {}").format(
                sql.Identifier(STATEMENT_NAME), sql.SQL(normalized)
            )
            cur.execute(prepare, binary=True)
            cur.execute(
                "SELECT coalesce(array_length(parameter_types, 1), 0) "
                "FROM pg_prepared_statements WHERE name = %s",
                (STATEMENT_NAME,),
            )
            row = cur.fetchone()
            n = int(row[0]) if row else params
            nulls = sql.SQL("({})").format(sql.SQL(", ").join([sql.NULL] * n)) if n else sql.SQL("")
            cur.execute(
                sql.SQL("EXPLAIN (FORMAT JSON, VERBOSE) EXECUTE {}{}").format(
                    sql.Identifier(STATEMENT_NAME), nulls
                )
            )
            plan_row = cur.fetchone()
            cur.execute(sql.SQL("DEALLOCATE {}").format(sql.Identifier(STATEMENT_NAME)))
            if plan_row is None:
                return None
            scans = seq_scans(plan_row[0])
            if not scans:
                return None
            tables = {}
            for scan in scans:
                cur.execute(
                    "SELECT c.reltuples::float8, coalesce(array_agg(a.attname::text) "
                    "FILTER (WHERE a.attname IS NOT NULL), '{}') "
                    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "LEFT JOIN pg_index i ON i.indrelid = c.oid "
                    "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] "
                    "WHERE n.nspname = %s AND c.relname = %s GROUP BY c.reltuples",
                    (scan.schema, scan.table),
                )
                facts = cur.fetchone()
                if facts is not None:
                    tables[(scan.schema, scan.table)] = TableFacts(
                        float(facts[0]), frozenset(facts[1])
                    )
        return index_hint(scans, tables, min_rows=self.min_rows, max_fraction=self.max_fraction)
