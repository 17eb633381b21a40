"""What-if costing with HypoPG: the planner's cost of a statement with a set of hypothetical
indexes, cached per (statement, index set); hypothetical index sizes. I/O on one session.

Nothing here writes: HypoPG's indexes live in the backend's memory, ``PREPARE`` and ``EXPLAIN``
without ANALYZE run in a read-only transaction (checked on PostgreSQL 15 with HypoPG 1.3.1)."""

from __future__ import annotations

import json
import logging
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from pglast import parse_sql
from pglast.parser import ParseError
from psycopg import sql

from intperf.dbopt.candidates import IndexCandidate
from intperf.dbopt.connection import MARKER
from intperf.dbopt.query_columns import ParamUse, extract
from intperf.dbopt.selection import PlanCost
from intperf.dbopt.whatif_params import ColumnStats, GenericPlan, ParameterStrategy

_log = logging.getLogger(__name__)
_DML = ("SelectStmt", "UpdateStmt", "DeleteStmt", "InsertStmt")


@dataclass(slots=True)
class _Prepared:
    query: str
    name: str
    types: tuple[str, ...]
    params: tuple[ParamUse, ...]


class WhatIfError(Exception):
    """A statement cannot be costed (does not parse, is not DML, or the server refused it)."""


class WhatIf:
    """Costs registered statements under hypothetical index sets on one HypoPG session.

    It owns the session's hypothetical indexes: creating one resets them, so use one at a
    time per connection (``close`` resets them again).
    """

    def __init__(self, conn: psycopg.Connection[Any], *,
                 strategy: ParameterStrategy | None = None) -> None:
        self.conn = conn
        self.strategy: ParameterStrategy = GenericPlan() if strategy is None else strategy
        self.server_version: int = conn.info.server_version
        self.calls = 0  # EXPLAINs run
        self.hits = 0  # answered from the cache
        self._statements: dict[Hashable, _Prepared] = {}
        self._cache: dict[tuple[Hashable, frozenset[IndexCandidate]], PlanCost | None] = {}
        self._hypo: dict[IndexCandidate, int] = {}  # created hypothetical indexes -> oid
        self._names: dict[str, IndexCandidate] = {}
        self._sizes: dict[IndexCandidate, int | None] = {}
        self._stats: dict[tuple[str, str], ColumnStats | None] = {}
        # The session's hypothetical indexes are all ours from here on: none left from before.
        self._run(_sql("SELECT set_config('plan_cache_mode', %s, false), hypopg_reset()"),
                  (self.strategy.plan_cache_mode,), commit=True)

    # --- statements ---------------------------------------------------------------------------
    def register(self, key: Hashable, query: str) -> None:
        """Prepare a statement for costing; raises WhatIfError when it cannot be costed."""
        if key in self._statements:
            return
        extraction = extract(query)
        if extraction.error is not None:
            raise WhatIfError(extraction.error)
        if not _single_dml(query):
            raise WhatIfError("not a single SELECT/INSERT/UPDATE/DELETE statement")
        name = f"intperf_whatif_{len(self._statements)}"
        try:
            with self.conn.cursor() as cur:
                _exec(cur, _sql("PREPARE {} AS {}").format(sql.Identifier(name), sql.SQL(query)))
                _exec(cur, _sql("SELECT parameter_types::text[] FROM pg_prepared_statements"
                                " WHERE name = %s"), (name,))
                row = cur.fetchone()
                _exec(cur, _sql("DEALLOCATE {}").format(sql.Identifier(name)))
            self.conn.rollback()
        except psycopg.Error as exc:
            self.conn.rollback()
            raise WhatIfError(f"cannot prepare: {exc.diag.message_primary or exc}") from exc
        types = tuple(row[0] or ()) if row else ()
        self._statements[key] = _Prepared(query, name, types, extraction.params)

    def cost(self, key: Hashable, indexes: Iterable[IndexCandidate] = ()) -> PlanCost | None:
        """The statement's cost with exactly these hypothetical indexes (and the real ones)."""
        chosen = frozenset(indexes)
        cache_key = (key, chosen)
        if cache_key in self._cache:
            self.hits += 1
            return self._cache[cache_key]
        result = self._explain(self._statements[key], chosen)
        self._cache[cache_key] = result
        return result

    def plan(self, key: Hashable, indexes: Iterable[IndexCandidate] = ()) -> dict[str, Any] | None:
        """The JSON plan (for display and checks); not cached."""
        prepared = self._statements[key]
        try:
            self._ensure(frozenset(indexes))
            return self._plan_json(prepared)
        except psycopg.Error as exc:
            self.conn.rollback()
            _log.debug("plan failed: %s", exc)
            return None

    def _explain(self, prepared: _Prepared, chosen: frozenset[IndexCandidate]) -> PlanCost | None:
        try:
            if not self._ensure(chosen):
                return None
            plan = self._plan_json(prepared)
        except psycopg.Error as exc:
            self.conn.rollback()
            _log.debug("what-if failed for %s: %s", prepared.name, exc)
            return None
        top = plan["Plan"]
        used = frozenset(self._names[n] for n in _index_names(top) if n in self._names)
        return PlanCost(float(top["Total Cost"]), used)

    def _plan_json(self, prepared: _Prepared) -> dict[str, Any]:
        self.calls += 1
        generic = self.strategy.plan_cache_mode == "force_generic_plan"
        native = self.server_version >= 160000 and generic
        args = [] if native else self.strategy.arguments(prepared.types, prepared.params,
                                                          self._column_stats)
        with self.conn.cursor() as cur:
            if native:
                _exec(cur, _sql("EXPLAIN (GENERIC_PLAN, FORMAT JSON) {}")
                      .format(sql.SQL(prepared.query)))
                row = cur.fetchone()
            else:
                # Prepared afresh for every plan, in one transaction: a cached generic plan
                # would not see indexes created after it, and psycopg deallocates every
                # prepared statement of the session when a transaction of it rolls back.
                name = sql.Identifier(prepared.name)
                _exec(cur, _sql("PREPARE {} AS {}").format(name, sql.SQL(prepared.query)))
                call = _sql("EXPLAIN (FORMAT JSON) EXECUTE {}").format(name)
                if args:
                    call = sql.SQL("{}({})").format(call, sql.SQL(", ").join(
                        sql.NULL if a is None else sql.Literal(a) for a in args))
                _exec(cur, call)
                row = cur.fetchone()
                _exec(cur, _sql("DEALLOCATE {}").format(name))
        self.conn.rollback()
        if row is None:
            raise WhatIfError("EXPLAIN returned nothing")
        doc = row[0] if not isinstance(row[0], str) else json.loads(row[0])
        return dict(doc[0])

    # --- hypothetical indexes -----------------------------------------------------------------
    def size(self, candidate: IndexCandidate) -> int | None:
        """HypoPG's size estimate in bytes; None when HypoPG refuses the index definition."""
        if candidate not in self._sizes:
            size: int | None = None
            try:
                if self._ensure(frozenset({candidate}), keep=True):
                    with self.conn.cursor() as cur:
                        _exec(cur, _sql("SELECT hypopg_relation_size(%s)"),
                                    (self._hypo[candidate],))
                        row = cur.fetchone()
                    size = int(row[0]) if row and row[0] is not None else None
                self.conn.rollback()
            except psycopg.Error as exc:
                self.conn.rollback()
                _log.debug("no size for %s: %s", candidate.label(), exc)
            self._sizes[candidate] = size
        return self._sizes[candidate]

    def _ensure(self, wanted: frozenset[IndexCandidate], *, keep: bool = False) -> bool:
        """Make the set of hypothetical indexes equal `wanted` (a superset when `keep`)."""
        with self.conn.cursor() as cur:
            if not keep:
                for cand in [c for c in self._hypo if c not in wanted]:
                    _exec(cur, _sql("SELECT hypopg_drop_index(%s)"), (self._hypo.pop(cand),))
            for cand in sorted(wanted - self._hypo.keys(), key=IndexCandidate.sort_key):
                if self._sizes.get(cand, 0) is None:
                    return False  # known bad definition
                try:
                    _exec(cur, _sql("SELECT indexrelid, indexname"
                                     " FROM hypopg_create_index(%s)"),
                                (cand.definition(),))
                    row = cur.fetchone()
                except psycopg.Error as exc:
                    self.conn.rollback()
                    self._sizes[cand] = None
                    _log.debug("HypoPG refused %s: %s", cand.label(), exc)
                    return False
                if row is None:
                    return False
                self._hypo[cand] = int(row[0])
                self._names[str(row[1])] = cand
        return True

    def _column_stats(self, table: str, column: str) -> ColumnStats | None:
        key = (table, column)
        if key not in self._stats:
            schema, _, name = table.rpartition(".")
            row = self._run(_sql(
                "SELECT most_common_vals::text::text[], histogram_bounds::text::text[]"
                " FROM pg_stats WHERE tablename = %s AND attname = %s"
                " AND (schemaname = %s OR %s = '') ORDER BY schemaname LIMIT 1"),
                (name, column, schema, schema))
            self._stats[key] = (ColumnStats(tuple(row[0] or ()), tuple(row[1] or ()))
                                if row else None)
        return self._stats[key]

    def _run(self, query: sql.SQL, args: Sequence[Any] = (), *, commit: bool = False
             ) -> tuple[Any, ...] | None:
        with self.conn.cursor() as cur:
            _exec(cur, query, args)
            row = cur.fetchone() if cur.description else None
        if commit:
            self.conn.commit()
        else:
            self.conn.rollback()
        return row

    def close(self) -> None:
        """Drop every hypothetical index of this session (statements are deallocated after
        each plan already)."""
        try:
            with self.conn.cursor() as cur:
                _exec(cur, _sql("SELECT hypopg_reset()"))
            self.conn.rollback()
        except psycopg.Error as exc:
            _log.debug("what-if cleanup failed: %s", exc)
        self._hypo.clear()


def _exec(cur: psycopg.Cursor[Any], query: sql.SQL | sql.Composed, args: Sequence[Any] | None = None
          ) -> None:
    # Never let psycopg prepare our statements itself (see _plan_json).
    cur.execute(query, args, prepare=False)


def _sql(text: str) -> sql.SQL:
    """A statement of ours, marked so workload readers leave it out."""
    return sql.SQL(MARKER + " " + text)


def _single_dml(query: str) -> bool:
    try:
        stmts = parse_sql(query)
    except ParseError:
        return False
    return len(stmts) == 1 and type(stmts[0].stmt).__name__ in _DML


def _index_names(node: dict[str, Any]) -> Iterator[str]:
    name = node.get("Index Name")
    if isinstance(name, str):
        yield name
    for child in node.get("Plans", ()) or ():
        yield from _index_names(child)


def hypopg_available(conn: psycopg.Connection[Any]) -> bool:
    """True when the HypoPG extension is installed in the connected database."""
    with conn.cursor() as cur:
        _exec(cur, _sql("SELECT 1 FROM pg_extension WHERE extname = 'hypopg'"))
        found = cur.fetchone() is not None
    conn.rollback()
    return found
