"""The FastAPI application factory and ``serve``.

Start-up, in order: migrate the database, mark runs and database analyses that were in
flight when the service last stopped as interrupted (their flushed seconds stay), start the run
slots and the scheduler. Shutdown stops the scheduler and asks running runs to stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from intperf import __version__
from intperf.config import Settings
from intperf.errors import BusError
from intperf.monitor.metrics_http import install_http_metrics
from intperf.service.alerts import AlertDispatcher, start_alerting, stop_alerting
from intperf.service.api_admin import health
from intperf.service.api_admin import router as admin_router
from intperf.service.api_alerts import router as alerts_router
from intperf.service.api_analytics import router as analytics_router
from intperf.service.api_cache import router as cache_router
from intperf.service.api_dashboard import router as dashboard_router
from intperf.service.api_db import router as db_router
from intperf.service.api_events import router as events_router
from intperf.service.api_imports import ImportAwareBodySizeLimit
from intperf.service.api_imports import router as imports_router
from intperf.service.api_reports import router as reports_router
from intperf.service.api_runs import router as runs_router
from intperf.service.cache_tuning import start_cache_tuning, stop_cache_tuning
from intperf.service.context import ServiceContext
from intperf.service.daily_report import start_daily_report, stop_daily_report
from intperf.service.errors import install_error_handlers
from intperf.service.limits import NulGuard
from intperf.service.metrics import router as metrics_router
from intperf.store import Database, DbAnalysisRepository

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, database: Database | None = None) -> FastAPI:
    """Build the service for ``settings`` (a database may be injected by tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = database or Database(settings.intperf.storage_url)
        db.migrate()
        ctx = ServiceContext.build(settings, db, AlertDispatcher([]))
        await start_alerting(ctx)  # ctx.channels, ctx.alert_manager; ctx.alerts feeds it
        interrupted = ctx.runs.mark_unfinished_interrupted()
        if interrupted:
            log.warning("marked %d run(s) interrupted by the last shutdown: %s",
                        len(interrupted), ", ".join(interrupted))
        # Before the first request: nothing of this process runs yet, so every analysis
        # still "running" belonged to an earlier one (one service per storage, as for runs).
        stale = await asyncio.to_thread(DbAnalysisRepository(db).mark_unfinished_interrupted)
        if stale:
            log.warning("marked %d database analysis(es) interrupted by the last shutdown: %s",
                        len(stale), ", ".join(stale))
        await asyncio.to_thread(Path(settings.intperf.results_dir).mkdir, parents=True,
                                exist_ok=True)
        app.state.ctx = ctx
        await ctx.executor.start()
        from intperf.service.automation import start_automation

        await start_automation(ctx)
        from intperf.service.stream_runtime import StreamRuntime

        runtime = StreamRuntime(settings, repository=ctx.stream_store, alerts=ctx.alerts)
        stream: StreamRuntime | None = runtime
        try:
            await runtime.start()
        except BusError as exc:
            # E.g. a second instance on the same database and journal: it serves everything
            # but live analytics (POST /api/v1/events answers 503) rather than not starting.
            log.error("live analytics are off on this instance: %s", exc)  # noqa: TRY400
            await runtime.stop()
            stream = None
        ctx.stream = stream
        cache_tuning = await start_cache_tuning(ctx)  # None unless cache-optimization is on
        daily_report = await start_daily_report(ctx)  # None unless intperf.reports.daily.enabled
        try:
            yield
        finally:
            await stop_cache_tuning(cache_tuning)
            await stop_daily_report(daily_report)
            if ctx.scheduler is not None:
                await ctx.scheduler.stop()
            ctx.stream = None
            if stream is not None:
                await stream.stop()
            await ctx.executor.stop()
            await stop_alerting(ctx)
            if database is None:
                db.close()

    app = FastAPI(
        title="intperf: Integration Performance Service",
        version=__version__,
        description="Load tests as a service: submit runs, follow them live, keep the "
                    "history, compare with baselines, schedule suites. Authenticate with "
                    "`X-API-Key`.",
        lifespan=lifespan,
    )
    app.openapi = lambda: _openapi_with_security(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    app.add_middleware(NulGuard)  # inner: reads JSON bodies already capped by the size limit
    app.add_middleware(ImportAwareBodySizeLimit, max_bytes=settings.intperf.limits.max_body_bytes,
                       max_import_bytes=settings.intperf.limits.max_import_bytes)
    install_http_metrics(app)  # outermost of ours: times every request (monitoring.md)
    app.include_router(health)
    app.include_router(runs_router)
    app.include_router(alerts_router)
    app.include_router(reports_router)
    app.include_router(admin_router)
    app.include_router(imports_router)
    app.include_router(events_router)
    app.include_router(db_router)
    app.include_router(cache_router)
    app.include_router(analytics_router)
    app.include_router(metrics_router)
    app.include_router(dashboard_router)
    return app


def _openapi_with_security(app: FastAPI) -> dict[str, Any]:
    """The schema, saying how to authenticate: every route but /health and /ready."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)
    schema.setdefault("components", {})["securitySchemes"] = {
        "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                   "description": "An API key made with `intperf keys create` or "
                                  "POST /api/v1/keys"},
        "Bearer": {"type": "http", "scheme": "bearer",
                   "description": "The same key as `Authorization: Bearer <key>`"},
    }
    for path, operations in schema.get("paths", {}).items():
        if path in ("/health", "/ready"):
            continue
        for operation in operations.values():
            operation["security"] = [{"ApiKey": []}, {"Bearer": []}]
    app.openapi_schema = schema
    return schema


def serve(settings: Settings) -> None:
    """Run the service with uvicorn until interrupted."""
    import uvicorn

    app = create_app(settings)
    uvicorn.run(app, host=settings.server.host, port=settings.server.port, loop="uvloop",
                http="httptools", ws="none", log_level="warning", access_log=False)
