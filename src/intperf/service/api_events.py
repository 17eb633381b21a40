"""``POST /api/v1/events``: performance events into the live analytics (docs/events.md).

The body is a JSON array of events or NDJSON (one event per line), optionally gzip-encoded.
Each event is validated on its own: the answer lists every rejected one with its index,
field and reason, and the accepted ones are published to the bus (``intperf.stream.topic``,
keyed by service) **before** the answer is sent, so a 202 means they are in the bus's log.
Rejected events are also kept as dead letters (``GET /api/v1/analytics/dead-letters``).
"""

from __future__ import annotations

import json
import time
import zlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from intperf.service.auth import Principal, require
from intperf.service.context import ServiceContext
from intperf.service.errors import ApiError
from intperf.store.stream_repository import DeadLetter
from intperf.stream.ingest import ValidationOutcome, decode_ndjson, validate_events

router = APIRouter(prefix="/api/v1", tags=["events"])
EVENTS_PATH = "/api/v1/events"
#: A gzip body may inflate to at most this many times the body cap.
INFLATE_FACTOR = 16


class RejectedEvent(BaseModel):
    index: int
    field: str
    reason: str


class EventsOut(BaseModel):
    accepted: int
    rejected: list[RejectedEvent]
    topic: str


def _inflate(body: bytes, limit: int) -> bytes:
    """Gunzip ``body`` without ever holding more than ``limit`` bytes of output."""
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ApiError(400, f"the body is not valid gzip: {exc}", "body") from exc
    if len(out) > limit or d.unconsumed_tail:
        raise ApiError(413, f"the body inflates to more than {limit} bytes", "body")
    if not d.eof:
        raise ApiError(400, "the gzip body is truncated", "body")
    return out


def _decode(body: bytes, now_ms: int) -> tuple[ValidationOutcome, list[Any]]:
    """Validate a JSON array or NDJSON body; also the items (values or raw lines)."""
    head = body.lstrip()[:1]
    if head == b"[":
        try:
            items = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"the body is not valid JSON: {exc}", "body") from exc
        if not isinstance(items, list):
            raise ApiError(400, "expected a JSON array of events or NDJSON", "body")
        return validate_events(items, now_ms=now_ms), items
    return decode_ndjson(body, now_ms=now_ms), body.split(b"\n")


@router.post("/events", status_code=202, response_model=EventsOut, responses={
    400: {"description": "The body is not JSON, NDJSON or gzip"},
    401: {"description": "No or invalid API key"},
    403: {"description": "The key's role is too low"},
    413: {"description": "Too many events, or a body over the size limit"},
    422: {"description": "No event was valid; `detail` lists every rejection"},
    503: {"description": "The bus could not take the events; nothing was accepted"}})
async def post_events(
    request: Request, who: Annotated[Principal, Depends(require("operator"))],
) -> Any:
    """Ingest performance events (JSON array or NDJSON, gzip accepted)."""
    ctx: ServiceContext = request.app.state.ctx
    limits = ctx.settings.intperf.limits
    stream = ctx.settings.intperf.stream
    body = await request.body()
    if request.headers.get("content-encoding", "identity").lower() == "gzip":
        body = _inflate(body, limits.max_body_bytes * INFLATE_FACTOR)
    if not body.strip():
        raise ApiError(400, "the body is empty: send a JSON array of events or NDJSON", "body")
    outcome, lines = _decode(body, int(time.time() * 1000))
    total = len(outcome.accepted) + len(outcome.rejected)
    if total > stream.max_events_per_request:
        raise ApiError(413, f"{total} events in one request; at most "
                            f"{stream.max_events_per_request} (intperf.stream."
                            "max-events-per-request)", "body")
    rejected = [RejectedEvent(index=r.index, field=r.field, reason=r.reason)
                for r in outcome.rejected]
    if outcome.rejected:
        letters = [DeadLetter(f"api:{who.name}"[:200], str(r),
                              _payload(r.index, lines)) for r in outcome.rejected]
        await ctx.read(ctx.stream_store.add_dead_letters, letters)
    if not outcome.accepted:
        first = outcome.rejected[0] if outcome.rejected else None
        raise ApiError(422, f"no valid event: {first}" if first else "no event in the body",
                       first.path if first else "body",
                       [r.model_dump() for r in rejected])
    if ctx.stream is None:
        raise ApiError(503, "live analytics are not running on this instance", "body",
                       retry_after=5)
    await ctx.stream.publish(outcome.accepted)
    out = EventsOut(accepted=len(outcome.accepted), rejected=rejected, topic=stream.topic)
    return JSONResponse(out.model_dump(), status_code=202)


def _payload(index: int, items: list[Any]) -> str:
    """The text of a rejected item, for its dead letter."""
    if index >= len(items):
        return ""
    item = items[index]
    if isinstance(item, bytes):
        return item.decode("utf-8", errors="replace")
    return json.dumps(item, ensure_ascii=False, default=str)


__all__ = ["EVENTS_PATH", "INFLATE_FACTOR", "router"]
