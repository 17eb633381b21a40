"""From an API load-test request to a validated, capped Scenario (pure logic, no I/O but files).

``POST /api/v1/performance/load-test`` takes the reference body
``{"testType": "GATLING"|"NATIVE", "scenario": ..., "users": 500, "duration": "300s",
"rampUp": "60s"}``. NATIVE is our closed model (users, ramp-up, hold); GATLING is Gatling's
closed injection: ``rampConcurrentUsers(0).to(users).during(rampUp)`` then
``constantConcurrentUsers(users).during(duration)``, i.e. two k6-style stages.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from intperf.config import Settings
from intperf.errors import UsageError
from intperf.loadtest.fields import Duration
from intperf.loadtest.populations import populations
from intperf.loadtest.scenario import Scenario, bundled_scenarios, load_scenario, validate_scenario
from intperf.loadtest.workload import LoadSpec

#: The reference's scenario names and the bundled scenarios they mean.
SCENARIO_ALIASES = {"SOCIAL_COMMERCE_FULL": "social-commerce"}


def _criteria_parse(texts: list[str] | None) -> list[str] | None:
    """Refuse a criterion that does not parse at submission, not when the run ends."""
    from intperf.loadtest.criteria import parse_all

    if texts is not None:
        try:
            parse_all(texts)
        except UsageError as exc:
            raise ValueError(str(exc)) from None
    return texts


Criteria = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=500)]] | None,
    Field(max_length=50, description="Success criteria, e.g. 'p99(response_time) < 500ms' "
                                     "(docs/criteria.md); the defaults when omitted"),
    AfterValidator(_criteria_parse)]


class LoadTestRequest(BaseModel):
    """The body of ``POST /api/v1/performance/load-test``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    test_type: Annotated[Literal["GATLING", "NATIVE"], Field(alias="testType")] = "NATIVE"
    scenario: Annotated[str | dict[str, Any], Field(
        description="SOCIAL_COMMERCE_FULL, the name of a scenario in the scenario directory or "
                    "bundled with intperf, or an inline scenario document")]
    users: Annotated[int | None, Field(ge=1, description="Virtual users (capped by config)")] \
        = None
    duration: Annotated[Duration | None, Field(description="Hold time, e.g. '300s'")] = None
    ramp_up: Annotated[Duration | None, Field(alias="rampUp")] = None
    rate: Annotated[float | None, Field(gt=0, description="Open model: arrivals per second")] \
        = None
    base_url: Annotated[str | None, Field(alias="baseUrl")] = None
    criteria: Criteria = None
    name: Annotated[str | None, Field(max_length=200)] = None


class ThreadGroupOverride(BaseModel):
    """New users/duration (and optionally ramp-up) for one thread group of a JMeter plan."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=200,
                               description="The thread group's name in the plan")]
    users: Annotated[int | None, Field(ge=1, description="Threads of this group")] = None
    duration: Annotated[Duration | None, Field(
        description="How long the group runs, ramp-up included (JMeter's scheduler "
                    "duration), e.g. '300s'")] = None
    ramp_up: Annotated[Duration | None, Field(alias="rampUp")] = None


class JMeterTestRequest(BaseModel):
    """The body of ``POST /api/v1/performance/jmeter-test``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    test_plan: Annotated[str, Field(
        alias="testPlan", min_length=1, max_length=200,
        description="A .jmx plan of the test-plan directory, with or without '.jmx'")]
    thread_groups: Annotated[list[ThreadGroupOverride], Field(
        alias="threadGroups", max_length=100,
        description="Overrides of the plan's thread groups, by name")] = []
    properties: Annotated[dict[str, str], Field(
        description="JMeter -J properties (read by __P/__property)")] = {}
    base_url: Annotated[str | None, Field(alias="baseUrl")] = None
    criteria: Criteria = None
    name: Annotated[str | None, Field(max_length=200)] = None


_PLAN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def resolve_test_plan(ref: str, plan_dir: Path) -> Path:
    """The .jmx file named ``ref`` (with or without the suffix) in ``plan_dir``."""
    if not _PLAN_NAME.match(ref) or ".." in ref:
        raise UsageError(f"testPlan: {ref!r} is not a test plan name (no paths allowed)")
    stem = ref[:-4] if ref.lower().endswith(".jmx") else ref
    for candidate in (plan_dir / f"{stem}.jmx", plan_dir / ref):
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in plan_dir.glob("*.jmx")) if plan_dir.is_dir() else []
    raise UsageError(f"testPlan: unknown test plan {ref!r}; known: "
                     f"{', '.join(known) or 'none'} (in {plan_dir})")


