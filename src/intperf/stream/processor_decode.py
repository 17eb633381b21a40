"""Records to events for the stream processor: binary frames, JSON events, NDJSON, JSON arrays.

A record is told apart by its first bytes: ``IPEV`` is a binary frame (stream/codec.py), ``{``
one JSON event or NDJSON lines, ``[`` a JSON array of events. Whatever cannot be read becomes
a :class:`~intperf.store.stream_repository.DeadLetter` naming the record
(``topic/partition/offset``) and the reason; the rest of the record's events still count.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from intperf.errors import EventDecodeError
from intperf.store.stream_repository import MAX_PAYLOAD_CHARS, DeadLetter
from intperf.stream.batch import EventBatch
from intperf.stream.codec import FRAME_MAGIC, decode
from intperf.stream.events import EVENT_ADAPTER, MAX_FUTURE_MS, PerformanceEvent
from intperf.stream.ingest import Rejection, decode_ndjson, validate_events

__all__ = ["DecodedRecords", "decode_records", "payload_text", "record_source"]

_WHITESPACE: Final = b" \t\r\n"
_NOT_AN_EVENT: Final = (
    "not an event record: expected one JSON event, NDJSON lines, a JSON array of events or a "
    "binary event frame (starting with b'IPEV')"
)


@dataclass(slots=True)
class DecodedRecords:
    """The events of some records (in record order) and the dead letters they produced."""

    batch: EventBatch
    dead: list[DeadLetter] = field(default_factory=list)
    records: int = 0


def record_source(topic: str, partition: int, offset: int) -> str:
    """Where a dead letter came from: ``topic/partition/offset``."""
    return f"{topic}/{partition}/{offset}"


def payload_text(value: bytes) -> str:
    """A record's bytes as text for a dead letter: UTF-8, else ``base64:...`` (both capped)."""
    head = value[: MAX_PAYLOAD_CHARS * 4]
    if b"\0" not in head:  # PostgreSQL text cannot hold NUL: such payloads go as base64
        try:
            return head.decode("utf-8")[:MAX_PAYLOAD_CHARS]
        except UnicodeDecodeError:
            pass
    return "base64:" + base64.b64encode(value[: MAX_PAYLOAD_CHARS // 2]).decode("ascii")


class _Segments:
    """Consecutive JSON events are batched together; frames stay as decoded; order is kept."""

    def __init__(self) -> None:
        self.parts: list[EventBatch] = []
        self.events: list[PerformanceEvent] = []

    def add_events(self, events: Sequence[PerformanceEvent]) -> None:
        self.events.extend(events)

    def add_batch(self, batch: EventBatch) -> None:
        self._close_events()
        if len(batch):
            self.parts.append(batch)

    def _close_events(self) -> None:
        if self.events:
            self.parts.append(EventBatch.from_events(self.events))
            self.events = []

    def batch(self) -> EventBatch:
        self._close_events()
        return EventBatch.concat(self.parts)


def _rejections(dead: list[DeadLetter], source: str, what: str, rejected: list[Rejection],
                payloads: Sequence[str]) -> None:
    for r in rejected:
        where = f"{what} {r.index}" if what else ""
        field_ = f"{r.field}: " if r.field else ""
        reason = f"{where}: {field_}{r.reason}" if where else f"{field_}{r.reason}"
        dead.append(DeadLetter(source, reason, payloads[r.index] if r.index < len(payloads)
                               else ""))


def _frame(value: bytes, source: str, ts_ms: int, max_future_ms: int | None,
           dead: list[DeadLetter]) -> EventBatch | None:
    try:
        batch = decode(value)
    except EventDecodeError as exc:
        dead.append(DeadLetter(source, str(exc), payload_text(value)))
        return None
    unknown = batch.ingested_ms < 0
    if unknown.any():  # stamped with the record's time, as JSON events are
        cols = batch.columns()
        cols["ingested_ms"] = np.where(unknown, ts_ms, batch.ingested_ms)
        batch = EventBatch.from_columns(batch.strings, **cols)
    if max_future_ms is not None:
        ahead = batch.event_time_ms > ts_ms + max_future_ms
        if ahead.any():
            for i in np.flatnonzero(ahead).tolist():
                t = int(batch.event_time_ms[i])
                dead.append(DeadLetter(
                    source, f"row {i}: event time {t} is {t - ts_ms} ms ahead of the record's "
                    f"timestamp (at most {max_future_ms} ms allowed)",
                    EVENT_ADAPTER.dump_json(batch.event(i), exclude_none=True).decode()))
            batch = batch.select(~ahead)
    return batch


def _json(value: bytes, source: str, ts_ms: int, max_future_ms: int | None,
          dead: list[DeadLetter]) -> list[PerformanceEvent]:
    body = value.strip(_WHITESPACE)
    if body[:1] == b"[":
        try:
            items = json.loads(body)
        except ValueError as exc:
            dead.append(DeadLetter(source, f"invalid JSON array: {exc}", payload_text(value)))
            return []
        if not isinstance(items, list):  # pragma: no cover - '[' always parses to a list
            items = [items]
        outcome = validate_events(items, now_ms=ts_ms, max_future_ms=max_future_ms)
        texts = [json.dumps(i, ensure_ascii=False)[:MAX_PAYLOAD_CHARS] for i in items] \
            if outcome.rejected else []
        _rejections(dead, source, "element", outcome.rejected, texts)
        return outcome.accepted
    if b"\n" in body:
        lines = body.split(b"\n")
        outcome = decode_ndjson(body, now_ms=ts_ms, max_future_ms=max_future_ms)
        # A pretty-printed single object is not NDJSON: read it whole when no line parsed.
        if not outcome.accepted and len(outcome.rejected) > 1:
            whole = decode_ndjson(body.replace(b"\n", b" "), now_ms=ts_ms,
                                  max_future_ms=max_future_ms)
            if whole.accepted or not whole.rejected[0].reason.startswith("Invalid JSON"):
                lines, outcome = [body], whole
        texts = [payload_text(line) for line in lines] if outcome.rejected else []
        _rejections(dead, source, "line" if len(lines) > 1 else "", outcome.rejected, texts)
        return outcome.accepted
    outcome = decode_ndjson(body, now_ms=ts_ms, max_future_ms=max_future_ms)
    _rejections(dead, source, "", outcome.rejected, [payload_text(value)])
    return outcome.accepted


def decode_records(messages: Sequence[Any], *,
                   max_future_ms: int | None = MAX_FUTURE_MS) -> DecodedRecords:
    """Decode ``messages`` (``stream.bus.Message``, one partition's, in offset order).

    JSON events without ``ingested_ms`` (and frame rows with -1) are stamped with the record's
    timestamp, which is also the clock the future-time check uses, so a replay decides exactly
    as the first reading did.
    """
    segments = _Segments()
    dead: list[DeadLetter] = []
    for m in messages:
        value: bytes = m.value
        source = record_source(m.topic, m.partition, m.offset)
        head = value.lstrip(_WHITESPACE)[:1]
        if value[:4] == FRAME_MAGIC:
            batch = _frame(value, source, m.timestamp_ms, max_future_ms, dead)
            if batch is not None:
                segments.add_batch(batch)
        elif head in (b"{", b"["):
            segments.add_events(_json(value, source, m.timestamp_ms, max_future_ms, dead))
        elif not value.strip(_WHITESPACE):
            dead.append(DeadLetter(source, "empty record", ""))
        else:
            dead.append(DeadLetter(source, _NOT_AN_EVENT, payload_text(value)))
    return DecodedRecords(segments.batch(), dead, len(messages))
