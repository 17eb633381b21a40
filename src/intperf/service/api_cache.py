"""``POST /api/v1/cache/analyses``: analyze a Redis from the service (docs/cache.md).

The Redis host must be loopback or listed in ``intperf.allowed-targets`` (as dbopt's DSN
check). Unlike ``/db/analyses`` the analysis is not stored: it runs within the request
(interval at most 30 s) and the report is the answer. The URL's password is never echoed.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from intperf.cache.analyzer.analyze import analyze_redis
from intperf.errors import TargetError, TargetNotAllowedError, UsageError
from intperf.loadtest.allowlist import TargetPolicy
from intperf.loadtest.request import Origin
from intperf.service.api_db import LOOPBACK
from intperf.service.auth import Principal, require
from intperf.service.context import ServiceContext
from intperf.service.errors import ApiError

__all__ = ["check_redis_url", "router"]

router = APIRouter(prefix="/api/v1/cache", tags=["cache"])

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
        body: CacheAnalysisRequest, request: Request,
        _who: Annotated[Principal, Depends(require("operator"))]) -> dict[str, Any]:
    """Analyze a Redis (read-only) and answer with the report."""
    ctx: ServiceContext = request.app.state.ctx
    url = await run_in_threadpool(check_redis_url, body.redis,
                                  ctx.settings.intperf.allowed_targets)
    slots: asyncio.Semaphore | None = getattr(request.app.state, "cache_analyses", None)
    if slots is None:
        slots = request.app.state.cache_analyses = asyncio.Semaphore(MAX_CONCURRENT)
    if slots.locked():
        raise ApiError(429, f"at most {MAX_CONCURRENT} cache analyses at once", "redis")
    async with slots:
        try:
            report = await analyze_redis(url, interval_s=body.interval_seconds,
                                         sample=body.sample, top=body.top)
        except TargetError as exc:
            raise ApiError(502, str(exc), "redis") from exc
    return report.to_dict()
