"""``/api/v1/cache``: analyze a Redis from the service, list stored analyses, and the TTL
changes of the cache tuner (docs/cache.md, docs/api.md).

The Redis host must be loopback or listed in ``intperf.allowed-targets`` (as dbopt's DSN
check). The analysis runs within the request (interval at most 30 s) and the report is the
answer; it is also stored (``cache_analyses``, the URL redacted) with its outcome. The URL's
password is never echoed nor stored.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from intperf.cache.analyzer.analyze import analyze_redis
from intperf.cache.analyzer.report import redact_redis_url
from intperf.errors import TargetError, TargetNotAllowedError, UsageError
from intperf.loadtest.allowlist import TargetPolicy
from intperf.loadtest.request import Origin
from intperf.service.api_db import LOOPBACK
from intperf.service.api_runs import MAX_INT
from intperf.service.auth import Principal, require
from intperf.service.context import ServiceContext
from intperf.service.errors import ApiError
from intperf.store.cache_repository import (
    CacheAnalysisRecord,
    CacheAnalysisRepository,
    TtlChangeRecord,
)

__all__ = ["check_redis_url", "router"]

router = APIRouter(prefix="/api/v1/cache", tags=["cache"])
BASE = "/api/v1/cache/analyses"

#: Analyses running at once per service; more are refused with 429.
MAX_CONCURRENT = 2


class CacheAnalysisRequest(BaseModel):
    """The body of ``POST /api/v1/cache/analyses``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    redis: Annotated[str, Field(min_length=1, max_length=2048, description=(
        "redis:// or rediss:// URL; host must be loopback or in intperf.allowed-targets"))]
    interval_seconds: Annotated[float, Field(alias="intervalSeconds", gt=0, le=30)] = 5.0
    sample: Annotated[int, Field(ge=1, le=100_000)] = 10_000
    top: Annotated[int, Field(ge=1, le=100)] = 10


def check_redis_url(url: str, allowed_targets: list[str],
                    policy: TargetPolicy | None = None) -> str:
    """The URL to connect with: scheme and host checked; a redis:// host is pinned to the
    address that was checked (no second DNS lookup)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or 6379
    except ValueError as exc:
        raise UsageError(f"redis: {exc}") from None
    if parts.scheme not in ("redis", "rediss"):
        raise UsageError("redis: expected a redis:// or rediss:// URL")
    if not host:
        raise UsageError("redis: no host")
    policy = policy or TargetPolicy.parse([*allowed_targets, *LOOPBACK])
    try:
        target = policy.resolve(Origin(parts.scheme, host.lower(), port))
    except TargetNotAllowedError as exc:
        raise TargetNotAllowedError(f"redis: {exc}") from None
    if not target.addresses:
        raise TargetNotAllowedError(f"redis: {host} has no address")
    if parts.scheme == "rediss":
        return url  # TLS verifies the name; keep it
    address = target.addresses[0]
    shown = f"[{address}]" if ":" in address else address
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{shown}:{port}" if userinfo else f"{shown}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@router.post("/analyses", responses={
    422: {"description": "Invalid input or a host outside the allowed targets"},
    429: {"description": "Too many analyses at once"},
    502: {"description": "Redis unreachable or failed"}})
async def create_cache_analysis(
        body: CacheAnalysisRequest, request: Request, response: Response,
        who: Annotated[Principal, Depends(require("operator"))]) -> dict[str, Any]:
    """Analyze a Redis (read-only), store the outcome and answer with the report (its stored
    ``id`` added; ``Location`` names it)."""
    ctx: ServiceContext = request.app.state.ctx
    url = await run_in_threadpool(check_redis_url, body.redis,
                                  ctx.settings.intperf.allowed_targets)
    slots: asyncio.Semaphore | None = getattr(request.app.state, "cache_analyses", None)
    if slots is None:
        slots = request.app.state.cache_analyses = asyncio.Semaphore(MAX_CONCURRENT)
    if slots.locked():
        raise ApiError(429, f"at most {MAX_CONCURRENT} cache analyses at once", "redis")
    repo = CacheAnalysisRepository(ctx.db)
    shown = redact_redis_url(body.redis)
    options = {"intervalSeconds": body.interval_seconds, "sample": body.sample, "top": body.top}
    async with slots:
        try:
            report = await analyze_redis(url, interval_s=body.interval_seconds,
                                         sample=body.sample, top=body.top)
        except TargetError as exc:
            await run_in_threadpool(functools.partial(
                repo.add, url_redacted=shown, requested_by=who.name, options=options,
                error=str(exc)))
            raise ApiError(502, str(exc), "redis") from exc
    doc = report.to_dict()
    analysis_id = await run_in_threadpool(functools.partial(
        repo.add, url_redacted=shown, requested_by=who.name, options=options, report=doc))
    response.headers["Location"] = f"{BASE}/{analysis_id}"
    return {**doc, "id": analysis_id}


def _analysis(rec: CacheAnalysisRecord, *, with_report: bool) -> dict[str, Any]:
    return {"id": rec.id, "status": rec.status, "redis": rec.url_redacted,
            "createdAt": rec.created_at.isoformat(), "requestedBy": rec.requested_by,
            "options": rec.options, "error": rec.error, "summary": rec.summary,
            "report": rec.report if with_report else None,
            "links": {"self": f"{BASE}/{rec.id}"}}


@router.get("/analyses")
async def list_cache_analyses(
        request: Request, _who: Annotated[Principal, Depends(require("viewer"))],
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0) -> dict[str, Any]:
    """Stored Redis analyses, newest first, without their reports."""
    ctx: ServiceContext = request.app.state.ctx
    records, total = await ctx.read(CacheAnalysisRepository(ctx.db).list, limit, offset)
    return {"items": [_analysis(r, with_report=False) for r in records], "total": total,
            "limit": limit, "offset": offset}


@router.get("/analyses/{analysis_id}", responses={404: {"description": "No such analysis"}})
async def get_cache_analysis(
        analysis_id: str, request: Request,
        _who: Annotated[Principal, Depends(require("viewer"))]) -> dict[str, Any]:
    """One stored analysis with its report (``error`` when it failed)."""
    ctx: ServiceContext = request.app.state.ctx
    rec = await ctx.read(CacheAnalysisRepository(ctx.db).get, analysis_id)
    if rec is None:
        raise ApiError(404, f"no cache analysis {analysis_id!r}", "analysis_id")
    return _analysis(rec, with_report=True)


def _change(c: TtlChangeRecord) -> dict[str, Any]:
    return {"id": c.id, "at": c.at.isoformat(), "actor": c.actor, "region": c.region,
            "keyClass": c.key_class, "oldTtlSeconds": c.old_ttl_s, "newTtlSeconds": c.new_ttl_s,
            "reason": c.reason, "evidence": c.evidence, "published": c.published}


@router.get("/ttl-changes")
async def list_ttl_changes(
        request: Request, _who: Annotated[Principal, Depends(require("viewer"))],
        region: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0) -> dict[str, Any]:
    """TTL changes made by the cache tuner (audit log ``cache.ttl.change``), newest first."""
    ctx: ServiceContext = request.app.state.ctx
    changes, total = await ctx.read(CacheAnalysisRepository(ctx.db).ttl_changes, limit,
                                    offset, region=region)
    return {"enabled": ctx.settings.performance.optimization.cache_optimization,
            "items": [_change(c) for c in changes], "total": total, "limit": limit,
            "offset": offset}
