"""Validation of incoming events with one precise reason per rejected event, and NDJSON.

Bad events never raise: they come back as :class:`Rejection` records naming the event's index
(or NDJSON line) and the field path, so the API can answer 207-style and the Kafka consumer can
send them to a dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from intperf.stream.events import (
    EVENT_ADAPTER,
    MAX_FUTURE_MS,
    EventKind,
    PerformanceEvent,
    short_repr,
)

__all__ = [
    "MAX_LINE_BYTES",
    "Rejection",
    "ValidationOutcome",
    "decode_ndjson",
    "encode_ndjson",
    "validate_events",
]

#: NDJSON lines longer than this are rejected without being parsed.
MAX_LINE_BYTES: Final = 64 * 1024
_KINDS_SORTED = [k.value for k in EventKind]


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why the event at ``index`` was refused: ``field`` is its path inside the event."""

    index: int
    field: str
    reason: str

    @property
    def path(self) -> str:
        """Location as ``[index].field`` (``[index]`` when the whole event is at fault)."""
        return f"[{self.index}].{self.field}" if self.field else f"[{self.index}]"

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ValidationOutcome:
    """Events that validated, in input order, and one rejection per event that did not."""

    accepted: list[PerformanceEvent]
    rejected: list[Rejection]


def _rejection(index: int, exc: ValidationError) -> Rejection:
    """The first problem pydantic found, as one precise, human-readable reason."""
    err = exc.errors(include_url=False)[0]
    loc = err["loc"]
    kind = err["type"]
    if kind == "union_tag_not_found":
        inp = err.get("input")
        if not isinstance(inp, dict):
            return Rejection(index, "", f"expected a JSON object, got {type(inp).__name__}")
        return Rejection(
            index, "kind", "missing or not a string: one of " + ", ".join(_KINDS_SORTED)
        )
    if kind == "union_tag_invalid":
        tag = err.get("ctx", {}).get("tag", "")
        return Rejection(
            index, "kind", f"unknown kind {tag!r}; expected one of " + ", ".join(_KINDS_SORTED)
        )
    if kind == "json_invalid":
        return Rejection(index, "", err["msg"])
    # The first element of the location is the union tag (the kind); drop it.
    path = ".".join(str(p) for p in loc[1:])
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if kind not in ("missing", "value_error", "assertion_error") and "input" in err:
        msg = f"{msg}; got {short_repr(err['input'])}"
    return Rejection(index, path, msg)


def _context(now_ms: int, max_future_ms: int | None) -> dict[str, Any]:
    return {"now_ms": now_ms, "max_future_ms": max_future_ms}


def validate_events(
    items: Iterable[Any], *, now_ms: int, max_future_ms: int | None = MAX_FUTURE_MS
) -> ValidationOutcome:
    """Validate decoded JSON values one by one; never raises for a bad event.

    Events without ``ingested_ms`` are stamped with ``now_ms``. Event times more than
    ``max_future_ms`` ahead of ``now_ms`` are rejected (``None`` disables the check).
    """
    ctx = _context(now_ms, max_future_ms)
    validate = EVENT_ADAPTER.validate_python
    accepted: list[PerformanceEvent] = []
    rejected: list[Rejection] = []
    for i, item in enumerate(items):
        try:
            accepted.append(validate(item, context=ctx))
        except ValidationError as exc:
            rejected.append(_rejection(i, exc))
    return ValidationOutcome(accepted, rejected)


def decode_ndjson(
    data: bytes,
    *,
    now_ms: int,
    max_future_ms: int | None = MAX_FUTURE_MS,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> ValidationOutcome:
    """Parse and validate newline-delimited JSON events (the JSON path of ingestion).

    A rejection's index is the 0-based line number; blank lines are skipped. JSON is parsed by
    pydantic-core directly from the bytes, without building Python dicts first.
    """
    ctx = _context(now_ms, max_future_ms)
    validate = EVENT_ADAPTER.validate_json
    accepted: list[PerformanceEvent] = []
    rejected: list[Rejection] = []
    for i, line in enumerate(data.split(b"\n")):
        if not line.strip():
            continue
        if len(line) > max_line_bytes:
            rejected.append(Rejection(i, "", f"line longer than {max_line_bytes} bytes"))
            continue
        try:
            accepted.append(validate(line, context=ctx))
        except ValidationError as exc:
            rejected.append(_rejection(i, exc))
    return ValidationOutcome(accepted, rejected)


def encode_ndjson(events: Sequence[PerformanceEvent]) -> bytes:
    """Events as newline-delimited JSON in the canonical snake_case form."""
    if not events:
        return b""
    return b"\n".join(EVENT_ADAPTER.dump_json(e, exclude_none=True) for e in events) + b"\n"
