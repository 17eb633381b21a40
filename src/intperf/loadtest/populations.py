"""Populations: which virtual users run which journey, under which load.

A scenario has either one ``load`` for all its journeys (one population; each iteration picks
a journey by weight) or a ``load`` on every journey (each journey is a population of its own,
like JMeter thread groups, Gatling's ``setUp(a.inject(...), b.inject(...))`` and k6
``scenarios``). Pure logic: the document rules with their locations, the populations of a
scenario, the planned length of a run, and how a population is split between workers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from intperf.errors import ScenarioError
from intperf.loadtest.profiles import closed_schedule, open_schedule
from intperf.loadtest.workload import LoadSpec

if TYPE_CHECKING:
    from intperf.loadtest.scenario import Scenario

__all__ = [
    "Population",
    "load_duration",
    "planned_duration",
    "population_problems",
    "populations",
    "run_model",
    "share_index",
    "total_max_connections",
]

RunModel = Literal["open", "closed", "mixed"]


@dataclass(frozen=True, slots=True)
class Population:
    """Users under one load: those of journey number ``journey``, or of every journey (None)."""

    name: str
    load: LoadSpec
    journey: int | None = None

    @property
    def end(self) -> float:
        """Seconds from the start of the run to the end of this load (``inf``: by iterations)."""
        return self.load.start_after + load_duration(self.load)


def load_duration(load: LoadSpec) -> float:
    """Seconds the schedule of ``load`` lasts, delay excluded (``inf`` when iterations end it)."""
    if load.is_open:
        return float(open_schedule(load).duration)
    return float(closed_schedule(load).duration)


@dataclass(frozen=True, slots=True)
class _JourneyShape:
    name: str
    has_load: bool
    has_weight: bool
    has_max_connections: bool


def _problems(shapes: Sequence[_JourneyShape], scenario_load: bool) -> Iterator[tuple[str, str]]:
    """The rules, on what the document says (shared by raw documents and built scenarios)."""
    own = [(i, s) for i, s in enumerate(shapes) if s.has_load]
    if not own:
        return
    listing = _listing([f"journeys[{i}] {s.name!r}" for i, s in own])
    for i, s in enumerate(shapes):
        if not s.has_load:
            yield (f"journeys[{i}].load",
                   f"missing: {listing} "
                   f"{'has a load of its own' if len(own) == 1 else 'have loads of their own'}"
                   ", so every journey needs one (each journey is then a population of its "
                   "own); or remove the journeys' loads and let the scenario's 'load' drive all "
                   "journeys")
    if scenario_load:
        yield ("load", f"a scenario-level 'load' cannot be combined with journeys that have "
                       f"their own ({listing}); remove it, or remove the journeys' loads")
    for i, s in own:
        if s.has_weight:
            yield (f"journeys[{i}].weight",
                   "a journey with its own load is a population of its own; 'weight' only "
                   "applies when journeys share the scenario's load")
    capped = [(i, s) for i, s in own if s.has_max_connections]
    if capped and len(capped) != len(own):
        given = _listing([f"journeys[{i}]" for i, _ in capped])
        for i, s in own:
            if not s.has_max_connections:
                yield (f"journeys[{i}].load.max_connections",
                       f"missing: {given} set max_connections; the connection pools are "
                       "shared by all populations and their caps add up, so give it on every "
                       "journey's load or on none")


def _listing(items: list[str], most: int = 4) -> str:
    shown = ", ".join(items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


def population_problems(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Problems of a raw scenario document's loads as ``(location, message)`` pairs."""
    journeys = doc.get("journeys")
    if not isinstance(journeys, list):
        return
    shapes = []
    for i, j in enumerate(journeys):
        j = j if isinstance(j, dict) else {}
        load = j.get("load")
        name = j.get("name")
        shapes.append(_JourneyShape(
            name if isinstance(name, str) else f"#{i}", load is not None, "weight" in j,
            isinstance(load, dict) and load.get("max_connections") is not None))
    yield from _problems(shapes, "load" in doc)


def populations(scenario: Scenario) -> tuple[Population, ...]:
    """The populations of ``scenario``, in journey order; ScenarioError when the loads break
    the rules (:func:`~intperf.loadtest.scenario.validate_scenario` reports them earlier)."""
    journeys = scenario.journeys
    if all(j.load is None for j in journeys):
        return (Population(scenario.name, scenario.load),)
    shapes = [_JourneyShape(j.name, j.load is not None, "weight" in j.model_fields_set,
                            j.load is not None and j.load.max_connections is not None)
              for j in journeys]
    problems = [(f"{scenario.source}:{loc}", msg)
                for loc, msg in _problems(shapes, "load" in scenario.model_fields_set)]
    if problems:
        raise ScenarioError(scenario.source, problems)
    return tuple(Population(j.name, j.load, i) for i, j in enumerate(journeys)
                 if j.load is not None)


def planned_duration(scenario: Scenario) -> float | None:
    """Seconds until the last population's load ends, or None when iterations end one."""
    end = max(p.end for p in populations(scenario))
    return None if math.isinf(end) else end


def run_model(scenario: Scenario) -> RunModel:
    """``open`` or ``closed`` when every population has that model, else ``mixed``."""
    models = {p.load.model for p in populations(scenario)}
    return models.pop() if len(models) == 1 else "mixed"


def total_max_connections(pops: Sequence[Population]) -> int | None:
    """The cap on connections per origin of the whole run: the populations' caps added up."""
    caps = [p.load.max_connections for p in pops]
    if not caps or any(c is None for c in caps):
        return None
    return sum(c for c in caps if c is not None)


def share_index(population: int, worker: int, workers: int) -> int:
    """Which share of population number ``population`` worker ``worker`` of ``workers`` runs.

    Shares are rotated by the population's number, so that user (or arrival) ``k`` of
    population ``p`` runs on worker ``(k + p) % workers``: small populations do not all land
    on worker 0, and the workers' shares of each population still add up exactly.
    """
    return (worker - population) % workers
