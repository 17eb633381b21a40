"""Greedy index selection with synthetic costs (no database)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable

from intperf.dbopt.candidates import IndexCandidate
from intperf.dbopt.selection import (
    PlanCost,
    SelectionSettings,
    TableWrites,
    WorkloadQuery,
    select_indexes,
    write_cost,
)

A = IndexCandidate("t", ("a",))
AB = IndexCandidate("t", ("a", "b"))
B = IndexCandidate("t", ("b",))
C = IndexCandidate("u", ("c",))
BIG = IndexCandidate("t", ("a",), ("x", "y", "z"))


class Model:
    """cost(query, indexes) = the cheapest of the base cost and each usable index's cost."""

    def __init__(self, base: dict[Hashable, float],
                 with_index: dict[tuple[Hashable, IndexCandidate], float]) -> None:
        self.base, self.with_index = base, with_index
        self.calls = 0

    def cost(self, key: Hashable, indexes: Iterable[IndexCandidate] = ()) -> PlanCost | None:
        self.calls += 1
        best, used = self.base[key], frozenset[IndexCandidate]()
        for i in indexes:
            c = self.with_index.get((key, i))
            if c is not None and c < best:
                best, used = c, frozenset({i})
        return PlanCost(best, used)


def sizes(table: dict[IndexCandidate, int]) -> Callable[[IndexCandidate], int | None]:
    return table.get


def q(key: str, weight: float, *tables: str) -> WorkloadQuery:
    return WorkloadQuery(key, weight, frozenset(tables))


def test_picks_the_index_that_saves_most() -> None:
    model = Model({"q1": 1000, "q2": 1000}, {("q1", A): 10, ("q2", B): 500})
    sel = select_indexes([q("q1", 10, "t"), q("q2", 1, "t")], [A, B], model,
                         sizes({A: 1000, B: 1000}), settings=SelectionSettings(max_indexes=1))
    assert sel.chosen == [A]
    assert sel.cost_before == 11000
    assert sel.cost_after == 10 * 10 + 1000
    assert sel.after["q1"].used == {A}


def test_budget_forbids_the_big_index() -> None:
    model = Model({"q1": 1000}, {("q1", BIG): 1, ("q1", A): 50})
    sel = select_indexes([q("q1", 1, "t")], [A, BIG], model, sizes({A: 100, BIG: 10_000}),
                         settings=SelectionSettings(budget_bytes=5000))
    assert sel.chosen == [A]
    unlimited = select_indexes([q("q1", 1, "t")], [A, BIG], model, sizes({A: 100, BIG: 10_000}))
    assert unlimited.chosen == [BIG]


def test_ratio_and_gain_passes_the_better_wins() -> None:
    # Ratio-greedy alone would take the two small indexes and leave no room for the big
    # one that saves far more; the gain pass finds it.
    small1, small2 = IndexCandidate("t", ("s1",)), IndexCandidate("t", ("s2",))
    model = Model({"q1": 1000, "q2": 100, "q3": 100},
                  {("q1", BIG): 0, ("q2", small1): 0, ("q3", small2): 0})
    sel = select_indexes([q("q1", 1, "t"), q("q2", 1, "t"), q("q3", 1, "t")],
                         [BIG, small1, small2], model, sizes({BIG: 1000, small1: 10, small2: 10}),
                         settings=SelectionSettings(budget_bytes=1005))
    assert sel.chosen == [BIG]


def test_max_indexes_is_respected() -> None:
    model = Model({"q1": 100, "q2": 100, "q3": 100}, {("q1", A): 1, ("q2", B): 1, ("q3", C): 1})
    sel = select_indexes([q("q1", 1, "t"), q("q2", 1, "t"), q("q3", 1, "u")], [A, B, C], model,
                         sizes({A: 10, B: 10, C: 10}), settings=SelectionSettings(max_indexes=2))
    assert len(sel.chosen) == 2


