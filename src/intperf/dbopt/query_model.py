"""The values a statement's analysis produces (`TableUse`, `ParamUse`, `Extraction`) and
identifier quoting as PostgreSQL writes it. Pure."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

from pglast.keywords import COL_NAME_KEYWORDS, RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS
from psycopg import sql

ParamRole = Literal["eq", "lower", "upper", "limit", "offset"]
#: The catalog: column names of each table, keyed as the statement names it
#: (``orders`` or ``public.orders``). Resolves unqualified columns in joins.
Catalog = Mapping[str, Collection[str]]


@dataclass(frozen=True, slots=True)
class TableUse:
    """One occurrence of a table in one query level (a self-join gives two)."""

    table: str  # as written: "orders" or "public.orders"
    equality: tuple[str, ...] = ()  # col = const/$n, IN (...), = ANY($n), IS NULL
    range: tuple[str, ...] = ()  # <, <=, >, >=, BETWEEN
    join: tuple[str, ...] = ()  # compared with another table's column, IN (subquery)
    order_by: tuple[str, ...] = ()  # ORDER BY keys, all from this table, one direction
    group_by: tuple[str, ...] = ()  # GROUP BY keys, all from this table
    referenced: tuple[str, ...] = ()  # every column of this occurrence the statement reads
    star: bool = False  # SELECT * / t.*: no index can cover it
    partial: tuple[str, ...] = ()  # predicates usable as a partial index's WHERE
    updated: tuple[str, ...] = ()  # columns an UPDATE sets (they cost HOT updates)


@dataclass(frozen=True, slots=True)
class ParamUse:
    """A `$n` parameter compared with a column (or a LIMIT/OFFSET): sampling uses it."""

    number: int
    table: str | None
    column: str | None
    role: ParamRole


@dataclass(frozen=True, slots=True)
class Extraction:
    """Everything the statement tells about index candidates; ``error`` when it did not parse."""

    uses: tuple[TableUse, ...] = ()
    params: tuple[ParamUse, ...] = ()
    error: str | None = None

    def tables(self) -> tuple[str, ...]:
        """The tables named, sorted, each once."""
        return tuple(sorted({u.table for u in self.uses}))


def quote_ident(name: str) -> str:
    """An identifier as PostgreSQL's quote_ident writes it: bare when it can be."""
    if _BARE.fullmatch(name) and name not in _KEYWORDS:
        return name
    return str(sql.Identifier(name).as_string())


_BARE = re.compile(r"[a-z_][a-z0-9_$]*")
_KEYWORDS = frozenset(RESERVED_KEYWORDS | TYPE_FUNC_NAME_KEYWORDS | COL_NAME_KEYWORDS)
