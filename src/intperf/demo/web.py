"""Small request/response helpers shared by the demo shop's handlers."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from intperf.demo.state import Session, ShopState


class ClientError(Exception):
    """A request the shop refuses; becomes ``{"error": ..., "field": ...}`` with ``status``."""

    def __init__(self, status: int, error: str, field: str | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.field = field


async def client_error_response(request: Request, exc: Exception) -> Response:
    """Starlette exception handler for :class:`ClientError`."""
    if not isinstance(exc, ClientError):  # pragma: no cover - registered for ClientError only
        raise exc
    body: dict[str, str] = {"error": exc.error}
    if exc.field is not None:
        body["field"] = exc.field
    return JSONResponse(body, status_code=exc.status)


def shop_of(request: Request) -> ShopState:
    """The shop state of the app serving ``request``."""
    shop: ShopState = request.app.state.shop
    return shop


def current_session(request: Request) -> Session:
    """The caller's session from the ``session`` cookie (or a Bearer token); 401 without."""
    token = request.cookies.get("session")
    if token is None:
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
    session = shop_of(request).sessions.get(token) if token else None
    if session is None:
        raise ClientError(401, "login required: send the session cookie from /api/auth/login")
    return session


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; 400 when it is not one (an empty body is ``{}``)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ClientError(400, "the body is not valid JSON", "body") from None
    if not isinstance(value, dict):
        raise ClientError(400, "the body must be a JSON object", "body")
    return value


def int_value(
    value: Any, field: str, *, default: int | None = None, minimum: int = 1,
    maximum: int | None = None,
) -> int:  # fmt: skip
    """An integer from JSON or a query string (digits in a string are accepted); 400 if not."""
    if value is None or value == "":
        if default is None:
            raise ClientError(400, f"{field} is required", field)
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ClientError(400, f"{field} must be an integer, not {value!r}", field)
    try:
        number = int(value)
    except ValueError:
        raise ClientError(400, f"{field} must be an integer, not {value!r}", field) from None
    if number < minimum or (maximum is not None and number > maximum):
        limits = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ClientError(400, f"{field} must be {limits}, not {number}", field)
    return number


def page_params(request: Request, *, max_size: int = 100) -> tuple[int, int]:
    """``page`` (>= 1, default 1) and ``size`` (>= 1, default 20, capped at ``max_size``)."""
    page = int_value(request.query_params.get("page"), "page", default=1)
    size = int_value(request.query_params.get("size"), "size", default=20)
    return page, min(size, max_size)


def page_of(items: tuple[Any, ...], page: int, size: int) -> tuple[tuple[Any, ...], int]:
    """The slice for ``page`` and the number of pages."""
    pages = -(-len(items) // size)
    start = (page - 1) * size
    return items[start : start + size], pages
