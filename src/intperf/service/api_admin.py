"""Health, API keys, schedules, baselines and the audit log."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from intperf.errors import IntperfError
from intperf.service.api_runs import MAX_INT
from intperf.service.auth import ROLES, Principal, Role, require
from intperf.service.context import ServiceContext
from intperf.service.cron import CronExpression
from intperf.service.errors import ApiError
from intperf.service.schedules import parse_schedules

log = logging.getLogger(__name__)

router = APIRouter(tags=["administration"])
health = APIRouter(tags=["health"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or invalid API key"},
    403: {"description": "The key's role is too low"},
    422: {"description": "Invalid input; `field` names the offending field"},
}


def _ctx(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


@health.get("/health")
def health_check() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@health.get("/ready", responses={503: {"description": "Not ready"}})
def ready(request: Request) -> dict[str, Any]:
    """Readiness: the database answers and the run queue is working."""
    ctx = _ctx(request)
    try:
        ctx.runs.list(limit=1, offset=0, with_documents=False)
    except IntperfError as exc:  # StorageError: the database is down or unreachable
        # Anyone may call this: log where the database is, do not tell.
        log.warning("not ready: %s", exc)
        raise ApiError(503, "the database does not answer") from None
    return {"status": "ready", "queued": ctx.executor.queued,
            "running": len(ctx.executor.active)}


class KeyCreate(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\w .@-]+$")]
    role: Role


class KeyCreated(BaseModel):
    id: str
    name: str
    role: str
    key: str = Field(description="The key itself: shown once, store it now")


@router.post("/api/v1/keys", status_code=201, response_model=KeyCreated, responses=ERRORS)
def create_key(body: KeyCreate, request: Request,
               who: Annotated[Principal, Depends(require("admin"))]) -> KeyCreated:
    """Create an API key; the plaintext is in this answer only."""
    ctx = _ctx(request)
    key_id, plaintext = ctx.keys.create(body.name, body.role)
    ctx.audit.record(who.name, "key.create", key_id, {"name": body.name, "role": body.role})
    return KeyCreated(id=key_id, name=body.name, role=body.role, key=plaintext)


@router.get("/api/v1/keys", responses=ERRORS)
def list_keys(request: Request,
              _: Annotated[Principal, Depends(require("admin"))]) -> list[dict[str, Any]]:
    """Keys (never their plaintext)."""
    return [
        {"id": k.id, "name": k.name, "role": k.role, "prefix": k.prefix,
         "createdAt": k.created_at, "revokedAt": k.revoked_at}
        for k in _ctx(request).keys.list()
    ]


@router.delete("/api/v1/keys/{key_id}", status_code=204,
               responses={**ERRORS, 404: {"description": "No such key"}})
def revoke_key(key_id: str, request: Request,
               who: Annotated[Principal, Depends(require("admin"))]) -> None:
    """Revoke a key (effective within seconds)."""
    ctx = _ctx(request)
    if not ctx.keys.revoke(key_id):
        raise ApiError(404, f"no key {key_id!r}", "key_id")
    ctx.auth.forget_all()
    ctx.audit.record(who.name, "key.revoke", key_id, {})


class ScheduleCreate(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    cron: str = Field(description="5-field cron or Quartz 6/7-field (`0 0 2 * * ?`)")
    tests: list[dict[str, Any]] = Field(min_length=1)
    enabled: bool = True
    timezone: str | None = Field(default=None, description="IANA zone for the cron, e.g. "
                                 "Europe/Paris (default UTC)")
    compare_with_baseline: bool = Field(default=True, alias="compareWithBaseline")


@router.get("/api/v1/schedules", responses=ERRORS)
def list_schedules(request: Request,
                   _: Annotated[Principal, Depends(require("viewer"))]) -> list[dict[str, Any]]:
    """Schedules with their next fire time."""
    out = []
    for s in _ctx(request).schedules.list():
        try:
            nxt: Any = CronExpression.parse(s.cron, tz=s.options.get("timezone")).next_after(
                _now())
        except Exception:  # noqa: BLE001 - a stored bad expression must not break the list
            nxt = None
        out.append({"id": s.id, "name": s.name, "cron": s.cron, "tests": s.suite,
                    "enabled": s.enabled, "source": s.source, "nextRun": nxt,
                    "lastRun": s.last_run_at, "timezone": s.options.get("timezone"),
                    "compareWithBaseline": s.options.get("compare-with-baseline", True)})
    return out


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


@router.post("/api/v1/schedules", status_code=201, responses=ERRORS)
def create_schedule(body: ScheduleCreate, request: Request,
                    who: Annotated[Principal, Depends(require("admin"))]) -> dict[str, Any]:
    """Add a schedule (validated like the configuration's)."""
    ctx = _ctx(request)
    options: dict[str, Any] = {"compare-with-baseline": body.compare_with_baseline}
    if body.timezone:
        options["timezone"] = body.timezone
    doc = {"name": body.name, "cron": body.cron, "tests": body.tests, "enabled": body.enabled,
           **options}
    parse_schedules([doc], prefix="body")  # UsageError -> 422 naming the field
    sid = ctx.schedules.create(body.name, body.cron, body.tests, enabled=body.enabled,
                               source="api", options=options)
    ctx.audit.record(who.name, "schedule.create", sid, {"name": body.name, "cron": body.cron})
    if ctx.scheduler is not None:
        ctx.scheduler.reload()
    return {"id": sid, "name": body.name}


@router.delete("/api/v1/schedules/{schedule_id}", status_code=204,
               responses={**ERRORS, 404: {"description": "No such schedule"}})
def delete_schedule(schedule_id: str, request: Request,
                    who: Annotated[Principal, Depends(require("admin"))]) -> None:
    """Remove a schedule."""
    ctx = _ctx(request)
    if not ctx.schedules.delete(schedule_id):
        raise ApiError(404, f"no schedule {schedule_id!r}", "schedule_id")
    ctx.audit.record(who.name, "schedule.delete", schedule_id, {})
    if ctx.scheduler is not None:
        ctx.scheduler.reload()


@router.get("/api/v1/performance/baselines", responses=ERRORS)
def list_baselines(request: Request,
                   _: Annotated[Principal, Depends(require("viewer"))]) -> list[dict[str, Any]]:
    """The baseline run of each scenario."""
    return [asdict(b) for b in _ctx(request).baselines.list()]


@router.get("/api/v1/audit", responses=ERRORS)
def audit_log(request: Request, _: Annotated[Principal, Depends(require("admin"))],
              limit: Annotated[int, Query(ge=1, le=500)] = 100,
              offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0) -> list[dict[str, Any]]:
    """Who started, cancelled or changed what, newest first."""
    return [asdict(e) for e in _ctx(request).audit.list(limit=limit, offset=offset)]


__all__ = ["ROLES", "health", "router"]
