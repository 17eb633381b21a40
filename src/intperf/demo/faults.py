"""The ``/__demo`` control and fault endpoints: recordings, stats, config, stalls, odd responses."""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from intperf.demo.web import ClientError, int_value, json_object, shop_of
from intperf.errors import UsageError

MAX_SLOW_MS = 60_000
MAX_STALL_SECONDS = 60.0
MAX_CHUNKS = 10_000
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_COOKIE_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_COOKIE_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")  # RFC 6265 cookie-octet
_NO_BODY_STATUSES = frozenset({204, 304})


async def list_requests(request: Request) -> Response:
    """Recorded requests, oldest first; ``?path=`` keeps one path, ``?limit=`` the last N."""
    recorder = shop_of(request).recorder
    entries = recorder.entries()
    path = request.query_params.get("path")
    if path:
        entries = [e for e in entries if e.path == path]
    limit = int_value(request.query_params.get("limit"), "limit", default=0, minimum=0)
    if limit:
        entries = entries[-limit:]
    return JSONResponse(
        {
            "items": [e.to_json() for e in entries],
            "count": len(entries),
            "received": recorder.received,
        }
    )


async def clear_requests(request: Request) -> Response:
    """Forget the recorded requests."""
    shop_of(request).recorder.clear()
    return Response(status_code=204)


async def get_stats(request: Request) -> Response:
    """Responses counted per route (``METHOD /template``) and per status."""
    stats = shop_of(request).stats
    routes: dict[str, dict[str, int]] = {}
    statuses: dict[str, int] = {}
    for (method, route, status), count in sorted(stats.items()):
        routes.setdefault(f"{method} {route}", {})[str(status)] = count
        statuses[str(status)] = statuses.get(str(status), 0) + count
    return JSONResponse({"total": sum(stats.values()), "routes": routes, "statuses": statuses})


async def clear_stats(request: Request) -> Response:
    """Reset the counters."""
    shop_of(request).stats.clear()
    return Response(status_code=204)


async def get_config(request: Request) -> Response:
    """The current run-time settings."""
    return JSONResponse(shop_of(request).config.runtime_settings())


async def set_config(request: Request) -> Response:
    """Change latency_ms, latency_jitter_ms, error_rate or decline_rate while running."""
    shop = shop_of(request)
    changes = await json_object(request)
    try:
        shop.config = shop.config.with_changes(changes)
    except UsageError as exc:
        raise ClientError(400, str(exc), "body") from None
    return JSONResponse(shop.config.runtime_settings())


async def stall(request: Request) -> Response:
    """Hold every request arriving in the next ``seconds`` until the stall ends."""
    body = await json_object(request)
    seconds = body.get("seconds", 1.0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ClientError(400, f"seconds must be a number, not {seconds!r}", "seconds")
    if not 0 < seconds <= MAX_STALL_SECONDS:
        raise ClientError(400, f"seconds must be in (0, {MAX_STALL_SECONDS:g}]", "seconds")
    shop_of(request).stall(float(seconds))
    return JSONResponse({"stalled_for_s": seconds})


async def status(request: Request) -> Response:
    """Answer with the status code from the path."""
    code: int = request.path_params["code"]
    if not 200 <= code <= 599:
        raise ClientError(400, f"status must be between 200 and 599, not {code}", "code")
    if code in _NO_BODY_STATUSES:
        return Response(status_code=code)
    return JSONResponse({"status": code}, status_code=code)


async def slow(request: Request) -> Response:
    """Sleep ``ms`` milliseconds (capped at 60 s) before answering."""
    ms = min(int_value(request.query_params.get("ms"), "ms", default=0, minimum=0), MAX_SLOW_MS)
    await asyncio.sleep(ms / 1000)
    return JSONResponse({"slept_ms": ms})


async def gzipped(request: Request) -> Response:
    """A gzip-encoded JSON body with ``Content-Encoding: gzip``."""
    return Response(
        _gzip_body(),
        media_type="application/json",
        headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
    )


async def chunked(request: Request) -> Response:
    """A streamed ``Transfer-Encoding: chunked`` body of ``parts`` NDJSON lines."""
    parts = int_value(request.query_params.get("parts"), "parts", default=5, maximum=MAX_CHUNKS)
    delay_ms = int_value(
        request.query_params.get("delay_ms"), "delay_ms", default=0, minimum=0, maximum=1_000
    )
    return StreamingResponse(_parts(parts, delay_ms / 1000), media_type="application/x-ndjson")


async def redirect(request: Request) -> Response:
    """Redirect to the local path ``to`` with ``code`` (default 302)."""
    target = request.query_params.get("to", "/health")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        raise ClientError(400, "to must be a local path starting with a single '/'", "to")
    code = int_value(request.query_params.get("code"), "code", default=302)
    if code not in REDIRECT_CODES:
        raise ClientError(400, f"code must be one of 301, 302, 303, 307, 308, not {code}", "code")
    return RedirectResponse(target, status_code=code)


async def echo(request: Request) -> Response:
    """Echo method, path, query, headers and body as JSON."""
    body = await request.body()
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    query_string = request.scope["query_string"].decode("latin-1")
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query_string": query_string,
            "query": parse_qs(query_string, keep_blank_values=True),
            "headers": headers,
            "body": body.decode("utf-8", errors="replace"),
        }
    )


async def set_cookie(request: Request) -> Response:
    """Set the cookie ``name=value; Path=/``."""
    name = request.query_params.get("name", "")
    value = request.query_params.get("value", "")
    if not _COOKIE_NAME.fullmatch(name):
        raise ClientError(400, f"name must be a cookie token, not {name!r}", "name")
    if not _COOKIE_VALUE.fullmatch(value):
        raise ClientError(400, f"value has characters a cookie cannot hold: {value!r}", "value")
    response = JSONResponse({"set": {name: value}})
    response.headers.append("set-cookie", f"{name}={value}; Path=/")
    return response


@functools.cache
def _gzip_body() -> bytes:
    payload: dict[str, Any] = {
        "compressed": True,
        "items": [{"id": i, "name": f"item {i}", "tags": ["demo", "gzip"]} for i in range(100)],
    }
    return gzip.compress(json.dumps(payload).encode(), mtime=0)


async def _parts(count: int, delay: float) -> AsyncIterator[bytes]:
    for i in range(1, count + 1):
        if delay and i > 1:
            await asyncio.sleep(delay)
        yield b'{"part":%d,"of":%d}\n' % (i, count)
