"""``/api/v1/alerts`` and ``/api/v1/silences``: read alerts and their history (viewer),
acknowledge alerts and manage silences (operator, audited). docs/alerting.md."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from intperf.errors import UsageError
from intperf.monitor.alert_manager import (
    AlertConflictError,
    AlertManager,
    AlertNotFoundError,
)
from intperf.monitor.alert_render import alert_json, silence_json
from intperf.service.auth import Principal, require
from intperf.service.context import ServiceContext
from intperf.service.errors import ApiError
from intperf.store.alert_repository import AlertRepository
from intperf.units import parse_duration

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["alerts"])

MAX_INT = 2**31 - 1
#: The longest silence (a year): longer is a mistake, or a rule to disable.
MAX_SILENCE_S = 366 * 86400.0
_STATES: dict[str, tuple[str, ...] | None] = {
    "firing": ("firing",), "pending": ("pending",), "resolved": ("resolved",), "all": None}


class AckRequest(BaseModel):
    """The body of ``POST /api/v1/alerts/{id}/ack``."""

    model_config = ConfigDict(extra="forbid")
    comment: Annotated[str | None, Field(max_length=2000)] = None


class SilenceRequest(BaseModel):
    """The body of ``POST /api/v1/silences``: matchers and either a duration or an end."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    matchers: Annotated[dict[Annotated[str, Field(min_length=1, max_length=100)],
                             Annotated[str, Field(max_length=500)]],
                        Field(min_length=1, max_length=20)]
    duration: Annotated[str | float | None, Field(description="e.g. 2h, 30m, 3600")] = None
    ends_at: Annotated[datetime | None, Field(alias="endsAt")] = None
    comment: Annotated[str, Field(min_length=1, max_length=2000)]


def _ctx(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


def _repo(ctx: ServiceContext) -> AlertRepository:
    manager = ctx.alert_manager
    return manager.repository if manager is not None else AlertRepository(ctx.db)


def _manager(ctx: ServiceContext) -> AlertManager:
    if ctx.alert_manager is None:
        raise ApiError(503, "alerting is disabled (intperf.alerting.enabled: false)")
    manager: AlertManager = ctx.alert_manager
    return manager


def _now(ctx: ServiceContext) -> datetime:
    return ctx.alert_manager.now() if ctx.alert_manager is not None else datetime.now(UTC)


@router.get("/alerts")
async def list_alerts(request: Request, _: Annotated[Principal, Depends(require("viewer"))],
                      state: Literal["firing", "pending", "resolved", "all"] = "all",
                      limit: Annotated[int, Query(ge=1, le=500)] = 50,
                      offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0) -> dict[str, Any]:
    """Alerts in ``state``, newest first, and how many there are."""
    ctx = _ctx(request)
    alerts, total = await ctx.read(_repo(ctx).list, _STATES[state], limit, offset)
    return {"alerts": [alert_json(a) for a in alerts], "total": total}


@router.get("/alerts/{alert_id}", responses={404: {"description": "No such alert"}})
async def get_alert(alert_id: str, request: Request,
                    _: Annotated[Principal, Depends(require("viewer"))]) -> dict[str, Any]:
    """One alert with the notifications that carried it."""
    ctx = _ctx(request)
    repo = _repo(ctx)
    alert = await ctx.read(repo.get, alert_id)
    if alert is None:
        raise ApiError(404, f"alert {alert_id} not found", "id")
    deliveries = await ctx.read(repo.deliveries, alert_id)
    return {**alert_json(alert), "notifications": [
        {"channel": d.channel, "at": d.at.isoformat(), "delivered": d.delivered,
         "attempts": d.attempts, "error": d.error, "reason": d.reason} for d in deliveries]}


@router.post("/alerts/{alert_id}/ack", responses={
    404: {"description": "No such alert"}, 409: {"description": "The alert is resolved"}})
async def acknowledge_alert(alert_id: str, request: Request,
                            who: Annotated[Principal, Depends(require("operator"))],
                            body: AckRequest | None = None) -> dict[str, Any]:
    """Acknowledge an alert: its repeats and escalation stop."""
    ctx = _ctx(request)
    comment = body.comment if body is not None else None
    try:
        alert = await _manager(ctx).acknowledge(alert_id, who.name, comment)
    except AlertNotFoundError as exc:
        raise ApiError(404, str(exc), "id") from None
    except AlertConflictError as exc:
        raise ApiError(409, str(exc), "state") from None
    await asyncio.to_thread(ctx.audit.record, who.name, "alert.ack", alert_id,
                   {"rule": alert.rule, "comment": comment})
    return alert_json(alert)


@router.get("/silences")
async def list_silences(request: Request,
                        _: Annotated[Principal, Depends(require("viewer"))]) -> dict[str, Any]:
    """Every silence, newest first (``active`` says whether it mutes now)."""
    ctx = _ctx(request)
    now = _now(ctx)
    silences = await ctx.read(_repo(ctx).silences)
    return {"silences": [silence_json(s, now) for s in silences]}


def _ends_at(body: SilenceRequest, now: datetime) -> datetime:
    if (body.duration is None) == (body.ends_at is None):
        raise ApiError(422, "give either duration or endsAt", "duration")
    if body.duration is not None:
        try:
            seconds = parse_duration(body.duration)
        except (UsageError, ValueError) as exc:
            raise ApiError(422, f"duration: {exc}", "duration") from None
        if not 0 < seconds <= MAX_SILENCE_S:
            raise ApiError(422, "duration: must be above 0 and at most 366 days", "duration")
        return now + timedelta(seconds=seconds)
    assert body.ends_at is not None
    ends = body.ends_at if body.ends_at.tzinfo is not None else body.ends_at.replace(tzinfo=UTC)
    if ends <= now:
        raise ApiError(422, "endsAt: must be in the future", "endsAt")
    if (ends - now).total_seconds() > MAX_SILENCE_S:
        raise ApiError(422, "endsAt: at most 366 days ahead", "endsAt")
    return ends


@router.post("/silences", status_code=201, responses={422: {"description": "Invalid silence"}})
async def create_silence(body: SilenceRequest, request: Request,
                         who: Annotated[Principal, Depends(require("operator"))]
                         ) -> dict[str, Any]:
    """Mute the notifications of alerts whose labels equal every matcher, for a time."""
    ctx = _ctx(request)
    manager = _manager(ctx)
    now = manager.now()
    ends_at = _ends_at(body, now)
    silence = await manager.add_silence(body.matchers, ends_at, body.comment, who.name)
    await asyncio.to_thread(ctx.audit.record, who.name, "silence.create", silence.id,
                   {"matchers": dict(silence.matchers), "endsAt": ends_at.isoformat()})
    return silence_json(silence, manager.now())


@router.delete("/silences/{silence_id}", status_code=204,
               responses={404: {"description": "No such silence"}})
async def delete_silence(silence_id: str, request: Request,
                         who: Annotated[Principal, Depends(require("operator"))]) -> Response:
    """End a silence now (it stays in the list, inactive)."""
    ctx = _ctx(request)
    try:
        await _manager(ctx).end_silence(silence_id)
    except AlertNotFoundError as exc:
        raise ApiError(404, str(exc), "id") from None
    await asyncio.to_thread(ctx.audit.record, who.name, "silence.delete", silence_id, {})
    return Response(status_code=204)