def build_jmeter_scenario(req: JMeterTestRequest, settings: Settings,
                          data_dir: Path | None = None) -> Scenario:
    """The scenario to run for ``req``: the plan translated with the thread-group overrides,
    base URL applied, limits enforced (UsageError). CSV data is written into ``data_dir``
    (a temporary directory, removed afterwards, when None)."""
    from intperf.loadtest.jmeter import parse_jmx, translate_plan
    from intperf.loadtest.jmeter.overrides import GroupOverride, apply_overrides

    plan_dir = Path(settings.intperf.test_plan_dir)
    path = resolve_test_plan(req.test_plan, plan_dir)
    plan = parse_jmx(path, req.properties)
    plan = apply_overrides(plan, [GroupOverride(g.name, g.users, g.duration, g.ramp_up)
                                  for g in req.thread_groups])
    with tempfile.TemporaryDirectory(prefix="intperf-jmeter-") as tmp:
        translation = translate_plan(plan, data_dir=data_dir or Path(tmp), data_root=plan_dir)
        doc = {**translation.scenario, "name": path.stem}
        scenario = validate_scenario(doc, source=str(path), base_dir=path.parent)
    _check_limits([p.load for p in populations(scenario)], settings)
    base_url = req.base_url or scenario.base_url or settings.performance.testing.gatling.base_url
    if not base_url.startswith(("http://", "https://")):
        raise UsageError(f"baseUrl: {base_url!r} is not an http:// or https:// URL")
    return scenario.model_copy(update={"base_url": base_url.rstrip("/")})


def resolve_scenario(ref: str | dict[str, Any], scenario_dir: Path) -> Scenario:
    """Load a scenario by alias, by name (scenario directory first, then bundled) or inline."""
    if isinstance(ref, dict):
        if ref.get("feeders"):
            raise UsageError("scenario.feeders: data feeders are not allowed in inline "
                             "scenarios (they would read files on the server); put the "
                             "scenario and its data in the scenario directory")
        return validate_scenario(ref, source="inline scenario", base_dir=scenario_dir,
                                 read_feeders=False)
    name = SCENARIO_ALIASES.get(ref, ref)
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise UsageError(f"scenario: {ref!r} is not a scenario name")
    for suffix in (".yaml", ".yml", ".json"):
        candidate = scenario_dir / f"{name}{suffix}"
        if candidate.is_file():
            return load_scenario(candidate)
    if name in bundled_scenarios():
        return load_scenario(name)
    known = sorted({*bundled_scenarios(), *SCENARIO_ALIASES,
                    *(p.stem for p in scenario_dir.glob("*.y*ml"))})
    raise UsageError(f"scenario: unknown scenario {ref!r}; known: {', '.join(known)}")


def build_scenario(req: LoadTestRequest, settings: Settings) -> Scenario:
    """The scenario to run for ``req``: overrides applied, limits enforced (UsageError).

    For a scenario whose journeys have their own loads (several populations), ``duration``
    holds every population for that long; the other load overrides are refused.
    """
    limits = settings.intperf.limits
    scenario = resolve_scenario(req.scenario, Path(settings.intperf.scenario_dir))
    if any(j.load is not None for j in scenario.journeys):
        return _with_base_url(_populations_request(scenario, req, settings), req, settings)
    load = scenario.load.model_dump(by_alias=True, exclude_none=True)
    users = req.users
    if req.rate is not None:
        if req.rate > limits.max_rate:
            raise UsageError(f"rate: {req.rate:g}/s is over the limit of {limits.max_rate:g}/s")
        kept = ("max_users", "max_connections", "start_after")
        keep: dict[str, Any] = {k: load[k] for k in kept if k in load}
        load = {**keep, "constant_arrival_rate": {
            "rate": req.rate, "duration": req.duration or scenario.load.duration or 60.0}}
        if users is not None:
            load["max_users"] = users
    elif req.test_type == "GATLING" or users is not None or req.duration is not None:
        users = users or scenario.load.users or 1
        ramp = req.ramp_up if req.ramp_up is not None else scenario.load.ramp_up
        hold = req.duration if req.duration is not None else (scenario.load.duration or 60.0)
        for k in ("injection", "constant_arrival_rate", "ramping_arrival_rate", "stages",
                  "users", "ramp_up", "duration", "ramp_down", "iterations",
                  "shared_iterations"):
            load.pop(k, None)
        if req.test_type == "GATLING":
            load["stages"] = [{"duration": ramp, "target": users},
                              {"duration": hold, "target": users}]
        else:
            load.update(users=users, ramp_up=ramp, duration=hold)
    spec = _spec(load, "load")
    _check_limits([spec], settings)
    return _with_base_url(scenario.model_copy(update={"load": spec}), req, settings)


