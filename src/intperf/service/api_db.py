"""``/api/v1/db/analyses``: analyze a PostgreSQL from the service (docs/dbopt.md, docs/api.md).

``POST`` checks the DSN (its parameters and its host: loopback, or listed in
``intperf.allowed-targets``), stores the analysis as ``running`` with the DSN's password
redacted and answers 202; a worker thread runs :func:`intperf.dbopt.analyze.analyze` and stores
the report (or the error). The password lives only in that thread's memory.

With ``"apply": true`` (admin only, and only when ``performance.optimization.
query-optimization`` is on) the worker then applies the index advice
(:func:`intperf.dbopt.apply.apply_indexes`, inside ``performance.optimization.
maintenance-window``), audits every action as ``db.index.<action>`` and stores the apply report
in the analysis's report (``report.apply``).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from psycopg.conninfo import make_conninfo
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from intperf.dbopt.analyze import AnalysisOptions, analyze
from intperf.dbopt.apply import ApplySettings, AuditEntry, apply_indexes
from intperf.dbopt.connection import dsn_params, dsn_password, redact_dsn
from intperf.dbopt.tuning import parse_size
from intperf.errors import IntperfError, TargetNotAllowedError, UsageError
from intperf.loadtest.allowlist import TargetPolicy
from intperf.loadtest.request import Origin
from intperf.service.api_runs import MAX_INT
from intperf.service.auth import ROLE_RANK, Principal, require
from intperf.service.context import ServiceContext
from intperf.service.errors import ApiError
from intperf.store import DbAnalysisRecord, DbAnalysisRepository

__all__ = ["ALLOWED_DSN_PARAMETERS", "check_apply", "check_dsn", "router", "scrub"]

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/db", tags=["db"])
BASE = "/api/v1/db/analyses"
#: Analyses running at once per service; more are refused with 429.
MAX_CONCURRENT = 2
#: The only DSN parameters the service accepts: the rest could make libpq read the service's
#: own files (passfile, sslkey, service) or change our session settings (options).
ALLOWED_DSN_PARAMETERS = frozenset({"host", "hostaddr", "port", "dbname", "user", "password",
                                    "sslmode"})
#: Always reachable: the targets the service's own machine runs.
LOOPBACK = ("127.0.0.0/8", "::1/128", "localhost")
#: Where libpq looks for the service's own credentials, pointed at nothing.
_NOWHERE = "/nonexistent/intperf"
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or invalid API key"},
    403: {"description": "The key's role is too low (``apply`` needs admin)"},
    404: {"description": "No such analysis"},
    409: {"description": "``apply`` while performance.optimization.query-optimization is "
                         "false"},
    422: {"description": "Invalid input or a target outside the allowed ones; `field` says "
                         "which"},
}


class Machine(BaseModel):
    """The database server's size, when the server cannot tell (PGTune inputs)."""

    model_config = ConfigDict(extra="forbid")

    memory: Annotated[str | None, Field(max_length=32, description="e.g. 8GB")] = None
    cores: Annotated[int | None, Field(ge=1, le=4096)] = None
    storage: Literal["ssd", "hdd", "san", "nvme"] | None = None
    disks: Annotated[int, Field(ge=1, le=1024)] = 1


