"""JSON errors for the API: the offending field, never a stack trace."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from intperf.errors import IntperfError, ScenarioError, TargetError, UsageError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with an HTTP status, a message and optionally the offending field."""

    def __init__(self, status: int, message: str, field: str | None = None,
                 detail: Any = None, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.detail = detail
        self.retry_after = retry_after


def error_body(message: str, field: str | None = None, detail: Any = None) -> dict[str, Any]:
    """The one error shape: ``{"error", "field", "detail"}``."""
    return {"error": message, "field": field, "detail": detail}


#: Where FastAPI found a parameter; dropped from ``field`` so it names the parameter itself
#: (``users``, ``limit``), as ApiError and UsageError fields do.
_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})

#: ``users: ...``, ``scenario.feeders: ...``: a UsageError message that starts with a field.
_FIELD_PREFIX = re.compile(r"^([A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*|\[\d+\])*): ")


def _loc(loc: Any) -> str:
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in _SOURCES:
        parts = parts[1:]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out


def install_error_handlers(app: FastAPI) -> None:
    """Translate every error into the JSON shape; unexpected ones become a logged 500."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = None
        if exc.retry_after is not None:
            headers = {"Retry-After": str(max(1, int(exc.retry_after + 0.999)))}
        return JSONResponse(error_body(exc.message, exc.field, exc.detail),
                            status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = _loc(first.get("loc", ()))
        detail = [{"field": _loc(e.get("loc", ())), "message": e.get("msg", "")} for e in errors]
        return JSONResponse(error_body(f"{field}: {first.get('msg', 'invalid')}", field, detail),
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(error_body(str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(ScenarioError)
    async def _scenario(_: Request, exc: ScenarioError) -> JSONResponse:
        field = exc.problems[0][0].split(":", 1)[-1] if exc.problems else None
        detail = [{"field": loc.split(":", 1)[-1], "message": msg} for loc, msg in exc.problems]
        return JSONResponse(error_body(str(exc).splitlines()[0], field, detail), status_code=422)

    @app.exception_handler(IntperfError)
    async def _intperf(_: Request, exc: IntperfError) -> JSONResponse:
        if isinstance(exc, UsageError):
            match = _FIELD_PREFIX.match(str(exc))
            return JSONResponse(error_body(str(exc), match.group(1) if match else None),
                                status_code=422)
        if isinstance(exc, TargetError):
            return JSONResponse(error_body(str(exc)), status_code=502)
        # A storage or internal failure: its message names servers and databases; log it,
        # answer with the kind and an incident id only.
        incident = uuid.uuid4().hex[:12]
        log.error("error %s: %s", incident, exc)
        return JSONResponse(error_body(f"{type(exc).__name__} (incident {incident})"),
                            status_code=503 if exc.retriable else 500)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        incident = uuid.uuid4().hex[:12]
        log.error("unexpected error %s: %s", incident, exc, exc_info=exc)
        return JSONResponse(error_body(f"internal error (incident {incident})"),
                            status_code=500)
