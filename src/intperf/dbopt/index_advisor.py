"""The index advisor: candidates from the workload's statements, what-if costing with HypoPG,
greedy selection under a storage budget and an index count, and the advice with its
``CREATE INDEX CONCURRENTLY`` (docs/dbopt.md, "Index advisor"; docs/MATH.md)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from intperf.dbopt.advisor_catalog import (
    TableInfo,
    index_names,
    period_ratio,
    read_tables,
    setting,
)
from intperf.dbopt.candidates import IndexCandidate, candidates_for
from intperf.dbopt.query_columns import Extraction, extract, qualify
from intperf.dbopt.selection import (
    Selection,
    SelectionSettings,
    TableWrites,
    WorkloadQuery,
    select_indexes,
)
from intperf.dbopt.whatif import WhatIf, WhatIfError, hypopg_available
from intperf.dbopt.whatif_params import ParameterStrategy
from intperf.dbopt.workload import Statement
from intperf.errors import TargetDatabaseError

_log = logging.getLogger(__name__)
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class QueryGain:
    """A statement an index helps: planner cost per call without and with the advice."""

    queryid: int
    query: str
    calls: int
    cost_before: float
    cost_after: float

    def to_dict(self) -> dict[str, Any]:
        """JSON shape."""
        return {"queryid": self.queryid, "query": self.query, "calls": self.calls,
                "cost_before": round(self.cost_before, 2), "cost_after": round(self.cost_after, 2)}


@dataclass(frozen=True, slots=True)
class IndexAdvice:
    """One recommended index (docs/internals-dbopt.md)."""

    table: str  # schema-qualified
    columns: tuple[str, ...]  # key columns in order
    include: tuple[str, ...] = ()
    where: str | None = None  # partial index predicate
    estimated_bytes: int = 0
    create_sql: str = ""  # CREATE INDEX CONCURRENTLY ...
    helps: tuple[QueryGain, ...] = ()
    workload_gain: float = 0.0  # sum of calls * (before - after), minus the write cost
    name: str = ""
    write_cost: float = 0.0

    def candidate(self) -> IndexCandidate:
        """The index as a candidate (for what-if checks)."""
        return IndexCandidate(self.table, self.columns, self.include, self.where)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape (``intperf db analyze --json``)."""
        return {"table": self.table, "columns": list(self.columns), "include": list(self.include),
                "where": self.where, "name": self.name, "estimated_bytes": self.estimated_bytes,
                "create_sql": self.create_sql, "workload_gain": round(self.workload_gain, 2),
                "write_cost": round(self.write_cost, 2),
                "helps": [h.to_dict() for h in self.helps]}


@dataclass(slots=True)
class AdvisorRun:
    """Everything a run found: the advice plus the numbers behind it (benchmarks, reports)."""

    advice: list[IndexAdvice]
    selection: Selection | None
    statements: dict[int, Statement]
    skipped: dict[int, str] = field(default_factory=dict)  # queryid -> why it was not costed
    candidates: int = 0
    whatif_calls: int = 0
    whatif_hits: int = 0
    seconds: float = 0.0

    @property
    def cost_before(self) -> float:
        """Weighted workload cost (planner units) without the advice."""
        return self.selection.cost_before if self.selection else 0.0

    @property
    def cost_after(self) -> float:
        """Weighted workload cost with the advice (write overhead included)."""
        return self.selection.cost_after if self.selection else 0.0


def advise_indexes(conn: psycopg.Connection[Any], workload: Sequence[Statement], *,
                   budget_bytes: int | None, max_indexes: int = 10,
                   progress: Progress | None = None,
                   strategy: ParameterStrategy | None = None) -> list[IndexAdvice]:
    """Recommend indexes for the workload (contract in docs/internals-dbopt.md)."""
    return run_advisor(conn, workload, budget_bytes=budget_bytes, max_indexes=max_indexes,
                       progress=progress, strategy=strategy).advice


@dataclass(slots=True)
class PreparedWorkload:
    """The workload read against the catalog: what each statement does with which table."""

    statements: dict[int, Statement]
    qualified: dict[int, Extraction]  # every statement, tables schema-qualified
    costable: dict[int, Extraction]  # those an index could serve
    tables: dict[str, TableInfo]  # by qualified name
    skipped: dict[int, str]  # queryid -> why it is not costed


def prepare_workload(conn: psycopg.Connection[Any], workload: Sequence[Statement]
                     ) -> PreparedWorkload:
    """Parse every statement, resolve its tables and columns in the catalog."""
    statements = {s.queryid: s for s in workload if s.calls > 0}
    raw = {qid: extract(s.query) for qid, s in statements.items()}
    tables = read_tables(conn, {t for e in raw.values() for t in e.tables()})
    catalog = {name: info.columns for name, info in tables.items()}
    names = {name: info.name for name, info in tables.items()}
    qualified = {qid: qualify(extract(s.query, catalog), names) for qid, s in statements.items()}
    costable: dict[int, Extraction] = {}
    skipped: dict[int, str] = {}
    for qid, e in qualified.items():
        if e.error:
            skipped[qid] = e.error
        elif not any(u.equality or u.range or u.join or u.order_by or u.group_by
                     for u in e.uses):
            skipped[qid] = "no predicate, join or sort an index could serve"
        else:
            costable[qid] = e
    return PreparedWorkload(statements, qualified, costable,
                            {info.name: info for info in tables.values()}, skipped)


