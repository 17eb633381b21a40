"""Index selection over a whole workload: greedy with Extend-style moves (add an index, or widen
a chosen one), weighted by call counts, under a storage budget and a maximum index count,
charging each index its write overhead. Pure: costs come from an injected model
(the algorithm and the write model are in docs/MATH.md, "Index selection")."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from intperf.dbopt.candidates import IndexCandidate


@dataclass(frozen=True, slots=True)
class PlanCost:
    """The planner's total cost of a statement and the hypothetical indexes its plan uses."""

    cost: float
    used: frozenset[IndexCandidate] = frozenset()


class CostModel(Protocol):
    """What-if costing: the cost of a statement given the hypothetical indexes."""

    def cost(self, key: Hashable, indexes: Iterable[IndexCandidate] = ()) -> PlanCost | None:
        """None when the statement cannot be costed with this set."""
        ...


@dataclass(frozen=True, slots=True)
class WorkloadQuery:
    """A statement of the workload: its key for the cost model, weight and tables."""

    key: Hashable
    weight: float  # calls in the observed period
    tables: frozenset[str]


@dataclass(frozen=True, slots=True)
class TableWrites:
    """Row writes on a table in the workload's period (``pg_stat_user_tables``, rescaled)."""

    inserted: float = 0.0
    updated: float = 0.0  # all updates
    hot_updated: float = 0.0  # of which HOT (no index entry was written)
    updated_columns: frozenset[str] = frozenset()  # columns the workload's UPDATEs set
    existing_indexes: int = 0


@dataclass(frozen=True, slots=True)
class SelectionSettings:
    """Limits and the write model's constant (cost units per index entry written)."""

    budget_bytes: int | None = None
    max_indexes: int = 10
    entry_cost: float = 4.0  # one random page (random_page_cost) per index entry written
    min_relative_gain: float = 0.001  # a step must save this fraction of the workload's cost


def write_cost(index: IndexCandidate, writes: TableWrites | None, entry_cost: float) -> float:
    """Cost units an index adds over the period: one entry per inserted row and per non-HOT
    update; an index on an updated column also turns HOT updates into non-HOT ones, which then
    write an entry into every other index of the table too."""
    if writes is None:
        return 0.0
    entries = writes.inserted + max(writes.updated - writes.hot_updated, 0.0)
    keyed = set(index.columns) | set(index.include)
    if writes.updated_columns & keyed or (
        index.where and any(c in index.where for c in writes.updated_columns)
    ):
        entries += writes.hot_updated * (1 + writes.existing_indexes)
    return entries * entry_cost


@dataclass(frozen=True, slots=True)
class Step:
    """One greedy step: the index added (and the one it replaced), its gain and size."""

    added: IndexCandidate
    replaced: IndexCandidate | None
    gain: float
    size: int


@dataclass(slots=True)
class Selection:
    """The chosen indexes with the workload costs before and after."""

    chosen: list[IndexCandidate]
    steps: list[Step]
    cost_before: float
    cost_after: float
    sizes: dict[IndexCandidate, int]
    write_costs: dict[IndexCandidate, float]
    before: dict[Hashable, PlanCost] = field(default_factory=dict)
    after: dict[Hashable, PlanCost] = field(default_factory=dict)
    marginal: dict[IndexCandidate, float] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        """Estimated storage of the chosen indexes."""
        return sum(self.sizes[c] for c in self.chosen)


class _Objective:
    """Weighted workload cost of an index set, with the irrelevant indexes left out per query."""

    def __init__(self, model: CostModel, queries: Sequence[WorkloadQuery],
                 write_costs: Mapping[IndexCandidate, float]) -> None:
        self.model, self.queries, self.write_costs = model, queries, write_costs
        self.baseline: dict[Hashable, PlanCost] = {}
        for q in queries:
            found = model.cost(q.key, ())
            if found is not None:
                self.baseline[q.key] = found
        self.queries = [q for q in queries if q.key in self.baseline]

    def plan(self, q: WorkloadQuery, indexes: Iterable[IndexCandidate]) -> PlanCost:
        relevant = frozenset(i for i in indexes if i.table in q.tables)
        if not relevant:
            return self.baseline[q.key]
        found = self.model.cost(q.key, relevant)
        return found if found is not None else self.baseline[q.key]

    def query_cost(self, q: WorkloadQuery, indexes: Iterable[IndexCandidate]) -> float:
        return q.weight * self.plan(q, indexes).cost

    def total(self, indexes: Sequence[IndexCandidate]) -> float:
        """Workload cost plus the write overhead of the indexes."""
        reads = sum(self.query_cost(q, indexes) for q in self.queries)
        return reads + sum(self.write_costs.get(i, 0.0) for i in indexes)

    def delta(self, chosen: Sequence[IndexCandidate], new: Sequence[IndexCandidate],
              tables: set[str]) -> float:
        """Cost(chosen) - Cost(new), evaluating only queries on the tables that changed."""
        gain = 0.0
        for q in self.queries:
            if q.tables & tables:
                gain += self.query_cost(q, chosen) - self.query_cost(q, new)
        gain += sum(self.write_costs.get(i, 0.0) for i in chosen)
        return gain - sum(self.write_costs.get(i, 0.0) for i in new)