class AnalysisRequest(BaseModel):
    """The body of ``POST /api/v1/db/analyses``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    dsn: Annotated[str, Field(min_length=1, max_length=4096, description=(
        "libpq URL or key=value string; host must be loopback or in intperf.allowed-targets. "
        "Parameters: host, hostaddr, port, dbname, user, password, sslmode."))]
    budget: Annotated[str | None, Field(max_length=32, description="Index disk budget, "
                                        "e.g. 500MB")] = None
    max_indexes: Annotated[int, Field(alias="maxIndexes", ge=0, le=100)] = 10
    workload_type: Annotated[Literal["web", "oltp", "dw", "desktop", "mixed"],
                             Field(alias="workloadType")] = "oltp"
    machine: Machine | None = None
    app_instances: Annotated[int, Field(alias="appInstances", ge=1, le=1000)] = 1
    sample_seconds: Annotated[float, Field(alias="sampleSeconds", ge=0, le=300)] = 0.0
    top: Annotated[int, Field(ge=1, le=100)] = 10
    index_advice: Annotated[bool, Field(alias="indexAdvice")] = True
    statement_timeout_ms: Annotated[int, Field(alias="statementTimeoutMs", ge=100,
                                               le=60_000)] = 5000
    lock_timeout_ms: Annotated[int, Field(alias="lockTimeoutMs", ge=10, le=60_000)] = 1000
    apply: Annotated[bool, Field(description=(
        "Create the advised indexes (CREATE INDEX CONCURRENTLY), check plans use them, "
        "measure and drop the ones that did not help. Admin only; needs "
        "performance.optimization.query-optimization: true. Default: dry run."))] = False

    def options(self) -> AnalysisOptions:
        """The analysis options; UsageError naming the field for a bad size."""
        def size(field: str, text: str | None) -> int | None:
            try:
                return None if text is None else parse_size(text)
            except ValueError as exc:
                raise UsageError(f"{field}: {exc}") from None

        m = self.machine or Machine()
        return AnalysisOptions(
            budget_bytes=size("budget", self.budget), max_indexes=self.max_indexes,
            workload_type=self.workload_type, memory_bytes=size("machine.memory", m.memory),
            cores=m.cores, storage=m.storage, disks=m.disks, app_instances=self.app_instances,
            sample_seconds=self.sample_seconds, top=self.top,
            statement_timeout_ms=self.statement_timeout_ms,
            lock_timeout_ms=self.lock_timeout_ms, advise_indexes=self.index_advice)


class AnalysisOut(BaseModel):
    id: str
    status: Literal["running", "done", "failed", "interrupted"]
    dsn: str
    created_at: Annotated[str, Field(alias="createdAt")]
    finished_at: Annotated[str | None, Field(alias="finishedAt")] = None
    requested_by: Annotated[str | None, Field(alias="requestedBy")] = None
    error: str | None = None
    summary: dict[str, int] | None = None
    report: dict[str, Any] | None = None
    links: dict[str, str]


class AnalysisList(BaseModel):
    items: list[AnalysisOut]
    total: int
    limit: int
    offset: int


def check_dsn(dsn: str, allowed_targets: list[str], policy: TargetPolicy | None = None) -> str:
    """The DSN to connect with: parameters checked, the host checked against the allowed
    targets (loopback always), its address pinned (``hostaddr``: no second DNS answer), and
    libpq kept away from the service's own password file and client certificate.

    Raises UsageError / TargetNotAllowedError (422) naming the problem, never the password.
    """
    params = dsn_params(dsn)
    extra = sorted(set(params) - ALLOWED_DSN_PARAMETERS)
    if extra:
        raise UsageError(f"dsn: parameter {extra[0]!r} is not accepted by the service "
                         f"(allowed: {', '.join(sorted(ALLOWED_DSN_PARAMETERS))})")
    host = params.get("host", "").strip()
    addr = params.get("hostaddr", "").strip()
    if not host and not addr:
        raise UsageError("dsn: name the host (the service does not use Unix sockets)")
    if "," in host or "," in addr or "," in params.get("port", ""):
        raise UsageError("dsn: one host only")
    if host.startswith(("/", "@")):
        raise UsageError("dsn: a Unix-socket host is not accepted by the service")
    try:
        port = int(params.get("port") or 5432)
    except ValueError:
        raise UsageError(f"dsn: port {params.get('port')!r} is not a number") from None
    if not 0 < port < 65536:
        raise UsageError(f"dsn: port {port} is out of range")
    policy = policy or TargetPolicy.parse([*allowed_targets, *LOOPBACK])
    try:
        target = policy.resolve(Origin("postgresql", (addr or host).lower().strip("[]"), port))
    except TargetNotAllowedError as exc:
        raise TargetNotAllowedError(f"dsn: {exc}") from None
    if not target.addresses:
        raise TargetNotAllowedError(f"dsn: {addr or host} has no address")
    pinned: dict[str, Any] = {"hostaddr": target.addresses[0], "passfile": _NOWHERE,
                              "sslcert": _NOWHERE, "sslkey": _NOWHERE}
    if not host:
        pinned["host"] = target.addresses[0]
    if "password" not in params:
        pinned["password"] = ""  # not PGPASSWORD from the service's environment
    return make_conninfo(dsn, **pinned)


def _out(rec: DbAnalysisRecord, *, with_report: bool) -> AnalysisOut:
    return AnalysisOut.model_validate({
        "id": rec.id, "status": rec.status, "dsn": rec.dsn_redacted,
        "createdAt": rec.created_at.isoformat(),
        "finishedAt": rec.finished_at.isoformat() if rec.finished_at else None,
        "requestedBy": rec.requested_by, "error": rec.error, "summary": rec.summary,
        "report": rec.report if with_report else None, "links": {"self": f"{BASE}/{rec.id}"}})


@dataclass(frozen=True, slots=True)
class ApplyJob:
    """Apply mode for one analysis: who asked (the audit log's actor) and the service's
    ``performance.optimization`` settings at submission."""

    actor: str
    maintenance_window: str | None
    measure_s: float


@dataclass(frozen=True, slots=True)
class AnalysisJob:
    """What the worker thread needs; ``connect_dsn`` holds the password (never stored)."""

    analysis_id: str
    connect_dsn: str
    shown: str
    options: AnalysisOptions
    apply: ApplyJob | None = None


def check_apply(who: Principal, ctx: ServiceContext, body: AnalysisRequest) -> ApplyJob:
    """Apply mode's preconditions: the admin role (403), the service's switch (409), the index
    advisor on (422)."""
    if ROLE_RANK.get(who.role, 0) < ROLE_RANK["admin"]:
        raise ApiError(403, f"apply needs the admin role; the key {who.name!r} has {who.role} "
                            "(operators may only analyze)", "apply")
    optimization = ctx.settings.performance.optimization
    if not optimization.query_optimization:
        raise ApiError(409, "apply is disabled: set performance.optimization."
                            "query-optimization: true", "apply")
    if not body.index_advice:
        raise UsageError("apply: needs indexAdvice (apply creates the advised indexes)")
    return ApplyJob(who.name, optimization.maintenance_window, optimization.measure_period)


def scrub(value: Any, secret: str | None) -> Any:
    """``value`` (JSON-like) with ``secret`` replaced by ``***`` in every string."""
    if not secret:
        return value
    if isinstance(value, str):
        return value.replace(secret, "***")
    if isinstance(value, Mapping):
        return {str(k): scrub(v, secret) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, secret) for v in value]
    return value


class _Runner:
    """The analyses of one service instance: a cap on concurrent ones, the worker threads."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.repo = DbAnalysisRepository(ctx.db)
        self.slots = threading.BoundedSemaphore(MAX_CONCURRENT)

    def start(self, job: AnalysisJob) -> None:
        thread = threading.Thread(target=self._run, name=f"db-analysis-{job.analysis_id[:8]}",
                                  args=(job,), daemon=True)
        thread.start()

    def _run(self, job: AnalysisJob) -> None:
        try:
            analysis = analyze(job.connect_dsn, job.options)
            report = analysis.to_dict()
            report["dsn"] = job.shown
            if job.apply is not None:
                report["apply"] = self._apply(job, job.apply, list(analysis.indexes))
            self.repo.finish(job.analysis_id, report)
        except IntperfError as exc:
            message = str(exc).replace(redact_dsn(job.connect_dsn), job.shown)
            log.warning("database analysis %s failed: %s", job.analysis_id, message)
            self.repo.fail(job.analysis_id, message)
        except Exception:  # a bug: keep the thread's failure out of the answer, log it
            incident = uuid.uuid4().hex[:12]
            log.exception("database analysis %s: internal error %s", job.analysis_id, incident)
            self.repo.fail(job.analysis_id, f"internal error (incident {incident})")
        finally:
            self.slots.release()

    def _apply(self, job: AnalysisJob, apply: ApplyJob, advice: Sequence[Any]
               ) -> dict[str, Any]:
        """Apply the advice; every action into the audit log. Outside the maintenance window
        apply is refused (not deferred): the analysis is stored with ``apply.status``
        ``refused`` and the caller submits again inside the window."""
        secret = dsn_password(job.connect_dsn)

        def audit(entry: AuditEntry) -> None:
            detail = scrub({**entry.detail, "analysis": job.analysis_id, "dsn": job.shown},
                           secret)
            self.ctx.audit.record(apply.actor, f"db.index.{entry.action}", entry.target[:200],
                                  detail)

        base: dict[str, Any] = {"dry_run": False, "window": apply.maintenance_window,
                                "measure_s": apply.measure_s}
        try:
            applied = apply_indexes(job.connect_dsn, advice, dry_run=False,
                                    measure_for_s=apply.measure_s,
                                    maintenance_window=apply.maintenance_window, audit=audit,
                                    settings=ApplySettings(wait_for_window=False))
        except IntperfError as exc:  # the report of the analysis is kept; apply says why
            message = scrub(str(exc).replace(redact_dsn(job.connect_dsn), job.shown), secret)
            log.warning("database analysis %s: apply failed: %s", job.analysis_id, message)
            self.ctx.audit.record(apply.actor, "db.index.apply-failed", job.analysis_id,
                                  {"error": message, "dsn": job.shown})
            return {**base, "status": "failed", "error": message, "refused": None,
                    "indexes": []}
        status = "refused" if applied.refused else "applied"
        return {**base, **scrub(applied.to_dict(), secret), "status": status}


_RUNNER_LOCK = threading.Lock()


def _runner(request: Request) -> _Runner:
    """This app's runner, made on first use. (Analyses left running by an earlier process of
    the service were marked interrupted at start-up, intperf.service.app.)"""
    with _RUNNER_LOCK:
        runner: _Runner | None = getattr(request.app.state, "db_analyses", None)
        if runner is None:
            ctx: ServiceContext = request.app.state.ctx
            runner = _Runner(ctx)
            request.app.state.db_analyses = runner
        return runner


@router.post("/analyses", status_code=202, response_model=AnalysisOut,
             responses={**ERRORS, 429: {"description": "Too many analyses at once"}})
async def create_analysis(body: AnalysisRequest, request: Request, response: Response,
                          who: Annotated[Principal, Depends(require("operator"))]
                          ) -> AnalysisOut:
    """Analyze a PostgreSQL (read-only; ``apply``: then create the advised indexes); answers
    202 with the analysis to poll."""
    ctx: ServiceContext = request.app.state.ctx
    apply = check_apply(who, ctx, body) if body.apply else None
    options = body.options()
    connect_dsn = await run_in_threadpool(check_dsn, body.dsn,
                                          ctx.settings.intperf.allowed_targets)
    shown = redact_dsn(body.dsn)
    runner = await run_in_threadpool(_runner, request)
    if not runner.slots.acquire(blocking=False):
        raise ApiError(429, f"{MAX_CONCURRENT} analyses are running; try again later",
                       retry_after=10)
    recorded = {**options.to_dict(), "apply": body.apply}
    try:
        analysis_id = await run_in_threadpool(
            runner.repo.create, dsn_redacted=shown, requested_by=who.name, options=recorded)
        await run_in_threadpool(ctx.audit.record, who.name, "db.analysis.create", analysis_id,
                                {"dsn": shown, "options": recorded})
        runner.start(AnalysisJob(analysis_id, connect_dsn, shown, options, apply))
    except BaseException:
        runner.slots.release()
        raise
    rec = await run_in_threadpool(runner.repo.get, analysis_id)
    assert rec is not None
    response.headers["Location"] = f"{BASE}/{analysis_id}"
    return _out(rec, with_report=False)


@router.get("/analyses", response_model=AnalysisList, responses=ERRORS)
async def list_analyses(request: Request,
                        _who: Annotated[Principal, Depends(require("viewer"))],
                        limit: Annotated[int, Query(ge=1, le=500)] = 50,
                        offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0) -> AnalysisList:
    """Analyses, newest first, without their reports."""
    runner = await run_in_threadpool(_runner, request)
    records, total = await run_in_threadpool(runner.repo.list, limit, offset)
    return AnalysisList(items=[_out(r, with_report=False) for r in records], total=total,
                        limit=limit, offset=offset)


@router.get("/analyses/{analysis_id}", response_model=AnalysisOut, responses=ERRORS)
async def get_analysis(analysis_id: str, request: Request,
                       _who: Annotated[Principal, Depends(require("viewer"))]) -> AnalysisOut:
    """One analysis with its report once ``done`` (``error`` when ``failed``)."""
    runner = await run_in_threadpool(_runner, request)
    rec = await run_in_threadpool(runner.repo.get, analysis_id)
    if rec is None:
        raise ApiError(404, f"no analysis {analysis_id!r}", "analysis_id")
    return _out(rec, with_report=True)
