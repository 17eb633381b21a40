"""What the CLI's ``--users/--duration/--rate`` and the service's load-test body mean for a
scenario of several populations: a duration reaches every population, the rest is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from intperf.cli import apply_overrides
from intperf.config import load_settings
from intperf.errors import UsageError
from intperf.loadtest.scenario import Scenario, validate_scenario
from intperf.service.runspec import LoadTestRequest, build_scenario

STEPS = [{"request": {"path": "/"}}]


def two_populations(second: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": "two", "base_url": "http://127.0.0.1:1", "journeys": [
        {"name": "browse", "load": {"users": 4, "ramp_up": 1, "duration": 10}, "steps": STEPS},
        {"name": "buy", "steps": STEPS, "load": second or {
            "constant_arrival_rate": {"rate": 2, "duration": 10}, "start_after": 3,
            "max_users": 20}}]}


def scenario(d: dict[str, Any]) -> Scenario:
    return validate_scenario(d, source="two.yaml", base_dir=Path.cwd())


def test_cli_duration_holds_every_population() -> None:
    sc = apply_overrides(scenario(two_populations()), base_url=None, users=None,
                         duration="30s", rate=None)
    browse, buy = (j.load for j in sc.journeys)
    assert browse is not None and buy is not None
    assert (browse.users, browse.ramp_up, browse.duration) == (4, 1.0, 30.0)
    assert buy.constant_arrival_rate is not None
    assert buy.constant_arrival_rate.duration == 30.0
    assert (buy.start_after, buy.max_users) == (3.0, 20)


@pytest.mark.parametrize(("users", "rate", "option"), [(5, None, "--users"),
                                                       (None, "10/s", "--rate")])
def test_cli_users_and_rate_are_refused(users: int | None, rate: str | None,
                                        option: str) -> None:
    with pytest.raises(UsageError) as info:
        apply_overrides(scenario(two_populations()), base_url=None, users=users,
                        duration=None, rate=rate)
    assert info.value.exit_code == 2
    assert str(info.value).startswith(
        f"{option}: two.yaml runs 2 populations (journeys 'browse', 'buy' each have their own "
        "load); set their sizes in the journeys' 'load'")


def test_cli_duration_refused_for_shaped_population() -> None:
    sc = scenario(two_populations({"injection": [{"ramp_users": 5, "during": 2}]}))
    with pytest.raises(UsageError, match="journey 'buy''s load is shaped by stages/injection"):
        apply_overrides(sc, base_url=None, users=None, duration="5s", rate=None)


def test_cli_single_load_unchanged() -> None:
    d = {"name": "one", "base_url": "http://127.0.0.1:1", "load": {"users": 2, "start_after": 1},
         "journeys": [{"name": "a", "steps": STEPS}]}
    sc = apply_overrides(scenario(d), base_url=None, users=None, duration=None, rate="5/s")
    assert sc.load.constant_arrival_rate is not None and sc.load.start_after == 1.0


def _settings(**limits: str) -> Any:
    env = {f"INTPERF_INTPERF__LIMITS__{k.upper()}": v for k, v in limits.items()}
    return load_settings(environ=env)


def test_service_duration_reaches_every_population() -> None:
    req = LoadTestRequest.model_validate({"scenario": two_populations(), "duration": "20s"})
    sc = build_scenario(req, _settings())
    browse, buy = (j.load for j in sc.journeys)
    assert browse is not None and browse.duration == 20.0
    assert buy is not None and buy.constant_arrival_rate is not None
    assert buy.constant_arrival_rate.duration == 20.0
    assert sc.base_url == "http://127.0.0.1:1"


@pytest.mark.parametrize("body", [{"users": 3}, {"rate": 5}, {"rampUp": "2s"},
                                  {"testType": "GATLING"}])
def test_service_refuses_reshaping_populations(body: dict[str, Any]) -> None:
    req = LoadTestRequest.model_validate({"scenario": two_populations(), **body})
    with pytest.raises(UsageError, match="only 'duration' applies to them"):
        build_scenario(req, _settings())


def test_service_limits_count_every_population() -> None:
    req = LoadTestRequest.model_validate({"scenario": two_populations()})
    with pytest.raises(UsageError, match="users: at most 22 concurrent users"):
        build_scenario(req, _settings(max_users="22"))  # 4 closed + 20 open
    build_scenario(req, _settings(max_users="24"))
    with pytest.raises(UsageError, match=r"the run would last 13s"):
        build_scenario(req, _settings(max_duration="12"))  # 3 s delay + 10 s
