"""Several populations in one run: what the demo shop received from each journey."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from intperf.demo import DemoServer
from intperf.loadtest.runner import Progress
from intperf.loadtest.scenario import Scenario, validate_scenario

from .support import run, run_engine, shop_call, total

pytestmark = pytest.mark.integration


def echo(group: str, run_id: str, method: str = "GET") -> list[dict[str, Any]]:
    return [{"request": {"name": group, "method": method, "path": "/__demo/echo",
                         "headers": {"X-Run": run_id, "X-Group": group,
                                     "X-User": "${userId}"}}}]


def populations(shop: DemoServer, run_id: str, **loads: dict[str, Any]) -> Scenario:
    journeys = [{"name": name, "load": load, "steps": echo(name, run_id)}
                for name, load in loads.items()]
    return validate_scenario({"name": "pops", "base_url": shop.url, "journeys": journeys},
                             source="pops.yaml", base_dir=Path.cwd())


def received(shop: DemoServer, run_id: str) -> list[dict[str, Any]]:
    items = shop_call(shop, "GET", "/__demo/requests?path=/__demo/echo")["items"]
    return [i for i in items if i["headers"].get("x-run") == run_id]


def per_group(items: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """For each X-Group: how many requests each user (X-User) sent."""
    out: dict[str, Counter[str]] = {}
    for i in items:
        out.setdefault(i["headers"]["x-group"], Counter())[i["headers"]["x-user"]] += 1
    return out


def when(item: dict[str, Any]) -> float:
    return datetime.fromisoformat(item["received_at"].replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("processes", [1, 2])
def test_two_closed_populations_with_their_own_sizes(demo_shop: DemoServer,
                                                     processes: int) -> None:
    run_id = uuid.uuid4().hex
    sc = populations(demo_shop, run_id,
                     readers={"users": 3, "iterations": 4},
                     writers={"users": 2, "ramp_up": "200ms", "iterations": 1})
    outcome = run(sc, processes=processes)
    groups = per_group(received(demo_shop, run_id))
    # every user runs its own population's journey only, its own number of iterations
    assert sorted(groups["readers"].values()) == [4, 4, 4]
    assert sorted(groups["writers"].values()) == [1, 1]
    assert not set(groups["readers"]) & set(groups["writers"])  # users are not shared
    assert total(outcome.series).ok == 14
    seconds = outcome.series.seconds.values()
    assert sum(s.started_users for s in seconds) == 5
    assert sum(s.iterations for s in seconds) == 14
    assert outcome.status == "completed"


@pytest.mark.parametrize("processes", [1, 2])
def test_open_and_closed_populations_run_together(demo_shop: DemoServer,
                                                  processes: int) -> None:
    run_id = uuid.uuid4().hex
    sc = populations(
        demo_shop, run_id,
        shoppers={"users": 2, "iterations": 3},
        visitors={"injection": [{"at_once_users": 4}, {"ramp_users": 6, "during": "1s"}]},
        bursts={"constant_arrival_rate": {"rate": 5, "duration": "1s"}, "max_users": 50})
    outcome = run(sc, processes=processes)
    groups = per_group(received(demo_shop, run_id))
    assert sorted(groups["shoppers"].values()) == [3, 3]
    assert sum(groups["visitors"].values()) == 10
    assert len(groups["visitors"]) == 10  # an open population: one user per arrival
    assert sum(groups["bursts"].values()) == 5
    assert total(outcome.series).ok == 21
    assert sum(s.dropped for s in outcome.series.seconds.values()) == 0


def test_start_after_delays_a_population(demo_shop: DemoServer) -> None:
    run_id = uuid.uuid4().hex
    sc = populations(demo_shop, run_id,
                     early={"users": 1, "iterations": 1},
                     late={"users": 1, "iterations": 1, "start_after": "1s"})
    seen: list[Progress] = []
    run(sc, on_progress=seen.append)
    items = received(demo_shop, run_id)
    first = {g: min(when(i) for i in items if i["headers"]["x-group"] == g)
             for g in ("early", "late")}
    assert 0.9 <= first["late"] - first["early"] < 2.0


def test_duration_populations_end_separately(demo_shop: DemoServer) -> None:
    run_id = uuid.uuid4().hex
    sc = populations(
        demo_shop, run_id,
        short={"users": 1, "duration": "1s"},
        long={"users": 1, "duration": "1s", "start_after": "1s", "graceful_stop": "1s"})
    seen: list[Progress] = []
    outcome = run(sc, on_progress=seen.append)
    assert seen and {p.duration for p in seen} == {2.0}  # the longest population
    assert 1.9 <= outcome.duration_s <= 2.5
    items = received(demo_shop, run_id)
    # Times from the run's start (not from the first request: on a loaded machine the first
    # request itself can leave late).
    start = outcome.started_at.timestamp()
    short = [when(i) - start for i in items if i["headers"]["x-group"] == "short"]
    long = [when(i) - start for i in items if i["headers"]["x-group"] == "long"]
    assert short and long
    assert max(short) < 1.3, (short, long)  # the short population stopped, the long ran on
    assert min(long) >= 0.95 and max(long) > 1.5


def test_shared_iterations_per_population(demo_shop: DemoServer) -> None:
    run_id = uuid.uuid4().hex
    sc = populations(demo_shop, run_id,
                     pool={"users": 3, "shared_iterations": 7},
                     solo={"users": 2, "shared_iterations": 3})
    series = run_engine(sc)
    groups = per_group(received(demo_shop, run_id))
    assert sum(groups["pool"].values()) == 7
    assert sum(groups["solo"].values()) == 3
    assert total(series).ok == 10


def test_open_population_cap_drops_its_own_arrivals(demo_shop: DemoServer) -> None:
    run_id = uuid.uuid4().hex
    journeys = [
        {"name": "capped", "load": {"injection": [{"at_once_users": 5}], "max_users": 2},
         "steps": [*echo("capped", run_id), {"think": "300ms"}]},
        {"name": "free", "load": {"injection": [{"at_once_users": 5}]},
         "steps": echo("free", run_id)}]
    sc = validate_scenario({"name": "cap", "base_url": demo_shop.url, "journeys": journeys},
                           source="cap.yaml", base_dir=Path.cwd())
    series = run_engine(sc)
    groups = per_group(received(demo_shop, run_id))
    assert sum(groups["capped"].values()) == 2
    assert sum(groups["free"].values()) == 5
    assert sum(s.dropped for s in series.seconds.values()) == 3


def test_a_dry_queue_feeder_stops_only_its_population(demo_shop: DemoServer,
                                                      tmp_path: Path) -> None:
    run_id = uuid.uuid4().hex
    (tmp_path / "codes.csv").write_text("code\na\nb\nc\n", encoding="utf-8")
    journeys = [
        {"name": "redeem", "load": {"users": 1, "iterations": 10},
         "steps": [{"feed": "codes"}, *echo("redeem", run_id)]},
        # its users start over 1 s, long after 'redeem' emptied the feeder
        {"name": "browse", "load": {"users": 3, "ramp_up": "1s", "iterations": 1},
         "steps": echo("browse", run_id)}]
    sc = validate_scenario({"name": "feed", "base_url": demo_shop.url, "journeys": journeys,
                            "feeders": {"codes": {"file": "codes.csv", "strategy": "queue"}}},
                           source="feed.yaml", base_dir=tmp_path)
    run_engine(sc)
    groups = per_group(received(demo_shop, run_id))
    assert sum(groups["redeem"].values()) == 3
    assert sorted(groups["browse"].values()) == [1, 1, 1]


def test_a_population_cut_after_its_graceful_stop_frees_the_pool(demo_shop: DemoServer) -> None:
    """'slow' holds both pooled connections past its end (its third user waits in line):
    cutting it hands them to 'steady'."""
    run_id = uuid.uuid4().hex
    journeys = [
        {"name": "slow", "load": {"users": 3, "duration": "300ms", "graceful_stop": "200ms",
                                  "max_connections": 1},
         "steps": [{"request": {"name": "slow", "path": "/__demo/slow", "query": {"ms": 3000},
                                "headers": {"X-Run": run_id, "X-Group": "slow",
                                            "X-User": "${userId}"}}}]},
        {"name": "steady", "load": {"users": 2, "ramp_up": "100ms", "duration": "1500ms",
                                    "max_connections": 1},
         "steps": [*echo("steady", run_id), {"think": "50ms"}]}]
    sc = validate_scenario({"name": "cut", "base_url": demo_shop.url, "journeys": journeys},
                           source="cut.yaml", base_dir=Path.cwd())
    outcome = run(sc)
    assert outcome.status == "completed"
    assert total(outcome.series, "slow").requests == 0  # cut: neither answered nor failed
    steady = [i for i in received(demo_shop, run_id) if i["headers"]["x-group"] == "steady"]
    assert len(steady) >= 5  # served once 'slow' was cut at 0.5 s, until 1.6 s
    assert 1.5 <= outcome.duration_s < 2.5
    assert total(outcome.series, "steady").failed == 0
