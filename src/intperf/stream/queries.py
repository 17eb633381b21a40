"""Slow-query analysis, pure: normalized text (literals as ``$1..$n``), a fingerprint, and
advice rules, with PostgreSQL's own lexer and parser (pglast) and a regex fallback.

Normalizing keeps the statement as written but drops comments, collapses whitespace, turns
every literal (and ``?`` placeholder) into a numbered parameter and collapses lists of them:
``IN (1, 2, 3)`` and ``ARRAY[1, 2]`` become one parameter, multi-row ``VALUES`` one row.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from pglast import ast, parse_sql, parser
from pglast.enums.parsenodes import A_Expr_Kind
from pglast.enums.primnodes import SubLinkType
from pglast.keywords import RESERVED_KEYWORDS

__all__ = ["QueryAnalysis", "QueryShape", "advice_for", "analyze", "fingerprint", "normalize"]

# -- tokens -----------------------------------------------------------------------------------
WORD, QUOTED, CONST, PARAM, OP, PUNCT = "word", "quoted", "const", "param", "op", "punct"
_CONSTS = frozenset({"SCONST", "USCONST", "ICONST", "FCONST", "BCONST", "XCONST"})
_COMMENTS = frozenset({"C_COMMENT", "SQL_COMMENT"})
_NUMERIC = re.compile(r"^(?:0[xXoObB]|\d|\.\d)")
_RESERVED = frozenset(k.upper() for k in RESERVED_KEYWORDS)
#: Words after which a ``?`` or sign starts an operand, besides the reserved keywords.
_EXPECTS_OPERAND = frozenset({"BETWEEN", "LIKE", "ILIKE", "SIMILAR", "VALUES", "SET"})
#: Words written with a space before "(" (others, like function names, without).
_SPACE_PAREN = _RESERVED | frozenset(
    {"VALUES", "EXISTS", "OVER", "FILTER", "BETWEEN", "SET", "JOIN", "IS"}
)
#: ``DATE '2020-01-01'``-style typed literals become ``$n::date``.
_TYPED_LITERAL = frozenset({"date", "time", "timestamp", "timestamptz", "interval"})
_PUNCT = frozenset({"(", ")", "[", "]", ",", ";", ".", "::"})
_NO_SPACE_BEFORE = frozenset({")", "]", ",", ";", ".", "::", "["})
_NO_SPACE_AFTER = frozenset({"(", "[", ".", "::"})


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str


def _pg_tokens(sql: str) -> list[_Tok]:
    """Tokens from PostgreSQL's lexer (raises pglast.parser.ParseError)."""
    out = []
    for t in parser.scan(sql):
        text = sql[t.start : t.end + 1]
        name = t.name
        if name in _COMMENTS:
            continue
        if name in _CONSTS:
            out.append(_Tok(CONST, text))
        elif name == "PARAM":
            out.append(_Tok(PARAM, text))
        elif name.startswith("ASCII_") or name == "TYPECAST":
            out.append(_Tok(PUNCT if text in _PUNCT else OP, text))
        elif name in ("IDENT", "UIDENT") and '"' in text:
            out.append(_Tok(QUOTED, text))
        elif name in ("IDENT", "UIDENT") or t.kind != "NO_KEYWORD":
            out.append(_Tok(WORD, text))
        else:  # Op, comparison operators, "..", ":=", "=>"
            out.append(_Tok(OP, text))
    return out