def test_interaction_second_index_for_the_same_query_is_not_taken() -> None:
    # A and B both make q1 cheap; once A is chosen, B adds nothing.
    model = Model({"q1": 1000}, {("q1", A): 10, ("q1", B): 12})
    sel = select_indexes([q("q1", 1, "t")], [A, B], model, sizes({A: 10, B: 10}))
    assert sel.chosen == [A]


def test_extend_replaces_an_index_by_a_wider_one() -> None:
    # q1 wants (a); q2 wants (a, b). With one index allowed, (a, b) serves both: by gain per
    # byte the greedy first takes the smaller (a), then widens it to (a, b).
    model = Model({"q1": 1000, "q2": 1000},
                  {("q1", A): 10, ("q1", AB): 12, ("q2", A): 600, ("q2", AB): 10})
    sel = select_indexes([q("q1", 2, "t"), q("q2", 1, "t")], [A, AB], model,
                         sizes({A: 100_000, AB: 200_000}),
                         settings=SelectionSettings(max_indexes=1, budget_bytes=250_000))
    assert sel.chosen == [AB]
    assert any(step.replaced == A for step in sel.steps)


def test_write_overhead_rejects_a_marginal_index() -> None:
    model = Model({"q1": 100}, {("q1", A): 90})  # saves 10 per call
    query = [q("q1", 100, "t")]  # 1000 cost units saved over the period
    quiet = select_indexes(query, [A], model, sizes({A: 10}),
                           writes={"t": TableWrites(inserted=10)})
    assert quiet.chosen == [A]
    busy = select_indexes(query, [A], model, sizes({A: 10}),
                          writes={"t": TableWrites(inserted=10_000)})
    assert busy.chosen == []


def test_write_cost_model() -> None:
    w = TableWrites(inserted=100, updated=50, hot_updated=40, updated_columns=frozenset({"b"}),
                    existing_indexes=2)
    # inserts + non-HOT updates
    assert write_cost(A, w, 1.0) == 100 + 10
    # an index on an updated column also breaks the HOT updates, for every index of the table
    assert write_cost(B, w, 1.0) == 100 + 10 + 40 * 3
    assert write_cost(A, None, 4.0) == 0.0
    partial = IndexCandidate("t", ("a",), where="b IS NULL")
    assert write_cost(partial, w, 1.0) == 100 + 10 + 40 * 3


def test_small_gains_below_the_threshold_stop_the_greedy() -> None:
    model = Model({"q1": 1_000_000}, {("q1", A): 999_999})
    sel = select_indexes([q("q1", 1, "t")], [A], model, sizes({A: 10}))
    assert sel.chosen == []


def test_useless_indexes_are_pruned_and_marginal_gain_reported() -> None:
    model = Model({"q1": 1000, "q2": 1000}, {("q1", A): 10, ("q2", C): 100})
    sel = select_indexes([q("q1", 1, "t"), q("q2", 1, "u")], [A, C], model, sizes({A: 10, C: 10}))
    assert set(sel.chosen) == {A, C}
    assert sel.marginal[A] == 990
    assert sel.marginal[C] == 900
    assert sel.total_bytes == 20


def test_statements_that_cannot_be_costed_are_left_out() -> None:
    class Partial(Model):
        def cost(self, key: Hashable, indexes: Iterable[IndexCandidate] = ()) -> PlanCost | None:
            return None if key == "bad" else super().cost(key, indexes)

    model = Partial({"q1": 1000}, {("q1", A): 1})
    sel = select_indexes([q("q1", 1, "t"), q("bad", 5, "t")], [A], model, sizes({A: 10}))
    assert sel.chosen == [A]
    assert "bad" not in sel.before


def test_candidates_without_a_size_are_ignored() -> None:
    model = Model({"q1": 1000}, {("q1", A): 1})
    sel = select_indexes([q("q1", 1, "t")], [A], model, sizes({}))
    assert sel.chosen == []
