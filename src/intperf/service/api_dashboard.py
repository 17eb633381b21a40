"""The dashboard's own JSON routes (``/api/v1/me``, ``/api/v1/scenarios``) and its pages.

``router`` carries both, so the application registers the dashboard with one line; the
pages and assets themselves live in ``intperf.service.dashboard`` (docs/dashboard.md).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from intperf.config import Settings
from intperf.errors import IntperfError, ScenarioError
from intperf.loadtest.criteria import DEFAULT_CRITERIA
from intperf.loadtest.scenario import Scenario, bundled_scenarios, load_scenario
from intperf.service.auth import Principal, require
from intperf.service.dashboard import router as pages_router
from intperf.service.runspec import SCENARIO_ALIASES

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["dashboard"])
router.include_router(pages_router)

#: At most this many files of the scenario directory are listed (each one is parsed).
MAX_DIRECTORY_SCENARIOS = 200

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or invalid API key"},
}


class Me(BaseModel):
    """Who the key belongs to and what it may do."""

    name: str
    role: Literal["viewer", "operator", "admin"]


class ScenarioLoad(BaseModel):
    """The scenario's own load, as the start form's defaults."""

    shape: Literal["closed", "stages", "open", "iterations", "populations"]
    users: int | None
    ramp_up_s: Annotated[float | None, Field(alias="rampUpS")]
    duration_s: Annotated[float | None, Field(alias="durationS")]


class ScenarioInfo(BaseModel):
    """One scenario a load test can be submitted with."""

    name: str = Field(description="What to send as `scenario` in POST /performance/load-test")
    title: str | None = Field(description="The scenario document's own name")
    source: Literal["bundled", "directory"]
    description: str | None
    base_url: Annotated[str | None, Field(alias="baseUrl")]
    journeys: list[str]
    criteria: list[str]
    populations: bool = Field(description="Journeys with their own loads: only `duration` "
                                          "may be overridden")
    load: ScenarioLoad | None
    error: str | None = Field(description="Why the file cannot be used (null when it can)")


class Limits(BaseModel):
    """The service's limits on a submission (``intperf.limits``)."""

    max_users: Annotated[int, Field(alias="maxUsers")]
    max_duration_s: Annotated[float, Field(alias="maxDurationS")]
    max_rate: Annotated[float, Field(alias="maxRate")]


class ScenarioList(BaseModel):
    """``GET /api/v1/scenarios``."""

    scenarios: list[ScenarioInfo]
    aliases: dict[str, str]
    limits: Limits
    default_base_url: Annotated[str, Field(alias="defaultBaseUrl")]
    default_criteria: Annotated[list[str], Field(alias="defaultCriteria")]


@router.get("/api/v1/me", response_model=Me, responses=ERRORS)
async def me(who: Annotated[Principal, Depends(require("viewer"))]) -> Me:
    """The key's name and role (any valid key)."""
    return Me.model_validate({"name": who.name, "role": who.role})


@router.get("/api/v1/scenarios", response_model=ScenarioList, response_model_by_alias=True,
            responses=ERRORS)
async def list_scenarios(request: Request,
                         _: Annotated[Principal, Depends(require("viewer"))]) -> ScenarioList:
    """Scenarios a load test may name: the scenario directory's, then the bundled ones."""
    settings: Settings = request.app.state.ctx.settings
    return await asyncio.to_thread(scenario_list, settings)


def scenario_list(settings: Settings) -> ScenarioList:
    """Every usable scenario name with its defaults (reads the scenario files)."""
    directory = Path(settings.intperf.scenario_dir)
    found: dict[str, ScenarioInfo] = {}
    for path in _directory_files(directory):
        found.setdefault(path.stem, _info(path.stem, "directory", path))
    for name in bundled_scenarios():
        # resolve_scenario looks in the directory first: a file there hides the bundled one.
        found.setdefault(name, _info(name, "bundled", name))
    limits = settings.intperf.limits
    return ScenarioList.model_validate({
        "scenarios": sorted(found.values(), key=lambda s: (s.error is not None, s.name)),
        "aliases": dict(SCENARIO_ALIASES),
        "limits": {"maxUsers": min(limits.max_users,
                                   settings.performance.testing.gatling.max_users),
                   "maxDurationS": limits.max_duration, "maxRate": limits.max_rate},
        "defaultBaseUrl": settings.performance.testing.gatling.base_url,
        "defaultCriteria": list(DEFAULT_CRITERIA)})


def _directory_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    files = sorted(p for p in directory.iterdir()
                   if p.suffix in (".yaml", ".yml", ".json") and p.is_file()
                   # the names resolve_scenario accepts
                   and p.stem.replace("-", "").replace("_", "").replace(".", "").isalnum())
    return files[:MAX_DIRECTORY_SCENARIOS]


def _info(name: str, source: Literal["bundled", "directory"], ref: str | Path) -> ScenarioInfo:
    try:
        scenario = load_scenario(ref)
    except (IntperfError, OSError, ValueError) as exc:
        first = _first_problem(exc)
        log.info("scenario %s is not usable: %s", name, first)
        return ScenarioInfo.model_validate({
            "name": name, "title": None, "source": source, "description": None,
            "baseUrl": None, "journeys": [], "criteria": [], "populations": False,
            "load": None, "error": first})
    return ScenarioInfo.model_validate({
        "name": name, "title": scenario.name, "source": source,
        "description": scenario.description, "baseUrl": scenario.base_url,
        "journeys": [j.name for j in scenario.journeys], "criteria": list(scenario.criteria),
        "populations": any(j.load is not None for j in scenario.journeys),
        "load": _load(scenario), "error": None})


def _first_problem(exc: Exception) -> str:
    """The first problem, located in the document (not by the server's file path)."""
    if isinstance(exc, ScenarioError) and exc.problems:
        where, message = exc.problems[0]
        more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
        return f"{where.rpartition(':')[2] or 'document'}: {message}{more}"
    if isinstance(exc, OSError):
        return f"cannot read the file ({exc.strerror or type(exc).__name__})"
    text = str(exc).splitlines()
    return text[0] if text else type(exc).__name__


def _load(scenario: Scenario) -> dict[str, Any]:
    if any(j.load is not None for j in scenario.journeys):
        return {"shape": "populations", "users": None, "rampUpS": None, "durationS": None}
    load = scenario.load
    shape = ("open" if load.is_open else "stages" if load.stages
             else "iterations" if load.iterations or load.shared_iterations else "closed")
    return {"shape": shape, "users": load.users, "rampUpS": load.ramp_up,
            "durationS": load.duration}