def select_indexes(queries: Sequence[WorkloadQuery], candidates: Iterable[IndexCandidate],
                   model: CostModel, size: Callable[[IndexCandidate], int | None],
                   writes: Mapping[str, TableWrites] | None = None,
                   settings: SelectionSettings | None = None,
                   progress: Callable[[str], None] | None = None) -> Selection:
    """Greedy selection (two passes: by gain per byte and by gain; the better set wins)."""
    settings = settings or SelectionSettings()
    writes = writes or {}
    sizes: dict[IndexCandidate, int] = {}
    for cand in sorted(set(candidates), key=IndexCandidate.sort_key):
        found = size(cand)
        if found is not None and found > 0:
            sizes[cand] = found
    wcost = {c: write_cost(c, writes.get(c.table), settings.entry_cost) for c in sizes}
    objective = _Objective(model, queries, wcost)
    before = objective.total([])
    # Candidates that help no statement on their own are dropped up front (saves what-ifs).
    useful = [c for c in sizes if objective.delta([], [c], {c.table}) + wcost[c] > 0]
    if progress:
        progress(f"{len(useful)} of {len(sizes)} candidates lower some statement's cost")
    runs = [_greedy(objective, useful, sizes, settings, before, by_ratio)
            for by_ratio in ((True, False) if settings.budget_bytes is not None else (False,))]
    chosen, steps = min(runs, key=lambda r: (objective.total(r[0]), sum(sizes[c] for c in r[0])))
    chosen = _prune(objective, chosen)
    after = objective.total(chosen)
    marginal = {c: objective.delta([x for x in chosen if x != c], chosen, {c.table})
                for c in chosen}
    return Selection(chosen, steps, before, after, {c: sizes[c] for c in sizes}, wcost,
                     {q.key: objective.baseline[q.key] for q in objective.queries},
                     {q.key: objective.plan(q, chosen) for q in objective.queries}, marginal)


def _greedy(objective: _Objective, useful: Sequence[IndexCandidate],
            sizes: Mapping[IndexCandidate, int], settings: SelectionSettings, before: float,
            by_ratio: bool) -> tuple[list[IndexCandidate], list[Step]]:
    chosen: list[IndexCandidate] = []
    steps: list[Step] = []
    threshold = settings.min_relative_gain * before
    while True:
        used = sum(sizes[c] for c in chosen)
        best: tuple[float, float, IndexCandidate, IndexCandidate | None] | None = None
        for add, replaced in _moves(chosen, useful, settings.max_indexes):
            extra = sizes[add] - (sizes[replaced] if replaced else 0)
            if settings.budget_bytes is not None and used + extra > settings.budget_bytes:
                continue
            new = [c for c in chosen if c != replaced] + [add]
            gain = objective.delta(chosen, new, {add.table})
            if gain <= threshold:
                continue
            score = gain / max(extra, 8192) if by_ratio else gain
            if best is None or (score, gain) > (best[0], best[1]):
                best = (score, gain, add, replaced)
        if best is None:
            return chosen, steps
        _, gain, add, replaced = best
        chosen = [c for c in chosen if c != replaced] + [add]
        steps.append(Step(add, replaced, gain, sizes[add]))


def _moves(chosen: Sequence[IndexCandidate], useful: Sequence[IndexCandidate], max_indexes: int
           ) -> list[tuple[IndexCandidate, IndexCandidate | None]]:
    """Add a new index (while under the count), or replace a chosen one by a candidate that
    extends its key (Extend: Schlosser, Kossmann, Boissier, ICDE 2019)."""
    moves: list[tuple[IndexCandidate, IndexCandidate | None]] = []
    taken = set(chosen)
    for cand in useful:
        if cand in taken:
            continue
        if len(chosen) < max_indexes:
            moves.append((cand, None))
        moves.extend((cand, old) for old in chosen if _extends(cand, old))
    return moves


def _extends(new: IndexCandidate, old: IndexCandidate) -> bool:
    """`new` serves every lookup `old` does: same table and predicate, `old`'s key a prefix."""
    return (old.table == new.table and old.where == new.where and new != old
            and new.columns[: old.width] == old.columns
            and set(old.include) <= set(new.columns) | set(new.include))


def _prune(objective: _Objective, chosen: list[IndexCandidate]) -> list[IndexCandidate]:
    """Drop indexes that the rest of the set made useless (removing them costs nothing)."""
    kept = list(chosen)
    for cand in list(reversed(chosen)):
        rest = [c for c in kept if c != cand]
        if objective.delta(rest, kept, {cand.table}) <= 0:
            kept = rest
    return kept
