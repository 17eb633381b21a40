"""The parse-tree walk behind `intperf.dbopt.query_columns.extract`: scopes and aliases,
predicates, joins, ORDER BY / GROUP BY. Pure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pglast import ast
from pglast.enums import A_Expr_Kind, BoolExprType, NullTestType, SetOperation, SubLinkType
from pglast.enums.parsenodes import SortByDir, SortByNulls
from psycopg import sql

from intperf.dbopt.query_model import ParamRole, ParamUse, TableUse, quote_ident

_ident = quote_ident


@dataclass(eq=False)
class _Occurrence:
    table: str
    equality: list[str] = field(default_factory=list)
    range: list[str] = field(default_factory=list)
    join: list[str] = field(default_factory=list)
    order_by: list[str] = field(default_factory=list)
    group_by: list[str] = field(default_factory=list)
    referenced: set[str] = field(default_factory=set)
    star: bool = False
    partial: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)

    def freeze(self) -> TableUse:
        return TableUse(self.table, _uniq(self.equality), _uniq(self.range), _uniq(self.join),
                        tuple(self.order_by), tuple(self.group_by), tuple(sorted(self.referenced)),
                        self.star, _uniq(self.partial), _uniq(self.updated))


def _uniq(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


# A scope maps each name visible in FROM to its table occurrence (None: subquery, CTE, function).
_Scope = list[tuple[str, "_Occurrence | None"]]
_Col = tuple[_Occurrence, str]
_EQ, _RANGE = frozenset({"="}), frozenset({"<", "<=", ">", ">="})
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


class Walker:
    """Collects table occurrences and parameter uses of the statements it is given."""

    def __init__(self, catalog: Mapping[str, frozenset[str]] | None) -> None:
        self.catalog = catalog
        self.occurrences: list[_Occurrence] = []
        self.params: list[ParamUse] = []
        self.ctes: set[str] = set()

    # --- statements ---------------------------------------------------------------------------
    def statement(self, node: Any) -> None:
        if isinstance(node, ast.SelectStmt):
            self.select(node, [])
        elif isinstance(node, ast.UpdateStmt | ast.DeleteStmt) and node.relation is not None:
            self._ctes(node.withClause, [])
            target = self._occurrence(node.relation)
            scope: _Scope = [(self._alias(node.relation), target)]
            extra = node.fromClause if isinstance(node, ast.UpdateStmt) else node.usingClause
            for item in extra or ():
                self._from_item(item, scope, [], [])
            outer = [scope]
            if isinstance(node, ast.UpdateStmt):
                for res in node.targetList or ():
                    if isinstance(res, ast.ResTarget) and res.name:
                        target.updated.append(res.name)
                    self._references(res.val, outer)
            self._where(node.whereClause, outer)
            self._references(getattr(node, "returningClause", None), outer)
        elif isinstance(node, ast.InsertStmt) and isinstance(node.selectStmt, ast.SelectStmt):
            self.select(node.selectStmt, [])

    def select(self, node: ast.SelectStmt, outer: list[_Scope]) -> None:
        if node.op is not None and node.op != SetOperation.SETOP_NONE:
            for arm in (node.larg, node.rarg):
                if arm is not None:
                    self.select(arm, outer)
            return
        self._ctes(node.withClause, outer)
        scope: _Scope = []
        quals: list[Any] = []
        for item in node.fromClause or ():
            self._from_item(item, scope, outer, quals)
        chain = [scope, *outer]
        for qual in quals:
            self._where(qual, chain)
        self._where(node.whereClause, chain)
        for res in node.targetList or ():
            if isinstance(res, ast.ResTarget):
                self._references(res.val, chain)
        self._references(node.havingClause, chain)
        self._references(node.distinctClause, chain)
        self._references(node.windowClause, chain)
        self._keys(node.groupClause or (), node, chain, "group")
        sorts = tuple(node.sortClause or ())
        if sorts and all(_plain_sort(s) for s in sorts) and _same_direction(sorts):
            self._keys([s.node for s in sorts], node, chain, "order")
        aliases = {t.name for t in node.targetList or () if isinstance(t, ast.ResTarget)}
        self._references([s.node for s in node.sortClause or () if not _output_name(
            s.node, aliases)], chain)
        for limit, role in ((node.limitCount, "limit"), (node.limitOffset, "offset")):
            number = _param_number(limit)
            if number is not None:
                self.params.append(ParamUse(number, None, None, role))  # type: ignore[arg-type]

    def _ctes(self, with_clause: Any, outer: list[_Scope]) -> None:
        for cte in getattr(with_clause, "ctes", None) or ():
            self.ctes.add(cte.ctename)
            if isinstance(cte.ctequery, ast.SelectStmt):
                self.select(cte.ctequery, outer)
            else:
                self.statement(cte.ctequery)

    def _from_item(self, item: Any, scope: _Scope, outer: list[_Scope], quals: list[Any]) -> None:
        if isinstance(item, ast.RangeVar):
            if item.schemaname is None and item.relname in self.ctes:
                scope.append((self._alias(item), None))
            else:
                scope.append((self._alias(item), self._occurrence(item)))
        elif isinstance(item, ast.JoinExpr):
            left_at = len(scope)
            self._from_item(item.larg, scope, outer, quals)
            right_at = len(scope)
            self._from_item(item.rarg, scope, outer, quals)
            if item.quals is not None:
                quals.append(item.quals)
            for name in item.usingClause or ():
                left = self._resolve_in(name.sval, scope[left_at:right_at])
                right = self._resolve_in(name.sval, scope[right_at:])
                for col in (left, right):
                    if col is not None:
                        col[0].referenced.add(col[1])
                        col[0].join.append(col[1])
            if item.alias is not None:  # a named join hides its tables' names
                scope.append((str(item.alias.aliasname or ""), None))
        elif isinstance(item, ast.RangeSubselect):
            if isinstance(item.subquery, ast.SelectStmt):
                self.select(item.subquery, [scope, *outer] if item.lateral else outer)
            scope.append((str(item.alias.aliasname or "") if item.alias else "", None))
        elif isinstance(item, ast.RangeFunction):
            self._references(item.functions, [scope, *outer])
            scope.append((str(item.alias.aliasname or "") if item.alias else "", None))

    def _occurrence(self, rv: ast.RangeVar) -> _Occurrence:
        rel = str(rv.relname or "")
        name = rel if rv.schemaname is None else f"{rv.schemaname}.{rel}"
        occ = _Occurrence(name)
        self.occurrences.append(occ)
        return occ

    @staticmethod
    def _alias(rv: ast.RangeVar) -> str:
        return str((rv.alias.aliasname if rv.alias is not None else rv.relname) or "")

    # --- column resolution --------------------------------------------------------------------
    def _columns_of(self, occ: _Occurrence) -> frozenset[str] | None:
        if self.catalog is None:
            return None
        return self.catalog.get(occ.table)

    def _resolve_in(self, name: str, entries: _Scope) -> _Col | None:
        tables = [occ for _, occ in entries if occ is not None]
        known = [(occ, self._columns_of(occ)) for occ in tables]
        hits = [occ for occ, cols in known if cols is not None and name in cols]
        if len(hits) == 1:
            return hits[0], name
        if not hits and len(entries) == 1 and tables and known[0][1] is None:
            return tables[0], name  # the only thing in scope, its columns unknown
        return None

    def _resolve(self, ref: ast.ColumnRef, chain: list[_Scope]) -> _Col | None:
        fields = ref.fields or ()
        if not fields or not all(isinstance(f, ast.String) for f in fields):
            return None  # t.* and the like
        names = [f.sval for f in fields]
        if len(names) == 1:
            for scope in chain:
                col = self._resolve_in(names[0], scope)
                if col is not None:
                    return col
                if any(occ is None for _, occ in scope) and len(scope) == 1:
                    return None  # a subquery's output column
            return None
        qualifier, column = names[-2], names[-1]
        for scope in chain:
            for alias, occ in reversed(scope):
                if alias == qualifier or (occ is not None and occ.table == ".".join(names[:-1])):
                    return None if occ is None else (occ, column)
        return None

    def _stars(self, ref: ast.ColumnRef, chain: list[_Scope]) -> None:
        fields = ref.fields or ()
        if not fields or not isinstance(fields[-1], ast.A_Star):
            return
        qualifier = fields[-2].sval if len(fields) >= 2 else None
        for _, occ in chain[0] if chain else ():
            if occ is not None and (qualifier is None or qualifier in {occ.table, _last(occ)}):
                occ.star = True
        if qualifier is not None:
            for alias, occ in chain[0] if chain else ():
                if alias == qualifier and occ is not None:
                    occ.star = True

    def _references(self, node: Any, chain: list[_Scope]) -> None:
        """Mark every column `node` reads; subqueries in it are walked with this scope outside."""
        for child in _nodes(node):
            if isinstance(child, ast.ColumnRef):
                col = self._resolve(child, chain)
                if col is not None:
                    col[0].referenced.add(col[1])
                else:
                    self._stars(child, chain)
            elif isinstance(child, ast.SubLink):
                self._references(child.testexpr, chain)
                if isinstance(child.subselect, ast.SelectStmt):
                    self.select(child.subselect, chain)

    # --- predicates ---------------------------------------------------------------------------
    def _where(self, node: Any, chain: list[_Scope]) -> None:
        if node is None:
            return
        if isinstance(node, ast.BoolExpr) and node.boolop == BoolExprType.AND_EXPR:
            for arg in node.args or ():
                self._where(arg, chain)
            return
        self._conjunct(node, chain)
        self._references(node, chain)

    def _conjunct(self, node: Any, chain: list[_Scope]) -> None:
        plain = self._plain_column
        if isinstance(node, ast.A_Expr):
            self._comparison(node, chain)
        elif isinstance(node, ast.NullTest):
            col = plain(node.arg, chain)
            if col is not None:
                is_null = node.nulltesttype == NullTestType.IS_NULL
                if is_null:
                    col[0].equality.append(col[1])
                col[0].partial.append(f"{_ident(col[1])} IS {'' if is_null else 'NOT '}NULL")
        elif isinstance(node, ast.ColumnRef):
            col = plain(node, chain)
            if col is not None:
                col[0].partial.append(_ident(col[1]))
        elif isinstance(node, ast.BoolExpr) and node.boolop == BoolExprType.NOT_EXPR:
            col = plain(node.args[0], chain) if node.args else None
            if col is not None:
                col[0].partial.append(f"NOT {_ident(col[1])}")
        elif isinstance(node, ast.SubLink) and node.subLinkType == SubLinkType.ANY_SUBLINK:
            col = plain(node.testexpr, chain)
            if col is not None and _op(node.operName) in (None, "="):
                col[0].join.append(col[1])

    def _comparison(self, node: ast.A_Expr, chain: list[_Scope]) -> None:
        op, kind = _op(node.name), node.kind
        left, right = node.lexpr, node.rexpr
        lcol, rcol = self._plain_column(left, chain), self._plain_column(right, chain)
        if kind in (A_Expr_Kind.AEXPR_IN, A_Expr_Kind.AEXPR_OP_ANY) and op == "=":
            if lcol is not None and self._free_of(right, lcol, chain):
                lcol[0].equality.append(lcol[1])
                for item in right if isinstance(right, list | tuple) else (right,):
                    self._param(item, lcol, "eq")
            return
        if kind == A_Expr_Kind.AEXPR_BETWEEN and lcol is not None:
            bounds = list(right) if isinstance(right, list | tuple) else []
            if self._free_of(right, lcol, chain):
                lcol[0].range.append(lcol[1])
                for bound, role in zip(bounds, ("lower", "upper"), strict=False):
                    self._param(bound, lcol, role)  # type: ignore[arg-type]
            return
        if kind != A_Expr_Kind.AEXPR_OP or op not in _EQ | _RANGE:
            return
        if lcol is not None and rcol is not None:
            if lcol[0] is not rcol[0] and op in _EQ:
                lcol[0].join.append(lcol[1])
                rcol[0].join.append(rcol[1])
            return
        if lcol is None and rcol is not None:
            lcol, right, op = rcol, left, _FLIP.get(op, op)
        if lcol is None:
            return
        if not self._free_of(right, lcol, chain):
            if op in _EQ and not self._mentions(right, lcol[0], chain):
                lcol[0].join.append(lcol[1])
            return
        if op in _EQ:
            lcol[0].equality.append(lcol[1])
            self._param(right, lcol, "eq")
            literal = _literal(right)
            if literal is not None:
                lcol[0].partial.append(f"{_ident(lcol[1])} = {literal}")
        else:
            lcol[0].range.append(lcol[1])
            self._param(right, lcol, "lower" if op in (">", ">=") else "upper")

    def _param(self, node: Any, col: _Col, role: ParamRole) -> None:
        number = _param_number(node)
        if number is not None:
            self.params.append(ParamUse(number, col[0].table, col[1], role))

    def _plain_column(self, node: Any, chain: list[_Scope]) -> _Col | None:
        return self._resolve(node, chain) if isinstance(node, ast.ColumnRef) else None

    def _free_of(self, node: Any, col: _Col, chain: list[_Scope]) -> bool:
        """True when `node` reads no column of the current query level (constant-like)."""
        current = {id(occ) for _, occ in chain[0] if occ is not None} if chain else set()
        for child in _nodes(node):
            if isinstance(child, ast.ColumnRef):
                hit = self._resolve(child, chain)
                if hit is None or id(hit[0]) in current:
                    return False
            elif isinstance(child, ast.SubLink):
                return False
        return True

    def _mentions(self, node: Any, occ: _Occurrence, chain: list[_Scope]) -> bool:
        for child in _nodes(node):
            if isinstance(child, ast.ColumnRef):
                hit = self._resolve(child, chain)
                if hit is not None and hit[0] is occ:
                    return True
        return False

    # --- ORDER BY / GROUP BY ------------------------------------------------------------------
    def _keys(self, items: Any, node: ast.SelectStmt, chain: list[_Scope], what: str) -> None:
        cols: list[_Col] = []
        targets = [t for t in node.targetList or () if isinstance(t, ast.ResTarget)]
        for item in items:
            expr = item
            if isinstance(expr, ast.A_Const) and isinstance(expr.val, ast.Integer):
                pos = int(expr.val.ival or 0)
                expr = targets[pos - 1].val if 0 < pos <= len(targets) else None
            elif isinstance(expr, ast.ColumnRef) and len(fields := expr.fields or ()) == 1:
                name = getattr(fields[0], "sval", None)
                named = [t.val for t in targets if t.name == name]
                # ORDER BY prefers output names, GROUP BY input columns (PostgreSQL's rule).
                if named and (what == "order" or self._resolve(expr, chain) is None):
                    expr = named[0]
            col = self._plain_column(expr, chain)
            if col is None:
                return
            cols.append(col)
        if not cols or any(c[0] is not cols[0][0] for c in cols):
            return
        names = list(dict.fromkeys(c[1] for c in cols))
        if what == "group":
            cols[0][0].group_by = names
        else:
            cols[0][0].order_by = names


def _output_name(node: Any, aliases: set[str | None]) -> bool:
    """A bare name in ORDER BY that names an output column (not a table column)."""
    fields: tuple[Any, ...] = tuple(getattr(node, "fields", None) or ())
    return (isinstance(node, ast.ColumnRef) and len(fields) == 1
            and getattr(fields[0], "sval", None) in aliases)


def _plain_sort(item: Any) -> bool:
    return isinstance(item, ast.SortBy) and item.sortby_nulls == SortByNulls.SORTBY_NULLS_DEFAULT


def _same_direction(items: tuple[Any, ...]) -> bool:
    dirs = {SortByDir.SORTBY_DESC if i.sortby_dir == SortByDir.SORTBY_DESC else 0 for i in items}
    return len(dirs) <= 1


def _nodes(node: Any) -> Iterator[Any]:
    """Every node under `node`, not entering subqueries' bodies (SubLink yields itself)."""
    if node is None:
        return
    if isinstance(node, list | tuple):
        for item in node:
            yield from _nodes(item)
        return
    if not isinstance(node, ast.Node):
        return
    yield node
    if isinstance(node, ast.SubLink):
        return
    for name in node:
        value = getattr(node, name)
        if isinstance(value, ast.Node | list | tuple):
            yield from _nodes(value)


def _op(name: Any) -> str | None:
    if not name:
        return None
    last = name[-1]
    return last.sval if isinstance(last, ast.String) else None


def _param_number(node: Any) -> int | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    return node.number if isinstance(node, ast.ParamRef) else None


def _literal(node: Any) -> str | None:
    """SQL text of a literal that survived normalization (a string, number or boolean)."""
    if not isinstance(node, ast.A_Const) or node.isnull:
        return None
    val = node.val
    if isinstance(val, ast.String):
        return str(sql.Literal(val.sval).as_string())
    if isinstance(val, ast.Integer):
        return str(val.ival)
    if isinstance(val, ast.Float):
        return str(val.fval)
    if isinstance(val, ast.Boolean):
        return "true" if val.boolval else "false"
    return None


def _last(occ: _Occurrence) -> str:
    return occ.table.rsplit(".", 1)[-1]