def _spec(load: dict[str, Any], where: str) -> LoadSpec:
    try:
        return LoadSpec.model_validate(load)
    except ValueError as exc:
        raise UsageError(f"{where}: {exc}") from None


def _with_base_url(scenario: Scenario, req: LoadTestRequest, settings: Settings) -> Scenario:
    base_url = req.base_url or scenario.base_url or settings.performance.testing.gatling.base_url
    if not base_url.startswith(("http://", "https://")):
        raise UsageError(f"baseUrl: {base_url!r} is not an http:// or https:// URL")
    return scenario.model_copy(update={"base_url": base_url.rstrip("/")})


def _populations_request(scenario: Scenario, req: LoadTestRequest,
                         settings: Settings) -> Scenario:
    """``req`` applied to a scenario of several populations (journeys with their own load)."""
    refused = [name for name, given in (("users", req.users is not None),
                                        ("rampUp", req.ramp_up is not None),
                                        ("rate", req.rate is not None),
                                        ("testType", req.test_type == "GATLING")) if given]
    if refused:
        names = ", ".join(repr(j.name) for j in scenario.journeys)
        raise UsageError(f"{refused[0]}: the scenario runs {len(scenario.journeys)} populations "
                         f"(journeys {names} each have their own load); only 'duration' "
                         "applies to them (to every population)")
    journeys = []
    for i, j in enumerate(scenario.journeys):
        assert j.load is not None  # every journey has one (validated)
        load = j.load.model_dump(by_alias=True, exclude_none=True)
        if req.duration is not None:
            if "constant_arrival_rate" in load:
                load["constant_arrival_rate"]["duration"] = req.duration
            elif not j.load.is_open and "stages" not in load:
                load["duration"] = req.duration
            else:
                raise UsageError(f"duration: journey {j.name!r} has a load shaped by stages or "
                                 "injection steps; its duration cannot be overridden")
        journeys.append(j.model_copy(update={"load": _spec(load, f"journeys[{i}].load")}))
    _check_limits([j.load for j in journeys if j.load is not None], settings)
    return scenario.model_copy(update={"journeys": journeys})


def _check_limits(specs: Sequence[LoadSpec], settings: Settings) -> None:
    """Every population's load, together, within the service's limits (UsageError)."""
    from intperf.loadtest.profiles import closed_schedule, open_schedule

    limits = settings.intperf.limits
    max_users = min(limits.max_users, settings.performance.testing.gatling.max_users)
    users = 0
    rate = 0.0
    end = 0.0
    for spec in specs:
        if spec.is_open:
            sched = open_schedule(spec)
            duration = sched.duration
            users += spec.max_users
            if users > max_users:
                raise UsageError(f"users: at most {max_users} concurrent users are allowed "
                                 f"here (max_users {users})")
            if duration > 0:
                rate += sched.expected_count() / duration
            if rate > limits.max_rate:
                raise UsageError(f"rate: over the limit of {limits.max_rate:g} arrivals/s")
        else:
            closed = closed_schedule(spec)
            duration = closed.duration
            users += closed.max_users
            if users > max_users:
                raise UsageError(f"users: {users} is over the limit of {max_users}")
        end = max(end, spec.start_after + duration)
    if end == float("inf") or end > limits.max_duration:
        raise UsageError(f"duration: the run would last {end:g}s; the limit is "
                         f"{limits.max_duration:g}s")