_FALLBACK = re.compile(
    r"""(?P<ws>[ \t\n\r\f\v]+)
    |(?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    |(?P<const>[EeBbXxNn]?'(?:[^']|'')*(?:'|\Z)|\$(?P<tag>[A-Za-z_]\w*)?\$.*?(?:\$(?P=tag)\$|\Z)
       |(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?))
    |(?P<param>\$\d+)
    |(?P<quoted>"(?:[^"]|"")*(?:"|\Z))
    |(?P<word>[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*)
    |(?P<dots>\.\.)
    |(?P<punct>::|[()\[\],;.])
    |(?P<op>(?:(?!--|/\*)[-+*/<>=~!@#%^&|`?])+)
    |(?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)


def _trim_op(op: str) -> list[str]:
    """Split an operator as PostgreSQL's lexer does: a trailing ``+``/``-`` belongs to an
    operator only if it holds one of ``~!@#^&|`?%`` (so ``=-`` is ``=`` then ``-``)."""
    out: list[str] = []
    while op:
        head = op
        while len(head) > 1 and head[-1] in "+-" and not any(c in head for c in "~!@#^&|`?%"):
            head = head[:-1]
        out.append(head)
        op = op[len(head) :]
    return out


def _regex_tokens(sql: str) -> list[_Tok]:
    """Tokens for text PostgreSQL's lexer refuses (unterminated quotes, truncated text)."""
    out: list[_Tok] = []
    for m in _FALLBACK.finditer(sql):
        kind = m.lastgroup
        text = m.group()
        if kind in ("ws", "comment"):
            continue
        if kind == "op":
            out.extend(_Tok(OP, part) for part in _trim_op(text))
        elif kind in ("other", "dots"):
            out.append(_Tok(OP, text))
        else:
            out.append(_Tok(kind or OP, text))
    return out


# -- normalization ------------------------------------------------------------------------------


def _operand_ends(tok: _Tok | None) -> bool:
    """Whether ``tok`` can end an operand (so a following ``?``/sign is an operator)."""
    if tok is None:
        return False
    if tok.kind in (CONST, PARAM, QUOTED, "ph"):
        return True
    if tok.kind == WORD:
        up = tok.text.upper()
        if up in ("NULL", "TRUE", "FALSE"):
            return True
        return up not in _RESERVED and up not in _EXPECTS_OPERAND
    return tok.text in (")", "]")


def _placeholders(tokens: list[_Tok]) -> list[_Tok]:
    """Literals, ``?`` and parameters as placeholder tokens ``ph`` (text: original param)."""
    out: list[_Tok] = []
    i, n = 0, len(tokens)
    while i < n:
        t = tokens[i]
        prev = out[-1] if out else None
        nxt = tokens[i + 1] if i + 1 < n else None
        if (
            t.kind == OP
            and t.text in ("-", "+")
            and nxt is not None
            and nxt.kind == CONST
            and _NUMERIC.match(nxt.text)
            and not _operand_ends(prev)
        ):
            out.append(_Tok("ph", ""))  # a signed number is one literal
            i += 2
            continue
        if (
            t.kind == WORD
            and t.text.lower() in _TYPED_LITERAL
            and nxt is not None
            and nxt.kind == CONST
            and nxt.text.startswith("'")
            and not _operand_ends(prev)
        ):
            out.extend((_Tok("ph", ""), _Tok(PUNCT, "::"), _Tok(WORD, t.text.lower())))
            i += 2
            continue
        if t.kind == CONST or (t.kind == OP and t.text == "?" and not _operand_ends(prev)):
            out.append(_Tok("ph", ""))
        elif t.kind == PARAM:
            out.append(_Tok("ph", t.text))
        else:
            out.append(t)
        i += 1
    return out


def _list_end(tokens: list[_Tok], i: int, close: str) -> int | None:
    """If ``tokens[i:]`` is ``ph (, ph)* close``, the index of ``close``."""
    j = i
    while j < len(tokens) and tokens[j].kind == "ph":
        j += 1
        if j < len(tokens) and tokens[j].text == "," and tokens[j].kind == PUNCT:
            j += 1
            continue
        return j if j < len(tokens) and tokens[j].text == close else None
    return None


def _collapse(tokens: list[_Tok]) -> list[_Tok]:
    """``IN (ph, ph)`` -> ``IN (ph)``, ``ARRAY[ph, ph]`` -> ``ARRAY[ph]``, and VALUES rows of
    placeholders after the first dropped."""
    out: list[_Tok] = []
    i, n = 0, len(tokens)
    while i < n:
        t = tokens[i]
        out.append(t)
        i += 1
        up = t.text.upper() if t.kind == WORD else ""
        if up in ("IN", "ARRAY", "VALUES") and i < n and tokens[i].text in ("(", "["):
            close = ")" if tokens[i].text == "(" else "]"
            end = _list_end(tokens, i + 1, close)
            if end is None:
                continue
            row = tokens[i : end + 1]
            if up != "VALUES":
                out.extend((tokens[i], tokens[i + 1], tokens[end]))
                i = end + 1
                continue
            out.extend(row)
            i = end + 1
            width = len(row)
            while (
                i + 1 < n
                and tokens[i].text == ","
                and tokens[i + 1].text == "("
                and _list_end(tokens, i + 2, ")") == i + width
            ):
                i += width + 1
    return out


def _spaced(prev: _Tok | None, tok: _Tok) -> bool:
    if prev is None:
        return False
    if (tok.text[:1], prev.text[-1:]) in ((".", "."), (":", ":")):
        return True  # ".." or ":::" would lex as other tokens
    if tok.kind == PUNCT and tok.text in _NO_SPACE_BEFORE:
        return False
    if prev.kind == PUNCT and prev.text in _NO_SPACE_AFTER:
        return False
    if tok.kind == PUNCT and tok.text == "(":
        return not (prev.kind in (WORD, QUOTED) and prev.text.upper() not in _SPACE_PAREN)
    return True


def _render(tokens: Iterable[_Tok]) -> str:
    parts: list[str] = []
    numbers: dict[str, int] = {}
    count = 0
    prev: _Tok | None = None
    for t in tokens:
        if t.kind == "ph":
            if t.text and t.text in numbers:
                text = f"${numbers[t.text]}"
            else:
                count += 1
                if t.text:
                    numbers[t.text] = count
                text = f"${count}"
            t = _Tok("ph", text)
        if _spaced(prev, t):
            parts.append(" ")
        parts.append(t.text)
        prev = t
    return "".join(parts)


def normalize(sql: str) -> str:
    """The statement with literals as ``$1..$n``, lists collapsed, no comments, single spaces.

    Idempotent; literals never survive. Uses PostgreSQL's lexer, or a regex tokenizer for text
    it refuses.
    """
    sql = sql.replace("\x00", "")  # the C lexer stops at NUL (events never carry one)
    try:
        tokens = _pg_tokens(sql)
    except parser.ParseError:
        tokens = _regex_tokens(sql)
    while tokens and tokens[-1].text == ";" and tokens[-1].kind == PUNCT:
        tokens.pop()
    return _render(_collapse(_placeholders(tokens)))


def fingerprint(normalized: str) -> str:
    """16 hex digits: libpg_query's fingerprint of the statement (ignores literals, list
    lengths, aliases' spelling...), or a hash of the normalized text if it does not parse."""
    try:
        return str(parser.fingerprint(normalized))
    except parser.ParseError:
        return hashlib.blake2b(normalized.encode(), digest_size=8).hexdigest()


# -- shape and advice ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryShape:
    """What the advice rules look at, from the parse tree (or regexes if it did not parse)."""

    statement: str = ""
    """``select``, ``insert``, ``update``, ``delete`` or ``other``."""
    select_star: bool = False
    leading_wildcard: tuple[str, ...] = ()
    """Columns compared with LIKE/ILIKE against a pattern starting with ``%`` or ``_``."""
    unfiltered_write: str | None = None
    """The table an UPDATE or DELETE without WHERE changes."""
    order_without_limit: bool = False
    parsed: bool = False


def _walk(node: Any, skip: bool = False) -> Iterator[tuple[Any, bool]]:
    """Every AST node with whether it sits inside an EXISTS subquery."""
    if isinstance(node, (list, tuple)):
        for x in node:
            yield from _walk(x, skip)
        return
    if not isinstance(node, ast.Node):
        return
    yield node, skip
    if isinstance(node, ast.SubLink) and node.subLinkType == SubLinkType.EXISTS_SUBLINK:
        skip = True
    for name in type(node).__slots__:
        child = getattr(node, name, None)
        if isinstance(child, (ast.Node, list, tuple)):
            yield from _walk(child, skip)


def _column(node: Any) -> str | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.ColumnRef):
        return ".".join(str(f.sval) for f in node.fields or () if isinstance(f, ast.String))
    return None


