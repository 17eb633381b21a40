"""The two baselines of benchmarks/dbopt, costed with the same HypoPG what-if as ours.

A, one single-column index per query (the approach of Supabase's index_advisor): hypothetical
single-column B-tree indexes on every column the query references, keep the ones the
planner's plan uses.

B, Dexter's rules (ankane/dexter): per query, hypothetical single-column indexes on the
columns of its WHERE, JOIN, ORDER BY and GROUP BY, then every two-column permutation of them;
keep the index(es) of the cheaper stage when they save at least 50% of the query's cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import permutations

from intperf.dbopt.advisor_catalog import TableInfo
from intperf.dbopt.candidates import IndexCandidate
from intperf.dbopt.query_columns import Extraction
from intperf.dbopt.selection import WorkloadQuery
from intperf.dbopt.whatif import WhatIf

DEXTER_SAVINGS = 0.5


def _new(cands: Iterable[IndexCandidate], infos: dict[str, TableInfo]) -> list[IndexCandidate]:
    out = []
    for c in dict.fromkeys(cands):
        info = infos.get(c.table)
        if info is not None and not any(ix.serves(c) for ix in info.indexes):
            out.append(c)
    return out


def single_column_per_query(queries: Sequence[WorkloadQuery], extractions: dict[int, Extraction],
                            whatif: WhatIf, infos: dict[str, TableInfo]) -> list[IndexCandidate]:
    """Baseline A."""
    chosen: dict[IndexCandidate, None] = {}
    for q in queries:
        e = extractions[int(str(q.key))]
        cands = _new((IndexCandidate(u.table, (c,)) for u in e.uses for c in u.referenced), infos)
        found = whatif.cost(q.key, cands)
        if found is not None:
            chosen.update(dict.fromkeys(sorted(found.used, key=IndexCandidate.sort_key)))
    return list(chosen)


def dexter(queries: Sequence[WorkloadQuery], extractions: dict[int, Extraction], whatif: WhatIf,
           infos: dict[str, TableInfo]) -> list[IndexCandidate]:
    """Baseline B."""
    chosen: dict[IndexCandidate, None] = {}
    for q in queries:
        e = extractions[int(str(q.key))]
        base = whatif.cost(q.key, ())
        if base is None:
            continue
        singles: list[IndexCandidate] = []
        pairs: list[IndexCandidate] = []
        for u in e.uses:
            cols = list(dict.fromkeys([*u.equality, *u.range, *u.join, *u.order_by,
                                       *u.group_by]))
            singles += [IndexCandidate(u.table, (c,)) for c in cols]
            pairs += [IndexCandidate(u.table, p) for p in permutations(cols, 2)]
        stage1 = whatif.cost(q.key, _new(singles, infos))
        stage2 = whatif.cost(q.key, _new(singles + pairs, infos)) if pairs else None
        best = stage1
        if stage2 is not None and (best is None or stage2.cost < best.cost * 0.99):
            best = stage2
        if best is not None and best.cost <= base.cost * (1 - DEXTER_SAVINGS):
            chosen.update(dict.fromkeys(sorted(best.used, key=IndexCandidate.sort_key)))
    return list(chosen)


def workload_cost(queries: Sequence[WorkloadQuery], whatif: WhatIf,
                  indexes: Sequence[IndexCandidate]) -> float:
    """Weighted planner cost of the workload with these hypothetical indexes."""
    total = 0.0
    for q in queries:
        relevant = [i for i in indexes if i.table in q.tables]
        found = whatif.cost(q.key, relevant) or whatif.cost(q.key, ())
        total += q.weight * (found.cost if found else 0.0)
    return total
