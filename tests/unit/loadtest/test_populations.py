"""Populations: the document rules with their locations, and exact per-population schedules."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intperf.errors import ScenarioError
from intperf.loadtest.populations import (
    Population,
    planned_duration,
    populations,
    run_model,
    share_index,
    total_max_connections,
)
from intperf.loadtest.profiles import closed_schedule, open_schedule
from intperf.loadtest.scenario import validate_scenario
from intperf.loadtest.workload import LoadSpec

STEPS = [{"request": {"path": "/"}}]


def doc(*journeys: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"name": "s", "base_url": "http://127.0.0.1:1",
            "journeys": [{"steps": copy.deepcopy(STEPS), **j} for j in journeys], **top}


def problems(d: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ScenarioError) as info:
        validate_scenario(d, source="p.yaml", base_dir=Path.cwd())
    return info.value.problems


def test_every_journey_or_none() -> None:
    found = problems(doc({"name": "a", "load": {"users": 2}}, {"name": "b"}, {"name": "c"}))
    assert [loc for loc, _ in found] == ["p.yaml:journeys[1].load", "p.yaml:journeys[2].load"]
    assert found[0][1].startswith("missing: journeys[0] 'a' has a load of its own, so every "
                                  "journey needs one")


def test_scenario_load_beside_journey_loads() -> None:
    found = problems(doc({"name": "a", "load": {"users": 2}}, {"name": "b", "load": {"users": 1}},
                         load={"users": 3}))
    assert found == [("p.yaml:load", "a scenario-level 'load' cannot be combined with journeys "
                                     "that have their own (journeys[0] 'a', journeys[1] 'b'); "
                                     "remove it, or remove the journeys' loads")]


def test_weight_and_connection_caps() -> None:
    found = problems(doc({"name": "a", "weight": 3, "load": {"users": 2, "max_connections": 4}},
                         {"name": "b", "load": {"users": 1}}))
    assert [loc for loc, _ in found] == ["p.yaml:journeys[0].weight",
                                         "p.yaml:journeys[1].load.max_connections"]
    assert "'weight' only applies when journeys share the scenario's load" in found[0][1]
    assert "give it on every journey's load or on none" in found[1][1]


def test_a_bad_journey_load_is_located() -> None:
    found = problems(doc({"name": "a", "load": {"users": 2, "rate": 3}},
                         {"name": "b", "load": {"users": 1, "start_after": "-1s"}}))
    locs = [loc for loc, _ in found]
    assert "p.yaml:journeys[0].load.rate" in locs
    assert any(loc.startswith("p.yaml:journeys[1].load.start_after") for loc in locs)


def test_one_population_without_journey_loads() -> None:
    sc = validate_scenario(doc({"name": "a", "weight": 2}, {"name": "b"},
                               load={"users": 3, "duration": 2}), source="p.yaml")
    (pop,) = populations(sc)
    assert (pop.name, pop.journey, pop.load.users) == ("s", None, 3)
    assert planned_duration(sc) == 2.0
    assert run_model(sc) == "closed"


def test_populations_of_mixed_models() -> None:
    sc = validate_scenario(doc(
        {"name": "browse", "load": {"users": 3, "ramp_up": 1, "duration": 4}},
        {"name": "buy", "load": {"constant_arrival_rate": {"rate": 2, "duration": 3},
                                 "start_after": "5s", "max_users": 7}}), source="p.yaml")
    pops = populations(sc)
    assert [(p.name, p.journey, p.load.model) for p in pops] == [
        ("browse", 0, "closed"), ("buy", 1, "open")]
    assert [p.end for p in pops] == [5.0, 8.0]
    assert planned_duration(sc) == 8.0  # the longest population, start delay included
    assert run_model(sc) == "mixed"


def test_planned_duration_unknown_with_iterations() -> None:
    sc = validate_scenario(doc({"name": "a", "load": {"users": 2, "iterations": 3}},
                               {"name": "b", "load": {"users": 1, "duration": 9}}),
                           source="p.yaml")
    assert planned_duration(sc) is None


def test_an_inconsistent_copy_is_refused() -> None:
    sc = validate_scenario(doc({"name": "a", "load": {"users": 2}}, {"name": "b", "load":
                                                                     {"users": 1}}),
                           source="p.yaml")
    broken = sc.model_copy(update={"journeys": [sc.journeys[0],
                                                sc.journeys[1].model_copy(update={"load": None})]})
    with pytest.raises(ScenarioError, match=r"journeys\[1\]\.load: missing"):
        populations(broken)


def test_connection_caps_add_up() -> None:
    def pop(cap: int | None) -> Population:
        return Population("p", LoadSpec(users=1, max_connections=cap))

    assert total_max_connections([pop(3), pop(4)]) == 7
    assert total_max_connections([pop(3), pop(None)]) is None


def test_share_index_is_a_permutation() -> None:
    for workers in range(1, 6):
        for p in range(7):
            assert sorted(share_index(p, w, workers) for w in range(workers)) == list(
                range(workers))
    # user k of population p runs on worker (k + p) % n
    assert [share_index(1, w, 3) for w in range(3)] == [2, 0, 1]


closed_loads = st.builds(
    lambda users, ramp, hold, it, shared: LoadSpec(
        users=users, ramp_up=ramp, duration=hold,
        iterations=it if shared is None else None, shared_iterations=shared),
    st.integers(1, 40), st.sampled_from([0.0, 1.0, 3.5]), st.sampled_from([None, 2.0]),
    st.none() | st.integers(1, 5), st.none() | st.integers(1, 90))
open_loads = st.builds(
    lambda n, d, rate, cap: LoadSpec(
        injection=[{"at_once_users": n}, {"ramp_users": n, "during": d},
                   {"constant_users_per_sec": rate, "during": d, "randomized": True}],
        max_users=cap),
    st.integers(0, 30), st.sampled_from([0.5, 2.0]), st.sampled_from([0.0, 3.0, 7.5]),
    st.integers(1, 50))


@settings(max_examples=60, deadline=None)
@given(loads=st.lists(closed_loads | open_loads, min_size=1, max_size=4),
       workers=st.integers(1, 5))
def test_worker_shares_of_every_population_add_up_exactly(
        loads: list[LoadSpec], workers: int) -> None:
    for p, load in enumerate(loads):
        shares = [share_index(p, w, workers) for w in range(workers)]
        if load.is_open:
            whole = open_schedule(load, seed=3)
            parts = [whole.for_worker(i, workers) for i in shares]
            assert sum(s.expected_count() for s in parts) == whole.expected_count()
            assert sum(s.max_users for s in parts) == whole.max_users
            times = sorted(t for s in parts for t in s.arrivals())
            assert times == list(whole.arrivals())
        else:
            whole_c = closed_schedule(load)
            parts_c = [whole_c.for_worker(i, workers) for i in shares]
            assert sum(s.max_users for s in parts_c) == whole_c.max_users
            assert sorted(u for s in parts_c for u in s.users) == list(whole_c.users)
            for t in (0.0, 0.7, 1.9, 3.0, 50.0):
                assert sum(s.target_users(t) for s in parts_c) == whole_c.target_users(t)
            if whole_c.shared_iterations is not None:
                assert sum(s.shared_iterations or 0 for s in parts_c) == \
                    whole_c.shared_iterations
