"""``/api/v1/analytics/*``: what the live analytics computed (docs/stream.md).

Services and their latest windows (each service's day is a live run: its windows are read
with the run endpoints like any load test), slow queries, dead letters, late events, and the
processor's status.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from intperf.loadtest.results import RequestWindow, SecondWindow
from intperf.service.auth import Principal, require
from intperf.service.context import ServiceContext
from intperf.store.stream_repository import live_services

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])
RUNS = "/api/v1/performance/runs"
#: JavaScript's largest exact integer: offsets beyond it are refused with a 422.
MAX_INT = 2**53 - 1


class ServiceWindow(BaseModel):
    service: str
    runId: str
    windows: int
    windowStart: str | None
    requests: int
    errors: int
    errorRate: float
    meanMs: float | None
    p50Ms: float | None
    p95Ms: float | None
    p99Ms: float | None
    endpoints: list[str]
    links: dict[str, str]


def _window_figures(window: SecondWindow | None) -> dict[str, Any]:
    if window is None:
        return {"requests": 0, "errors": 0, "errorRate": 0.0, "meanMs": None, "p50Ms": None,
                "p95Ms": None, "p99Ms": None, "endpoints": []}
    merged = RequestWindow()
    for w in window.requests.values():
        merged.merge(w)
    if merged.requests == 0:
        return _window_figures(None) | {"endpoints": sorted(window.requests)}
    lat = merged.latency
    has = lat.count > 0
    return {"requests": merged.requests, "errors": merged.failed,
            "errorRate": merged.failed / merged.requests,
            "meanMs": lat.mean if has else None,
            "p50Ms": lat.quantile(0.5) if has else None,
            "p95Ms": lat.quantile(0.95) if has else None,
            "p99Ms": lat.quantile(0.99) if has else None,
            "endpoints": sorted(window.requests)}


@router.get("/services", response_model=list[ServiceWindow])
async def list_services(
    request: Request, who: Annotated[Principal, Depends(require("viewer"))],
    day: Annotated[date | None, Query(description="UTC day (default today)")] = None,
) -> list[ServiceWindow]:
    """Services seen by the live analytics on ``day``, each with its latest window."""
    ctx: ServiceContext = request.app.state.ctx
    when = datetime.combine(day, datetime.min.time(), UTC) if day else datetime.now(UTC)
    found = await ctx.read(live_services, ctx.db, when)
    return [ServiceWindow(
        service=s.service, runId=s.run_id, windows=s.windows,
        windowStart=s.latest_start.isoformat() if s.latest_start else None,
        links={"run": f"{RUNS}/{s.run_id}", "timeseries": f"{RUNS}/{s.run_id}/timeseries"},
        **_window_figures(s.latest)) for s in found]


def _page(limit: int, offset: int) -> dict[str, int]:
    return {"limit": limit, "offset": offset}


Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_INT)]


@router.get("/slow-queries")
async def slow_queries(
    request: Request, who: Annotated[Principal, Depends(require("viewer"))],
    limit: Limit = 100, offset: Offset = 0,
    service: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Analyzed slow DATABASE_QUERY events, newest first."""
    ctx: ServiceContext = request.app.state.ctx
    rows = await ctx.read(ctx.stream_store.slow_queries, limit, offset, service)
    return {"items": [_jsonable(asdict(r)) for r in rows], **_page(limit, offset)}


SinceMs = Annotated[int, Query(alias="sinceMs", ge=0, le=MAX_INT)]
Key = Annotated[str | None, Query(max_length=200)]


async def _closed_windows(request: Request, topology: str, key: str | None, since_ms: int,
                          limit: int) -> dict[str, Any]:
    ctx: ServiceContext = request.app.state.ctx
    rows = await ctx.read(ctx.stream_store.other_windows, topology, key, since_ms=since_ms,
                          limit=limit)
    return {"items": [r.data for r in rows], "limit": limit}


@router.get("/cache")
async def cache_windows(
    request: Request, who: Annotated[Principal, Depends(require("viewer"))],
    region: Key = None, since_ms: SinceMs = 0, limit: Limit = 100,
) -> dict[str, Any]:
    """Closed cache windows per region (hit rate, latency, miss storm), newest first."""
    return await _closed_windows(request, "cache", region, since_ms, limit)


@router.get("/business")
async def business_windows(
    request: Request, who: Annotated[Principal, Depends(require("viewer"))],
    service: Key = None, since_ms: SinceMs = 0, limit: Limit = 100,
) -> dict[str, Any]:
    """Closed business windows per service (orders created, payment success rate), newest
    first."""
    return await _closed_windows(request, "business", service, since_ms, limit)


@router.get("/dead-letters")
async def dead_letters(
    request: Request, who: Annotated[Principal, Depends(require("viewer"))],
    limit: Limit = 100, offset: Offset = 0,
) -> dict[str, Any]:
    """Refused events with the reason, newest first."""
    ctx: ServiceContext = request.app.state.ctx
    rows = await ctx.read(ctx.stream_store.dead_letters, limit, offset)
    return {"items": [_jsonable(asdict(r)) for r in rows], **_page(limit, offset)}


@router.get("/late-events")
async def late_events(
    request: Request, who: Annotated[Principal, Depends(require("viewer"))],
    limit: Limit = 100, offset: Offset = 0,
) -> dict[str, Any]:
    """Events that arrived after their windows closed (kept, not counted), newest first."""
    ctx: ServiceContext = request.app.state.ctx
    rows = await ctx.read(ctx.stream_store.late_events, limit, offset)
    return {"items": [_jsonable(asdict(r)) for r in rows], **_page(limit, offset)}


@router.get("/status")
async def status(
    request: Request, who: Annotated[Principal, Depends(require("viewer"))],
) -> dict[str, Any]:
    """The bus, the embedded processor's counters and what is stored."""
    ctx: ServiceContext = request.app.state.ctx
    settings = ctx.settings.intperf
    stream = ctx.stream
    processor = getattr(stream, "processor", None)
    stats = processor.stats() if processor is not None else None
    counts = await ctx.read(ctx.stream_store.counts)
    return {"bus": settings.bus, "topic": settings.stream.topic,
            "embedded": settings.stream.embedded, "running": stream is not None,
            "processor": _jsonable(_as_dict(stats)),
            "stored": dict(counts)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _as_dict(stats: Any) -> Any:
    if stats is None or isinstance(stats, dict):
        return stats
    try:
        return asdict(stats)
    except TypeError:
        return {"summary": str(stats)}
