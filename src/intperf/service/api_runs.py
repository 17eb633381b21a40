"""Load-test routes: submit, list, detail with live figures, stream, cancel, reports, compare."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field

from intperf.errors import TargetNotAllowedError
from intperf.loadtest.allowlist import TargetPolicy
from intperf.loadtest.comparison import compare_runs
from intperf.loadtest.results import RequestWindow
from intperf.loadtest.scenario import Scenario
from intperf.reports.exports import jtl_chunks, k6_summary
from intperf.service.auth import Principal, require
from intperf.service.context import ServiceContext
from intperf.service.errors import ApiError
from intperf.service.runspec import (
    JMeterTestRequest,
    LoadTestRequest,
    build_jmeter_scenario,
    build_scenario,
)
from intperf.store import RunRecord

router = APIRouter(prefix="/api/v1/performance", tags=["load tests"])

#: Upper bound of integer query parameters: PostgreSQL's int4 (seconds) and bigint (OFFSET)
#: columns reject bigger values with an error, which would be a 500.
MAX_INT = 2**31 - 1

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or invalid API key"},
    403: {"description": "The key's role is too low"},
    404: {"description": "No such run"},
    422: {"description": "Invalid input; `field` names the offending field"},
}


def _ctx(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


class RunLinks(BaseModel):
    self_: Annotated[str, Field(alias="self")]
    stream: str
    summary: str
    report: str
    junit: str
    timeseries: str


class SubmitResponse(BaseModel):
    run_id: Annotated[str, Field(alias="runId")]
    status: str
    links: RunLinks


class RunOut(BaseModel):
    run_id: Annotated[str, Field(alias="runId")]
    name: str | None
    scenario: str
    test_type: Annotated[str, Field(alias="testType")]
    status: str
    verdict: str | None
    created_at: Annotated[datetime, Field(alias="createdAt")]
    started_at: Annotated[datetime | None, Field(alias="startedAt")]
    ended_at: Annotated[datetime | None, Field(alias="endedAt")]
    duration_s: Annotated[float | None, Field(alias="durationS")]
    requested_by: Annotated[str | None, Field(alias="requestedBy")]
    is_baseline: Annotated[bool, Field(alias="isBaseline")] = False
    error: str | None = None
    live: dict[str, Any] | None = None
    criteria: list[dict[str, Any]] | None = None
    links: RunLinks


class RunList(BaseModel):
    items: list[RunOut]
    total: int
    limit: int
    offset: int


def _links(run_id: str) -> RunLinks:
    base = f"/api/v1/performance/runs/{run_id}"
    return RunLinks.model_validate({
        "self": base, "stream": f"{base}/stream", "summary": f"{base}/summary",
        "report": f"{base}/report.html", "junit": f"{base}/junit.xml",
        "timeseries": f"{base}/timeseries"})


def _out(ctx: ServiceContext, rec: RunRecord, *, detail: bool = False) -> RunOut:
    criteria = None
    if detail and rec.summary is not None:
        criteria = rec.summary.get("criteria")
    return RunOut.model_validate({
        "runId": rec.id, "name": rec.options.get("name"), "scenario": rec.scenario,
        "testType": rec.test_type, "status": rec.status, "verdict": rec.verdict,
        "createdAt": rec.created_at, "startedAt": rec.started_at, "endedAt": rec.ended_at,
        "durationS": rec.duration_s, "requestedBy": rec.requested_by,
        "isBaseline": ctx.baselines.get(rec.scenario) == rec.id if detail else False,
        "error": rec.error, "live": ctx.executor.live.get(rec.id) if detail else None,
        "criteria": criteria, "links": _links(rec.id)})


def _get(ctx: ServiceContext, run_id: str) -> RunRecord:
    rec = ctx.runs.get(run_id)
    if rec is None:
        raise ApiError(404, f"no run {run_id!r}", "run_id")
    return rec


@router.post("/load-test", status_code=202, response_model=SubmitResponse,
             responses={**ERRORS, 429: {"description": "Too many submissions"},
                        503: {"description": "The run queue is full"}})
def submit_load_test(body: LoadTestRequest, request: Request, response: Response,
                     who: Annotated[Principal, Depends(require("operator"))]) -> SubmitResponse:
    """Queue a load test (the reference API); answers 202 with the run id and its Location."""
    ctx = _ctx(request)
    if not ctx.executor.has_room():  # before spending one of the key's submissions
        raise ApiError(503, "the run queue is full; try again later", retry_after=30)
    allowed, wait = ctx.submissions.allow(who.key_id)
    if not allowed:
        raise ApiError(429, f"too many submissions; retry in {wait:.0f}s", retry_after=wait)
    scenario = build_scenario(body, ctx.settings)  # validates and enforces the limits now
    return _queue(ctx, who, response, scenario, body.test_type,
                  {"request": body.model_dump(by_alias=True, mode="json"), "name": body.name})


@router.post("/jmeter-test", status_code=202, response_model=SubmitResponse,
             responses={**ERRORS, 429: {"description": "Too many submissions"},
                        503: {"description": "The run queue is full"}})
def submit_jmeter_test(body: JMeterTestRequest, request: Request, response: Response,
                       who: Annotated[Principal, Depends(require("operator"))],
                       ) -> SubmitResponse:
    """Queue a run of a JMeter plan of the test-plan directory (the reference API), its
    thread groups' users and durations overridden by name; answers 202 like ``load-test``."""
    ctx = _ctx(request)
    if not ctx.executor.has_room():
        raise ApiError(503, "the run queue is full; try again later", retry_after=30)
    allowed, wait = ctx.submissions.allow(who.key_id)
    if not allowed:
        raise ApiError(429, f"too many submissions; retry in {wait:.0f}s", retry_after=wait)
    scenario = build_jmeter_scenario(body, ctx.settings)  # validates, enforces the limits
    return _queue(ctx, who, response, scenario, "JMETER",
                  {"request": body.model_dump(by_alias=True, mode="json"), "kind": "jmeter",
                   "name": body.name})


