"""Trends and the daily report: ``/api/v1/trends``, ``/api/v1/trends/scenarios``,
``/api/v1/reports/daily`` (viewer). docs/trends.md and docs/reports.md."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from intperf.service.auth import Principal, require
from intperf.service.context import ServiceContext
from intperf.service.errors import ApiError
from intperf.stats.trends import build_trend
from intperf.store.trend_repository import TrendRepository

router = APIRouter(prefix="/api/v1", tags=["reports and trends"])

#: Trend windows the API offers, in days.
TREND_DAYS = (30, 90)
#: ``/trends/scenarios`` lists scenarios with finished runs in this many days.
SCENARIO_DAYS = 90

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or invalid API key"},
    403: {"description": "The key's role is too low"},
    422: {"description": "Invalid input; `field` names the offending field"},
}


def _ctx(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


def _now() -> datetime:
    return datetime.now(UTC)


@router.get("/trends", responses={**ERRORS, 404: {"description": "No runs of the scenario"}})
def get_trend(
    request: Request,
    _: Annotated[Principal, Depends(require("viewer"))],
    scenario: Annotated[str, Query(min_length=1, max_length=200)],
    endpoint: Annotated[str | None, Query(min_length=1, max_length=1000,
                                          description="A request name; all when absent")]
    = None,
    days: Annotated[int, Query(description="30 or 90")] = 30,
) -> dict[str, Any]:
    """p95, p99, throughput and error rate of a scenario's finished runs over 30 or 90 days,
    with per-day Theil–Sen slopes and the recent change (docs/trends.md)."""
    if days not in TREND_DAYS:
        raise ApiError(422, f"days: must be 30 or 90, got {days}", "days")
    repo = TrendRepository(_ctx(request).db)
    if not repo.scenario_exists(scenario):
        raise ApiError(404, f"no runs of scenario {scenario!r}", "scenario")
    until = _now()
    points = repo.points(scenario, endpoint, until - timedelta(days=days), until)
    return build_trend(scenario, endpoint, points, until=until, days=days).to_dict()


@router.get("/trends/scenarios", responses=ERRORS)
def trend_scenarios(request: Request,
                    _: Annotated[Principal, Depends(require("viewer"))]) -> dict[str, Any]:
    """Scenarios with finished runs in the last 90 days: their request names and run counts."""
    until = _now()
    found = TrendRepository(_ctx(request).db).scenarios(
        until - timedelta(days=SCENARIO_DAYS), until)
    return {"scenarios": [s.to_dict() for s in found]}


@router.get("/reports/daily", response_class=Response, responses={
    **ERRORS, 200: {"description": "The report", "content": {
        "text/html": {}, "application/pdf": {"schema": {"type": "string",
                                                        "format": "binary"}}}}})
def daily_report(
    request: Request,
    _: Annotated[Principal, Depends(require("viewer"))],
    day: Annotated[str | None, Query(alias="date", description="YYYY-MM-DD (UTC); "
                                     "yesterday when absent")] = None,
    format_: Annotated[str, Query(alias="format", description="html or pdf")] = "html",
) -> Response:
    """The daily report of a UTC day: its runs, verdicts, regressions, 30-day trends."""
    from intperf.reports.daily_render import render_html, render_pdf
    from intperf.reports.daily_source import load_daily_report

    if format_ not in ("html", "pdf"):
        raise ApiError(422, f"format: must be html or pdf, got {format_!r}", "format")
    today = _now().date()
    if day is None:
        wanted = today - timedelta(days=1)
    else:
        try:
            wanted = date.fromisoformat(day)
        except ValueError:
            raise ApiError(422, f"date: {day!r} is not a date (YYYY-MM-DD)", "date") from None
        if wanted > today:
            raise ApiError(422, f"date: {day} is in the future", "date")
    html = render_html(load_daily_report(_ctx(request).db, wanted))
    name = f"intperf-daily-{wanted.isoformat()}"
    if format_ == "pdf":
        return Response(render_pdf(html), media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{name}.pdf"'})
    return Response(html, media_type="text/html; charset=utf-8",
                    headers={"Content-Disposition": f'inline; filename="{name}.html"'})