def register_workload(whatif: WhatIf, prepared: PreparedWorkload) -> list[WorkloadQuery]:
    """Prepare the costable statements on the what-if session (failures go to ``skipped``)."""
    queries = []
    for qid, e in prepared.costable.items():
        try:
            whatif.register(qid, prepared.statements[qid].query)
        except WhatIfError as exc:
            prepared.skipped[qid] = str(exc)
            continue
        queries.append(WorkloadQuery(qid, float(prepared.statements[qid].calls),
                                     frozenset(u.table for u in e.uses)))
    return queries


def run_advisor(conn: psycopg.Connection[Any], workload: Sequence[Statement], *,
                budget_bytes: int | None, max_indexes: int = 10,
                progress: Progress | None = None, strategy: ParameterStrategy | None = None,
                settings: SelectionSettings | None = None,
                candidate_filter: Callable[[IndexCandidate], bool] | None = None) -> AdvisorRun:
    """`advise_indexes` with the numbers behind the advice."""
    started = time.perf_counter()
    say = progress or (lambda _msg: None)
    if not hypopg_available(conn):
        raise TargetDatabaseError("HypoPG is not installed in this database: the index advisor "
                                  "needs it (CREATE EXTENSION hypopg)")
    prepared = prepare_workload(conn, workload)
    say(f"{len(prepared.statements)} statements on {len(prepared.tables)} tables")
    candidates = _candidates(prepared.costable, prepared.tables, candidate_filter)
    say(f"{len(candidates)} index candidates from {len(prepared.costable)} statements")
    whatif = WhatIf(conn, strategy=strategy)
    try:
        queries = register_workload(whatif, prepared)
        say(f"costing {len(queries)} statements with HypoPG ({whatif.strategy.name} plans)")
        if settings is None:
            settings = SelectionSettings(
                budget_bytes=budget_bytes, max_indexes=max_indexes,
                entry_cost=setting(conn, "random_page_cost", 4.0))
        writes = _writes(prepared.tables, prepared.qualified, period_ratio(conn))
        selection = select_indexes(queries, candidates, whatif, whatif.size, writes, settings,
                                   say)
        advice = _advice(conn, selection, prepared.statements)
        say(f"{len(advice)} indexes recommended ({whatif.calls} what-if plans,"
            f" {whatif.hits} from the cache)")
        return AdvisorRun(advice, selection, prepared.statements, prepared.skipped,
                          len(candidates), whatif.calls, whatif.hits,
                          time.perf_counter() - started)
    finally:
        whatif.close()


def _candidates(extractions: dict[int, Extraction], infos: dict[str, TableInfo],
                keep: Callable[[IndexCandidate], bool] | None) -> list[IndexCandidate]:
    found: dict[IndexCandidate, None] = {}
    for e in extractions.values():
        for cand in candidates_for(e):
            info = infos.get(cand.table)
            if info is None or any(ix.serves(cand) for ix in info.indexes):
                continue  # an existing index already does this
            if keep is None or keep(cand):
                found[cand] = None
    return sorted(found, key=IndexCandidate.sort_key)


def _writes(infos: dict[str, TableInfo], qualified: dict[int, Extraction], ratio: float
            ) -> dict[str, TableWrites]:
    """Write counters rescaled to the statements' period; the columns UPDATEs set."""
    updated: dict[str, set[str]] = {}
    for e in qualified.values():
        for u in e.uses:
            updated.setdefault(u.table, set()).update(u.updated)
    return {name: TableWrites(info.inserted * ratio, info.updated * ratio,
                              info.hot_updated * ratio, frozenset(updated.get(name, ())),
                              len(info.indexes))
            for name, info in infos.items()}


def _advice(conn: psycopg.Connection[Any], selection: Selection,
            statements: dict[int, Statement]) -> list[IndexAdvice]:
    taken: dict[str, set[str]] = {}
    out = []
    for cand in selection.chosen:
        schema = cand.table.split(".", 1)[0]
        if schema not in taken:
            taken[schema] = index_names(conn, schema)
        name = _unique_name(cand.suggested_name(), taken[schema])
        helps = []
        for key, after in selection.after.items():
            if cand in after.used:
                stmt = statements[_qid(key)]
                helps.append(QueryGain(stmt.queryid, stmt.query, stmt.calls,
                                       selection.before[key].cost, after.cost))
        helps.sort(key=lambda g: -g.calls * (g.cost_before - g.cost_after))
        definition = cand.definition(name, concurrently=True)
        out.append(IndexAdvice(cand.table, cand.columns, cand.include, cand.where,
                               selection.sizes[cand], definition, tuple(helps),
                               selection.marginal.get(cand, 0.0), name,
                               selection.write_costs.get(cand, 0.0)))
    out.sort(key=lambda a: -a.workload_gain)
    return out


def _qid(key: Hashable) -> int:
    return key if isinstance(key, int) else int(str(key))


def _unique_name(base: str, taken: set[str]) -> str:
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base[:58]}{n}"
    taken.add(name)
    return name


__all__ = ["AdvisorRun", "IndexAdvice", "PreparedWorkload", "QueryGain", "advise_indexes",
           "prepare_workload", "register_workload", "run_advisor"]