def _queue(ctx: ServiceContext, who: Principal, response: Response, scenario: Scenario,
           test_type: str, options: dict[str, Any]) -> SubmitResponse:
    """Check the target, store the run as queued and hand it to the executor."""
    # Refuse a target outside the allowlist now, with a 422; the run re-checks every origin
    # (and every redirect) before connecting.
    try:
        TargetPolicy.parse(ctx.settings.intperf.allowed_targets).check(scenario.base_url or "")
    except TargetNotAllowedError as exc:
        raise ApiError(422, f"baseUrl: {exc}", "baseUrl") from None
    run_id = uuid.uuid4().hex[:12]
    ctx.runs.create(RunRecord(
        id=run_id, scenario=scenario.name, test_type=test_type, status="queued",
        verdict=None, created_at=datetime.now(UTC), started_at=None, ended_at=None,
        duration_s=None, requested_by=who.name, options=options,
        scenario_doc=scenario.model_dump(mode="json", exclude={"source", "base_dir"}),
        summary=None, error=None, schedule_id=None))
    ctx.audit.record(who.name, "run.submit", run_id,
                     {"scenario": scenario.name, "testType": test_type})
    ctx.executor.submit(run_id)
    response.headers["Location"] = f"/api/v1/performance/runs/{run_id}"
    return SubmitResponse.model_validate({"runId": run_id, "status": "queued",
                                          "links": _links(run_id)})


@router.get("/runs", response_model=RunList, responses=ERRORS)
async def list_runs(request: Request, _: Annotated[Principal, Depends(require("viewer"))],
                    scenario: str | None = None,
                    status: Literal["queued", "running", "passed", "failed", "aborted",
                                    "interrupted", "cancelled", "error"] | None = None,
                    limit: Annotated[int, Query(ge=1, le=200)] = 50,
                    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0) -> RunList:
    """Runs, newest first, filtered by scenario and status."""
    ctx = _ctx(request)

    def page() -> RunList:
        records, total = ctx.runs.list(scenario=scenario, status=status, limit=limit,
                                       offset=offset, with_documents=False)
        return RunList(items=[_out(ctx, r) for r in records], total=total, limit=limit,
                       offset=offset)

    # async + ctx.read: dashboards poll this; see ServiceContext.read.
    return await ctx.read(page)