def _leading_pattern(node: Any) -> bool:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.A_Expr) and node.name and node.name[0].sval == "||":
        return _leading_pattern(node.lexpr)
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.String):
        return str(node.val.sval)[:1] in ("%", "_")
    return False


def _tree_shape(stmt: Any) -> QueryShape:
    kinds = {
        ast.SelectStmt: "select",
        ast.InsertStmt: "insert",
        ast.UpdateStmt: "update",
        ast.DeleteStmt: "delete",
    }
    statement = kinds.get(type(stmt), "other")
    star = False
    wildcards: list[str] = []
    for node, in_exists in _walk(stmt):
        if isinstance(node, ast.SelectStmt) and not in_exists:
            for target in node.targetList or ():
                val = getattr(target, "val", None)
                if isinstance(val, ast.ColumnRef) and isinstance(
                    (val.fields or (None,))[-1], ast.A_Star
                ):
                    star = True
        elif (
            isinstance(node, ast.A_Expr)
            and node.kind in (A_Expr_Kind.AEXPR_LIKE, A_Expr_Kind.AEXPR_ILIKE)
            and _leading_pattern(node.rexpr)
        ):
            wildcards.append(_column(node.lexpr) or "an expression")
    unfiltered = None
    if isinstance(stmt, (ast.UpdateStmt, ast.DeleteStmt)) and stmt.whereClause is None:
        unfiltered = stmt.relation.relname if stmt.relation is not None else "the table"
    order = isinstance(stmt, ast.SelectStmt) and bool(stmt.sortClause) and stmt.limitCount is None
    return QueryShape(statement, star, tuple(dict.fromkeys(wildcards)), unfiltered, order, True)


