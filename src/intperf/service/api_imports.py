"""``POST /api/v1/performance/imports``: store another tool's result file as a run.

The request body is the raw file (any content type); ``?format=`` names its format when
sniffing is not wanted and ``?filename=`` its name. The body is streamed to a temporary
file in chunks, then imported and stored in a worker thread (``intperf.service.importing``). Its
size is capped by ``intperf.limits.max-import-bytes`` instead of ``max-body-bytes``.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from intperf.errors import UsageError
from intperf.loadtest.importers import FORMATS, import_file
from intperf.service.auth import Principal, require
from intperf.service.context import ServiceContext
from intperf.service.errors import ApiError
from intperf.service.importing import save_import
from intperf.service.limits import BodySizeLimit

router = APIRouter(prefix="/api/v1/performance", tags=["imports"])
IMPORT_PATH = "/api/v1/performance/imports"


class ImportAwareBodySizeLimit:
    """:class:`BodySizeLimit` with its own, larger cap for the import route."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_import_bytes: int) -> None:
        self._default = BodySizeLimit(app, max_bytes)
        self._imports = BodySizeLimit(app, max_import_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_import = scope["type"] == "http" and scope.get("path", "").rstrip("/") == IMPORT_PATH
        await (self._imports if is_import else self._default)(scope, receive, send)


class ImportOut(BaseModel):
    run_id: Annotated[str, Field(alias="runId")]
    status: str
    format: str
    scenario: str
    rows: int
    skipped: int
    warnings: list[str]
    links: dict[str, str]


def _import_and_save(ctx: ServiceContext, path: Path, fmt: str | None, scenario: str | None,
                     source: str, who: str) -> dict[str, Any]:
    result = import_file(path, fmt, scenario)
    run_id, status = save_import(ctx.db, result, source=source, requested_by=who)
    return {"runId": run_id, "status": status, "format": result.source_format,
            "scenario": result.scenario, "rows": result.rows, "skipped": result.skipped,
            "warnings": result.warnings,
            "links": {"run": f"/api/v1/performance/runs/{run_id}"}}


@router.post("/imports", status_code=201, response_model=ImportOut, responses={
    401: {"description": "No or invalid API key"},
    403: {"description": "The key's role is too low"},
    413: {"description": "The file is over intperf.limits.max-import-bytes"},
    422: {"description": "Empty, unreadable or unknown file; `field` says which part"}})
async def create_import(
    request: Request,
    who: Annotated[Principal, Depends(require("operator"))],
    fmt: Annotated[str | None, Query(alias="format", description=", ".join(FORMATS))] = None,
    scenario: Annotated[str | None, Query(max_length=200)] = None,
    filename: Annotated[str | None, Query(max_length=255)] = None,
) -> ImportOut:
    """Import a JTL, Gatling simulation.log, k6 JSON or Locust stats history as a run."""
    ctx: ServiceContext = request.app.state.ctx
    if fmt is not None and fmt not in FORMATS:
        raise ApiError(422, f"format: {fmt!r} is not one of {', '.join(FORMATS)}", "format")
    name = Path(filename or "upload").name or "upload"
    # The suffix keeps the name's extension for messages; only safe characters reach the path.
    suffix = re.sub(r"[^A-Za-z0-9._-]", "_", name)[-64:]
    fd, tmp = tempfile.mkstemp(prefix="intperf-import-", suffix=f"-{suffix}")
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.stream():
                if chunk:
                    await run_in_threadpool(f.write, chunk)
        out = await run_in_threadpool(_import_and_save, ctx, Path(tmp), fmt, scenario, name,
                                      who.name)
    except UsageError as exc:  # its message names our temporary file: name the upload
        raise ApiError(422, str(exc).replace(tmp, name), "body") from None
    finally:
        await run_in_threadpool(os.unlink, tmp)
    return ImportOut.model_validate(out)