@router.get("/runs/{run_id}", response_model=RunOut, responses=ERRORS)
async def get_run(run_id: str, request: Request,
                  _: Annotated[Principal, Depends(require("viewer"))]) -> RunOut:
    """One run; while it runs, ``live`` holds the last second's figures and totals."""
    ctx = _ctx(request)
    return await ctx.read(lambda: _out(ctx, _get(ctx, run_id), detail=True))


@router.get("/runs/{run_id}/stream", responses=ERRORS,
            response_class=StreamingResponse)
async def stream_run(run_id: str, request: Request,
                     _: Annotated[Principal, Depends(require("viewer"))]) -> StreamingResponse:
    """Server-sent events: ``progress`` once a second, then ``end`` with the final status."""
    ctx = _ctx(request)
    # Subscribe before reading the status: a run ending in between must not be missed (its
    # ``end`` would never arrive and the stream would only send keep-alives).
    queue = ctx.executor.subscribe(run_id)
    try:
        rec = await asyncio.to_thread(_get, ctx, run_id)
    except ApiError:
        ctx.executor.unsubscribe(run_id, queue)
        raise

    async def events() -> AsyncIterator[bytes]:
        try:
            if rec.status not in ("queued", "running"):
                yield _sse("end", {"type": "end", "status": rec.status})
                return
            live = ctx.executor.live.get(run_id)
            if live is not None:
                yield _sse("progress", {"type": "progress", "live": live})
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), timeout=15.0)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                yield _sse(str(message.get("type", "progress")), message)
                if message.get("type") == "end":
                    return
        finally:
            ctx.executor.unsubscribe(run_id, queue)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store"})


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


@router.post("/runs/{run_id}/cancel", status_code=202, responses=ERRORS)
def cancel_run(run_id: str, request: Request,
               who: Annotated[Principal, Depends(require("operator"))]) -> dict[str, str]:
    """Cancel a queued or running run (it keeps what it measured so far)."""
    ctx = _ctx(request)
    rec = _get(ctx, run_id)
    if not ctx.executor.cancel(run_id):
        raise ApiError(409, f"run {run_id} is {rec.status}, not queued or running", "run_id")
    ctx.audit.record(who.name, "run.cancel", run_id, {})
    return {"runId": run_id, "status": "cancelling"}


def _finished(ctx: ServiceContext, run_id: str) -> RunRecord:
    rec = _get(ctx, run_id)
    if rec.summary is None:
        raise ApiError(409, f"run {run_id} is {rec.status}: no summary yet", "run_id")
    return rec


@router.get("/runs/{run_id}/summary", responses=ERRORS)
def run_summary(run_id: str, request: Request,
                _: Annotated[Principal, Depends(require("viewer"))]) -> dict[str, Any]:
    """The JSON summary (schema in docs/reports.md)."""
    summary = _finished(_ctx(request), run_id).summary
    assert summary is not None
    return summary


def _report_file(ctx: ServiceContext, run_id: str, name: str) -> Path:
    _finished(ctx, run_id)
    path = Path(ctx.settings.intperf.results_dir) / run_id / name
    if not path.is_file():
        raise ApiError(404, f"run {run_id} has no {name} on this server", "run_id")
    return path


@router.get("/runs/{run_id}/report.html", responses=ERRORS, response_class=FileResponse)
def run_report(run_id: str, request: Request,
               _: Annotated[Principal, Depends(require("viewer"))]) -> FileResponse:
    """The single-file HTML report."""
    return FileResponse(_report_file(_ctx(request), run_id, "report.html"),
                        media_type="text/html")


@router.get("/runs/{run_id}/junit.xml", responses=ERRORS, response_class=FileResponse)
def run_junit(run_id: str, request: Request,
              _: Annotated[Principal, Depends(require("viewer"))]) -> FileResponse:
    """JUnit XML, one test case per criterion."""
    return FileResponse(_report_file(_ctx(request), run_id, "junit.xml"),
                        media_type="application/xml")


