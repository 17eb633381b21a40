"""Index candidates from a workload's statements: the key column rules (equality first, then one
range column or the sort keys, width up to 3), covering (INCLUDE) and partial variants. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from intperf.dbopt.query_columns import Catalog, Extraction, TableUse, extract, quote_ident

MAX_WIDTH = 3
#: A covering variant only when this few columns are left over: INCLUDE makes an index bigger.
MAX_INCLUDE = 3
#: Generation stops at this many candidates per table occurrence (the shortest keys come first).
MAX_PER_USE = 48


@dataclass(frozen=True, slots=True)
class IndexCandidate:
    """A B-tree index that could be created: key columns, INCLUDE columns, partial predicate."""

    table: str  # "orders" or "public.orders"; the advisor qualifies it from the catalog
    columns: tuple[str, ...]
    include: tuple[str, ...] = ()
    where: str | None = None

    @property
    def width(self) -> int:
        """Number of key columns."""
        return len(self.columns)

    def sort_key(self) -> tuple[str, tuple[str, ...], tuple[str, ...], str]:
        """A total order for deterministic output."""
        return (self.table, self.columns, self.include, self.where or "")

    def label(self) -> str:
        """Short human form: ``orders(a, b) INCLUDE (c) WHERE ...``."""
        text = f"{self.table}({', '.join(self.columns)})"
        if self.include:
            text += f" INCLUDE ({', '.join(self.include)})"
        if self.where:
            text += f" WHERE {self.where}"
        return text

    def definition(self, name: str | None = None, *, concurrently: bool = False) -> str:
        """The ``CREATE INDEX`` statement, identifiers quoted (HypoPG takes it without name)."""
        head = "CREATE INDEX CONCURRENTLY" if concurrently else "CREATE INDEX"
        if name:
            head += f" {quote_ident(name)}"
        text = f"{head} ON {quote_table(self.table)} ({_idents(self.columns)})"
        if self.include:
            text += f" INCLUDE ({_idents(self.include)})"
        if self.where:
            text += f" WHERE {self.where}"
        return text

    def suggested_name(self) -> str:
        """``<table>_<cols>_idx`` within PostgreSQL's 63-byte identifier limit."""
        base = "_".join([self.table.rsplit(".", 1)[-1], *self.columns])
        if self.include:
            base += "_incl"
        if self.where:
            base += "_part"
        return f"{base[:55]}_idx"


def quote_table(table: str) -> str:
    """``schema.table`` with each part quoted when it needs to be."""
    return ".".join(quote_ident(part) for part in table.split(".", 1))


def _idents(names: Iterable[str]) -> str:
    return ", ".join(quote_ident(n) for n in names)


def candidates_for_use(use: TableUse, *, max_width: int = MAX_WIDTH,
                       max_include: int = MAX_INCLUDE) -> list[IndexCandidate]:
    """Every candidate one table occurrence suggests, shortest keys first.

    Key rule: equality (and join) columns first, then either one range column or the ORDER BY /
    GROUP BY keys (an index on ``(eq..., sort...)`` returns rows in sort order for fixed
    equality values).
    """
    keys = _keys(use, max_width)
    out: dict[IndexCandidate, None] = {}
    for key in keys:
        out[IndexCandidate(use.table, key)] = None
    for key in keys:
        covering = _covering(use, key, (), max_include)
        if covering is not None:
            out[covering] = None
    for predicate, column in _partials(use):
        trimmed = {tuple(c for c in key if c != column) for key in keys}
        for key in sorted(k for k in trimmed if k):
            out[IndexCandidate(use.table, key, (), predicate)] = None
            covering = _covering(use, key, (column,), max_include, predicate)
            if covering is not None:
                out[covering] = None
    ordered = sorted(out, key=lambda c: (c.width, len(c.include), c.where is not None,
                                         c.sort_key()))
    return ordered[:MAX_PER_USE]


def _keys(use: TableUse, max_width: int) -> list[tuple[str, ...]]:
    eq = list(dict.fromkeys([*use.equality, *use.join]))
    ranges = [c for c in use.range if c not in eq]
    prefixes: list[tuple[str, ...]] = [tuple(eq[:k]) for k in range(1, min(len(eq), max_width) + 1)]
    if len(eq) == 2:
        prefixes.append((eq[1], eq[0]))
    prefixes += [(c,) for c in eq]
    keys: dict[tuple[str, ...], None] = dict.fromkeys(prefixes)
    for prefix in [(), *prefixes]:
        if len(prefix) < max_width:
            for col in ranges:
                keys[(*prefix, col)] = None
        for sort in (use.order_by, use.group_by):
            # Equality-bound sort keys are constants: leaving them out keeps the order.
            rest = tuple(c for c in sort if c not in eq)
            if rest and len(prefix) < max_width:
                keys[(*prefix, *rest)[:max_width]] = None
    return [k for k in keys if k]


def _covering(use: TableUse, key: tuple[str, ...], also_known: tuple[str, ...],
              max_include: int, where: str | None = None) -> IndexCandidate | None:
    if use.star:
        return None
    rest = tuple(c for c in use.referenced if c not in key and c not in also_known)
    if not rest or len(rest) > max_include:
        return None
    return IndexCandidate(use.table, key, rest, where)


def _partials(use: TableUse) -> list[tuple[str, str]]:
    """(predicate, column) pairs; the column is the one the predicate fixes."""
    out = []
    for predicate in use.partial:
        column = next((c for c in use.referenced if _mentions(predicate, c)), None)
        if column is not None:
            out.append((predicate, column))
    return out


def _mentions(predicate: str, column: str) -> bool:
    text = predicate.removeprefix("NOT ")
    ident = quote_ident(column)
    return text == ident or text.startswith((f"{ident} ", f"{ident}="))


def candidates_for(extraction: Extraction, **kwargs: int) -> list[IndexCandidate]:
    """Candidates of one statement, deduplicated across its table occurrences, sorted."""
    found: dict[IndexCandidate, None] = {}
    for use in extraction.uses:
        for cand in candidates_for_use(use, **kwargs):
            found[cand] = None
    return sorted(found, key=IndexCandidate.sort_key)


def statement_candidates(query: str, catalog: Catalog | None = None) -> list[IndexCandidate]:
    """Parse one statement and return its candidates (empty when it does not parse)."""
    return candidates_for(extract(query, catalog))


def workload_candidates(queries: Sequence[str], catalog: Catalog | None = None
                        ) -> dict[IndexCandidate, list[int]]:
    """Candidates of a workload, each with the indexes (positions) of the statements that
    suggested it."""
    out: dict[IndexCandidate, list[int]] = {}
    for i, query in enumerate(queries):
        for cand in statement_candidates(query, catalog):
            out.setdefault(cand, []).append(i)
    return dict(sorted(out.items(), key=lambda kv: kv[0].sort_key()))