_RX_STAR = re.compile(r"\bSELECT\s+(?:DISTINCT\s+)?(?:\w+\.)?\*", re.I)
_RX_LIKE = re.compile(r"([\w.\"]+)\s+(?:NOT\s+)?I?LIKE\s+[Ee]?'[%_]", re.I)
_RX_WRITE = re.compile(r"^\s*(UPDATE|DELETE\s+FROM)\s+(?:ONLY\s+)?([\w.\"]+)", re.I)
_RX_WHERE = re.compile(r"\bWHERE\b", re.I)
_RX_ORDER = re.compile(r"\bORDER\s+BY\b", re.I)
_RX_LIMIT = re.compile(r"\b(?:LIMIT|FETCH)\b", re.I)
_RX_FIRST = re.compile(r"^\s*(\w+)")


def _regex_shape(sql: str) -> QueryShape:
    first = _RX_FIRST.match(sql)
    word = first.group(1).lower() if first else ""
    statement = word if word in ("select", "insert", "update", "delete") else "other"
    write = _RX_WRITE.match(sql)
    unfiltered = write.group(2) if write and not _RX_WHERE.search(sql) else None
    order = statement == "select" and bool(_RX_ORDER.search(sql)) and not _RX_LIMIT.search(sql)
    likes = tuple(dict.fromkeys(m.group(1) for m in _RX_LIKE.finditer(sql)))
    return QueryShape(statement, bool(_RX_STAR.search(sql)), likes, unfiltered, order, False)


def shape_of(sql: str, normalized: str) -> QueryShape:
    """The shape of ``sql``: from its parse tree; if only the normalized form parses (``?``
    placeholders, say), from that tree with LIKE patterns read from ``sql``; else regexes."""
    for text in (sql, normalized):
        try:
            stmts = parse_sql(text)
        except parser.ParseError:
            continue
        if len(stmts) != 1:
            break
        shape = _tree_shape(stmts[0].stmt)
        if text is normalized:  # the literals are gone: LIKE patterns come from the text
            likes = _regex_shape(sql).leading_wildcard
            shape = QueryShape(
                shape.statement,
                shape.select_star,
                likes,
                shape.unfiltered_write,
                shape.order_without_limit,
                True,
            )
        return shape
    return _regex_shape(sql)


def advice_for(shape: QueryShape, rows: int, large_result_rows: int) -> tuple[str, ...]:
    """The advice rules: one line each, saying what to do and why."""
    out: list[str] = []
    big = rows > large_result_rows
    if big and shape.statement in ("select", "other", ""):
        out.append(
            f"paginate: {rows:,} rows in one result (over {large_result_rows:,}); fetch pages "
            "with LIMIT and keyset pagination (WHERE id > last seen) so memory and transfer "
            "stay bounded"
        )
    if shape.order_without_limit and big:
        out.append(
            f"ORDER BY without LIMIT over {rows:,} rows: the whole result is sorted before the "
            "first row is sent; add LIMIT (a top-N sort) or paginate"
        )
    if shape.select_star:
        out.append(
            "SELECT *: name the columns you need; * reads and ships every column and rules "
            "out index-only scans"
        )
    out.extend(
        f"leading-wildcard LIKE on {col}: a B-tree index cannot serve a pattern starting "
        "with % or _; use a pg_trgm GIN index or full-text search"
        for col in shape.leading_wildcard
    )
    if shape.unfiltered_write is not None:
        verb = "UPDATE" if shape.statement == "update" else "DELETE"
        out.append(
            f"{verb} without WHERE: touches every row of {shape.unfiltered_write}; add a WHERE "
            "clause, or batch the change to keep locks and WAL small"
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class QueryAnalysis:
    """A statement's normalized text, fingerprint and shape (rows-independent parts)."""

    normalized: str
    fingerprint: str
    shape: QueryShape

    def advice(self, rows: int, large_result_rows: int) -> tuple[str, ...]:
        """Advice for one execution that returned ``rows`` rows."""
        return advice_for(self.shape, rows, large_result_rows)


MAX_TEXT: Final = 65_536


def analyze(sql: str) -> QueryAnalysis:
    """Normalize, fingerprint and shape one statement text."""
    sql = sql[:MAX_TEXT]
    normalized = normalize(sql)
    return QueryAnalysis(normalized, fingerprint(normalized), shape_of(sql, normalized))