@router.get("/runs/{run_id}/timeseries", responses=ERRORS)
def run_timeseries(run_id: str, request: Request,
                   _: Annotated[Principal, Depends(require("viewer"))],
                   start: Annotated[int | None, Query(alias="from", ge=0, le=MAX_INT)] = None,
                   end: Annotated[int | None, Query(alias="to", ge=0, le=MAX_INT)] = None,
                   name: Annotated[str | None, Query(description="A request name")] = None,
                   ) -> dict[str, Any]:
    """Per-second figures recomputed from the stored histograms (any interval, any request)."""
    ctx = _ctx(request)
    _get(ctx, run_id)
    series = ctx.runs.series(run_id, start, end)
    points = []
    for s in sorted(series.seconds):
        sw = series.seconds[s]
        w = RequestWindow()
        for n, rw in sw.requests.items():
            if name is None or n == name:
                w.merge(rw)

        def q(v: float) -> float | None:
            return None if v != v else round(v, 3)

        points.append({"t": s, "requests": w.requests, "failed": w.failed,
                       "p50_ms": q(w.latency.quantile(0.5)), "p95_ms": q(w.latency.quantile(0.95)),
                       "p99_ms": q(w.latency.quantile(0.99)), "active_users": sw.active_users})
    total = series.aggregate(None if name is None else [name], start, end)
    return {"runId": run_id, "from": start, "to": end, "name": name, "points": points,
            "interval": {"requests": total.requests, "failed": total.failed,
                         "p50_ms": _num(total.latency.quantile(0.5)),
                         "p95_ms": _num(total.latency.quantile(0.95)),
                         "p99_ms": _num(total.latency.quantile(0.99))}}


def _num(v: float) -> float | None:
    return None if v != v else round(v, 3)


@router.get("/runs/{run_id}/export", responses={
    **ERRORS, 200: {"description": "The JTL (text/csv) or the k6 summary (JSON)",
                    "content": {"text/csv": {}, "application/json": {}}}})
def export_run(run_id: str, request: Request,
               _: Annotated[Principal, Depends(require("viewer"))],
               format_: Annotated[Literal["jtl", "k6"], Query(alias="format")] = "jtl",
               ) -> Response:
    """The run as a JMeter CSV JTL (streamed) or a k6 ``--summary-export`` JSON."""
    ctx = _ctx(request)
    rec = _finished(ctx, run_id)
    summary = rec.summary
    assert summary is not None
    series = ctx.runs.series(run_id)
    if format_ == "k6":
        return Response(json.dumps(k6_summary(series, summary)),
                        media_type="application/json")
    # Seconds of the series count from the run's own start, as the summary records it.
    run_start = (summary.get("run") or {}).get("started_at")
    started = (datetime.fromisoformat(run_start) if run_start
               else rec.started_at or rec.created_at)
    if started.tzinfo is None:  # SQLite hands back naive UTC datetimes
        started = started.replace(tzinfo=UTC)
    return StreamingResponse(
        (chunk.encode() for chunk in jtl_chunks(series, started)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{run_id}.jtl"'})


@router.post("/runs/{run_id}/baseline", responses=ERRORS)
def mark_baseline(run_id: str, request: Request,
                  who: Annotated[Principal, Depends(require("operator"))]) -> dict[str, str]:
    """Make this finished run the baseline of its scenario."""
    ctx = _ctx(request)
    rec = _finished(ctx, run_id)
    ctx.baselines.set(rec.scenario, run_id, who.name)
    ctx.audit.record(who.name, "baseline.set", run_id, {"scenario": rec.scenario})
    return {"scenario": rec.scenario, "baseline": run_id}


@router.get("/runs/{run_id}/compare", responses=ERRORS)
def compare(run_id: str, request: Request,
            _: Annotated[Principal, Depends(require("viewer"))],
            with_: Annotated[str, Query(alias="with",
                                        description="'baseline' or another run id")] = "baseline",
            ) -> dict[str, Any]:
    """Deltas and a statistical verdict per metric, globally and per request."""
    ctx = _ctx(request)
    rec = _finished(ctx, run_id)
    other_id = ctx.baselines.get(rec.scenario) if with_ == "baseline" else with_
    if other_id is None:
        raise ApiError(404, f"scenario {rec.scenario!r} has no baseline; mark one with "
                            "POST /runs/{id}/baseline", "with")
    _finished(ctx, other_id)
    result = compare_runs(ctx.runs.series(other_id), ctx.runs.series(run_id))
    out: dict[str, Any] = result.to_dict()
    return {"runId": run_id, "with": other_id, **out}
