"""Materialized views for repeated expensive aggregates: which statements qualify, the
``CREATE MATERIALIZED VIEW``, its unique index, the query that reads it and a refresh strategy
by staleness tolerance. Pure (pglast); the statements come from pg_stat_statements."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from pglast import ast, parse_sql
from pglast.enums import A_Expr_Kind, BoolExprType, SetOperation
from pglast.parser import ParseError
from pglast.stream import RawStream
from psycopg import sql

from intperf.dbopt.candidates import quote_table
from intperf.dbopt.connection import MARKER
from intperf.dbopt.query_columns import extract
from intperf.dbopt.query_model import quote_ident
from intperf.dbopt.workload import Statement

AGGREGATES = frozenset({"count", "sum", "min", "max", "avg"})
_TIME_TYPES = ("timestamp", "date")


@dataclass(frozen=True, slots=True)
class MatviewRules:
    """Which aggregates are worth materializing (docs/dbopt.md, "Materialized views")."""

    min_calls: int = 10
    min_mean_ms: float = 50.0
    min_share: float = 0.02  # of the workload's total execution time
    staleness_s: float = 300.0  # how old the answer may be
    period_s: float = 86400.0  # the period the statements' calls were counted over


@dataclass(frozen=True, slots=True)
class MatviewAdvice:
    """One materialized view with its refresh strategy."""

    queryid: int
    query: str
    name: str
    create_sql: str
    index_sql: str
    read_sql: str  # the statement rewritten to read the view
    refresh_sql: str
    refresh: str  # the strategy, in words
    saved_ms: float  # per period: calls x mean time, minus the refreshes
    exact: bool  # False when a range bound is rounded to the day bucket

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {"queryid": self.queryid, "query": self.query, "name": self.name,
                "create_sql": self.create_sql, "index_sql": self.index_sql,
                "read_sql": self.read_sql, "refresh_sql": self.refresh_sql,
                "refresh": self.refresh, "saved_ms": round(self.saved_ms, 1),
                "exact": self.exact}


#: Column types by table name as written in the statement (``orders`` -> {created_at: ...}).
ColumnTypes = Mapping[str, Mapping[str, str]]


def suggest_matviews(statements: Sequence[Statement], types: ColumnTypes | None = None,
                     rules: MatviewRules | None = None) -> list[MatviewAdvice]:
    """Materialized views for the statements that qualify, most time saved first."""
    rules = rules or MatviewRules()
    total = sum(s.total_ms for s in statements) or 1.0
    out = []
    for s in statements:
        if s.calls < rules.min_calls or s.mean_ms < rules.min_mean_ms:
            continue
        if s.total_ms / total < rules.min_share:
            continue
        advice = matview_for(s, types or {}, rules)
        if advice is not None and advice.saved_ms > 0:
            out.append(advice)
    return sorted(out, key=lambda a: -a.saved_ms)


@dataclass(frozen=True, slots=True)
class _Target:
    expr: str  # SQL of the select-list expression
    alias: str
    aggregate: str | None  # count/sum/min/max/avg when the target is one aggregate call
    has_aggregate: bool


def matview_for(s: Statement, types: ColumnTypes, rules: MatviewRules) -> MatviewAdvice | None:
    """The view for one aggregate statement, or None when it cannot be materialized."""
    try:
        stmts = parse_sql(s.query)
    except ParseError:
        return None
    if len(stmts) != 1 or not isinstance(stmts[0].stmt, ast.SelectStmt):
        return None
    node = stmts[0].stmt
    if node.op not in (None, SetOperation.SETOP_NONE) or node.withClause or not node.groupClause:
        return None
    if node.distinctClause or not _has_aggregate(node.targetList or ()):
        return None
    tables = [_table_name(f) for f in node.fromClause or ()]
    if not tables or any(t is None for t in tables):
        return None
    if any(_has_param(x) for x in (node.targetList, node.groupClause, node.havingClause)):
        return None
    kept: list[Any] = []
    keys: list[tuple[str, str]] = []
    filters: list[tuple[str, str, str]] = []
    for conjunct in _conjuncts(node.whereClause):
        if not _has_param(conjunct):
            kept.append(conjunct)
            continue
        shaped = _param_filter(conjunct, types, tables)
        if shaped is None:
            return None
        expr, alias, op, bound = shaped
        if alias not in {a for _, a in keys}:
            keys.append((expr, alias))
        filters.append((alias, op, bound))
    bucketed = any(alias.endswith("_day") for alias, _, _ in filters)
    targets = _targets(node)
    if targets is None or (bucketed and (node.havingClause is not None or any(
            t.has_aggregate and t.aggregate in (None, "avg") for t in targets))):
        return None  # re-aggregating day buckets needs plain count/sum/min/max
    groups = _groups(node, targets)
    order = _order(node, targets)
    if groups is None or order is None:
        return None
    unique = [alias for _, alias in keys] + groups
    if len(set(unique)) != len(unique) or len({t.alias for t in targets}) != len(targets):
        return None
    name = _view_name(s)
    qname = quote_ident(name)
    create = f"CREATE MATERIALIZED VIEW {qname} AS {_view_select(node, kept, keys, targets)};"
    index = f"CREATE UNIQUE INDEX ON {qname} ({', '.join(map(quote_ident, unique))});"
    refresh_sql = f"REFRESH MATERIALIZED VIEW CONCURRENTLY {qname};"
    strategy, saved = _strategy(s, rules)
    read = _read_sql(qname, node, targets, groups, filters, order, bucketed)
    return MatviewAdvice(s.queryid, s.query, name, create, index, read, refresh_sql, strategy,
                         saved, not bucketed)


def _strategy(s: Statement, rules: MatviewRules) -> tuple[str, float]:
    """Refresh strategy by staleness tolerance and the time saved per period."""
    refresh_s = s.mean_ms * 1.5 / 1000.0  # the whole aggregate, plus CONCURRENTLY's diff
    refreshes = rules.period_s / max(rules.staleness_s, 1.0)
    saved = s.calls * s.mean_ms * 0.95 - refreshes * refresh_s * 1000.0
    if refresh_s > rules.staleness_s / 2:
        return (f"none fits: a refresh (~{refresh_s:.0f} s) takes longer than half the tolerated "
                f"staleness ({rules.staleness_s:.0f} s); keep a summary table up to date with "
                "triggers instead"), 0.0
    every = (f"{rules.staleness_s / 3600:.0f} h" if rules.staleness_s >= 3600
             else f"{max(rules.staleness_s / 60, 1):.0f} min")
    return (f"REFRESH MATERIALIZED VIEW CONCURRENTLY every {every} from a scheduler (pg_cron "
            "or the service's scheduler), skipped while the previous refresh still runs; "
            "readers never block"), saved


def _targets(node: ast.SelectStmt) -> list[_Target] | None:
    out = []
    for i, t in enumerate(node.targetList or ()):
        if not isinstance(t, ast.ResTarget) or (isinstance(t.val, ast.ColumnRef) and any(
                isinstance(f, ast.A_Star) for f in t.val.fields or ())):
            return None
        agg = None
        if isinstance(t.val, ast.FuncCall) and t.val.funcname and not t.val.over:
            fname = str(getattr(t.val.funcname[-1], "sval", ""))
            agg = fname if fname in AGGREGATES else None
        has_agg = _has_aggregate([t])
        if t.name:
            alias = str(t.name)
        elif isinstance(t.val, ast.ColumnRef):
            alias = str(getattr((t.val.fields or [None])[-1], "sval", f"col{i}"))
        else:
            alias = f"{agg or 'expr'}_{i + 1}"
        if t.val is None:
            return None
        out.append(_Target(_text(t.val), alias, agg, has_agg))
    return out


def _groups(node: ast.SelectStmt, targets: list[_Target]) -> list[str] | None:
    """Aliases of the group keys; None when a key is not in the select list."""
    out = []
    for g in node.groupClause or ():
        text = _text(g)
        if text.isdigit() and 0 < int(text) <= len(targets):
            out.append(targets[int(text) - 1].alias)
            continue
        hit = next((t.alias for t in targets if not t.has_aggregate
                    and (t.expr == text or t.alias == text)), None)
        if hit is None:
            return None
        out.append(hit)
    return list(dict.fromkeys(out))


def _order(node: ast.SelectStmt, targets: list[_Target]) -> list[str] | None:
    out = []
    for sort in node.sortClause or ():
        text = _text(sort.node)
        if text.isdigit() and 0 < int(text) <= len(targets):
            alias = targets[int(text) - 1].alias
        else:
            alias = next((t.alias for t in targets if text in (t.expr, t.alias)), "")
            if not alias:
                return None
        direction = {2: " DESC", 1: " ASC"}.get(int(sort.sortby_dir or 0), "")
        out.append(quote_ident(alias) + direction)
    return out


def _conjuncts(node: Any) -> list[Any]:
    if node is None:
        return []
    if isinstance(node, ast.BoolExpr) and node.boolop == BoolExprType.AND_EXPR:
        return [c for arg in node.args or () for c in _conjuncts(arg)]
    return [node]


def _walk(node: Any) -> list[Any]:
    out: list[Any] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, ast.Node):
            out.append(item)
            stack.extend(getattr(item, name) for name in item)
    return out


def _has_param(node: Any) -> bool:
    return any(isinstance(n, ast.ParamRef) for n in _walk(node))


def _has_aggregate(targets: Any) -> bool:
    for n in _walk(targets):
        if (isinstance(n, ast.FuncCall) and n.funcname and not n.over
                and getattr(n.funcname[-1], "sval", "") in AGGREGATES):
            return True
    return False


def _table_name(item: Any) -> str | None:
    if isinstance(item, ast.RangeVar):
        return str(item.relname or "") if item.schemaname is None else (
            f"{item.schemaname}.{item.relname}")
    if isinstance(item, ast.JoinExpr):
        left, right = _table_name(item.larg), _table_name(item.rarg)
        return None if left is None or right is None else f"{left},{right}"
    return None


def _param_filter(node: Any, types: ColumnTypes, tables: list[str | None]
                  ) -> tuple[str, str, str, str] | None:
    """(view key expression, its alias, operator, bound) for ``col op $n``."""
    if not isinstance(node, ast.A_Expr) or node.kind != A_Expr_Kind.AEXPR_OP:
        return None
    op = getattr((node.name or [None])[-1], "sval", None)
    col, param = node.lexpr, node.rexpr
    if isinstance(param, ast.ColumnRef):
        col, param = param, col
        op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op or "", op)
    while isinstance(param, ast.TypeCast):
        param = param.arg
    if not isinstance(col, ast.ColumnRef) or not isinstance(param, ast.ParamRef):
        return None
    fields = [getattr(f, "sval", None) for f in col.fields or ()]
    if None in fields:
        return None
    column = str(fields[-1])
    expr = ".".join(quote_ident(str(f)) for f in fields)
    number = f"${int(param.number or 0)}"
    if op == "=":
        return expr, f"{column}_eq", "=", number
    if op in ("<", "<=", ">", ">="):
        typ = _type_of(column, types, tables)
        if typ is None or not typ.startswith(_TIME_TYPES):
            return None
        # Day buckets: exact when the bound falls on midnight, else rounded to its day.
        return (f"date_trunc('day', {expr})", f"{column}_day", op,
                f"date_trunc('day', {number}::{typ})")
    return None


def _type_of(column: str, types: ColumnTypes, tables: list[str | None]) -> str | None:
    for group in tables:
        for table in (group or "").split(","):
            found = types.get(table, {}).get(column)
            if found:
                return found
    return None


def _view_select(node: ast.SelectStmt, kept: list[Any], keys: list[tuple[str, str]],
                 targets: list[_Target]) -> str:
    cols = [f"{expr} AS {quote_ident(alias)}" for expr, alias in keys]
    cols += [f"{t.expr} AS {quote_ident(t.alias)}" for t in targets]
    # Generated text shown to the user: quoted identifiers and pglast's own deparsing.
    text = f"SELECT {', '.join(cols)} FROM {', '.join(_text(f) for f in node.fromClause or ())}"  # noqa: S608
    if kept:
        text += " WHERE " + " AND ".join(f"({_text(c)})" for c in kept)
    groups = [_text(g) for g in node.groupClause or ()]
    # Ordinals (GROUP BY 1) shift by the key columns put in front.
    groups = [str(int(g) + len(keys)) if g.isdigit() else g for g in groups]
    text += " GROUP BY " + ", ".join([expr for expr, _ in keys] + groups)
    if node.havingClause is not None:
        text += f" HAVING {_text(node.havingClause)}"
    return text


_REAGGREGATE = {"count": "sum", "sum": "sum", "min": "min", "max": "max"}


def _read_sql(qname: str, node: ast.SelectStmt, targets: list[_Target], groups: list[str],
              filters: list[tuple[str, str, str]], order: list[str], bucketed: bool) -> str:
    cols = []
    for t in targets:
        alias = quote_ident(t.alias)
        if bucketed and t.aggregate:
            cols.append(f"{_REAGGREGATE[t.aggregate]}({alias}) AS {alias}")
        else:
            cols.append(alias)
    text = f"SELECT {', '.join(cols)} FROM {qname}"  # noqa: S608 (generated, quoted)
    if filters:
        text += " WHERE " + " AND ".join(f"{quote_ident(a)} {op} {bound}"
                                         for a, op, bound in filters)
    if bucketed:
        text += " GROUP BY " + ", ".join(map(quote_ident, groups))
    if order:
        text += " ORDER BY " + ", ".join(order)
    if node.limitCount is not None:
        text += f" LIMIT {_text(node.limitCount)}"
    return text


def _text(node: Any) -> str:
    """SQL of a parse-tree node (a fresh stream each time: a RawStream accumulates)."""
    return str(RawStream()(node))


def _view_name(s: Statement) -> str:
    digest = hashlib.sha1(str(s.queryid).encode(), usedforsecurity=False).hexdigest()[:8]
    return f"intperf_mv_{digest}"


def _sql(text: str) -> sql.SQL:
    return sql.SQL(MARKER + " " + text)


_TYPES_SQL = _sql("SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod)"
                  " FROM pg_catalog.pg_attribute a WHERE a.attrelid = pg_catalog.to_regclass(%s)"
                  " AND a.attnum > 0 AND NOT a.attisdropped")


def read_column_types(conn: psycopg.Connection[Any], statements: Sequence[Statement]
                      ) -> dict[str, dict[str, str]]:
    """Column types of the tables the statements name, keyed as the statements name them."""
    names = {t for s in statements for t in extract(s.query).tables()}
    out: dict[str, dict[str, str]] = {}
    with conn.cursor() as cur:
        for name in sorted(names):
            cur.execute(_TYPES_SQL, (quote_table(name),))
            columns = {str(c): str(t) for c, t in cur.fetchall()}
            if columns:
                out[name] = columns
    conn.rollback()
    return out
