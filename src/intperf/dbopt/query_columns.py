"""What a SQL statement does with each table's columns, read from PostgreSQL's own parse tree
(pglast): equality, range and join columns, ORDER BY / GROUP BY keys, partial-index predicates
and which `$n` parameter is compared with which column. Pure: no database."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache

from pglast import parse_sql
from pglast.parser import ParseError

from intperf.dbopt.query_model import (
    Catalog,
    Extraction,
    ParamRole,
    ParamUse,
    TableUse,
    quote_ident,
)
from intperf.dbopt.query_walker import Walker

__all__ = ["Catalog", "Extraction", "ParamRole", "ParamUse", "TableUse", "extract", "qualify",
           "quote_ident", "referenced_tables"]

_log = logging.getLogger(__name__)


def referenced_tables(query: str) -> tuple[str, ...]:
    """The tables a statement names (to fetch their columns before `extract`)."""
    return extract(query).tables()


def extract(query: str, catalog: Catalog | None = None) -> Extraction:
    """Read a (normalized) statement; never raises: a parse error is reported in ``error``."""
    key = None if catalog is None else tuple(sorted((t, frozenset(c)) for t, c in catalog.items()))
    return _extract_cached(query, key)


@lru_cache(maxsize=4096)
def _extract_cached(query: str, catalog_key: tuple[tuple[str, frozenset[str]], ...] | None
                    ) -> Extraction:
    catalog = None if catalog_key is None else dict(catalog_key)
    try:
        stmts = parse_sql(query)
    except ParseError as exc:
        return Extraction(error=f"parse error: {exc}")
    walker = Walker(catalog)
    try:
        for raw in stmts:
            walker.statement(raw.stmt)
    except (AttributeError, TypeError, IndexError, RecursionError) as exc:
        # A parse-tree shape this walker does not know: report it, never fail the analysis.
        _log.debug("unsupported statement shape: %s", exc)
        return Extraction(error=f"unsupported statement: {type(exc).__name__}: {exc}")
    return Extraction(tuple(o.freeze() for o in walker.occurrences), tuple(walker.params))


def qualify(extraction: Extraction, names: Mapping[str, str]) -> Extraction:
    """The extraction with tables renamed through `names` (written -> schema-qualified);
    occurrences of tables not in `names` (views, unknown) are left out."""
    uses = tuple(replace(u, table=names[u.table]) for u in extraction.uses if u.table in names)
    params = tuple(p if p.table is None else replace(p, table=names.get(p.table))
                   for p in extraction.params if p.table is None or p.table in names)
    return Extraction(uses, params, extraction.error)
