"""Records to events: frames, JSON, NDJSON, arrays, and a dead letter with a reason for
everything else (stream/processor_decode.py)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from intperf.stream import EventBatch
from intperf.stream.bus import Message
from intperf.stream.codec import encode
from intperf.stream.events import EVENT_ADAPTER
from intperf.stream.processor_decode import decode_records, payload_text
from intperf.stream.processor_state import dead_letter_envelope

TS = 1_790_000_000_000


def api(t: int = TS, **over: Any) -> dict[str, Any]:
    return {"kind": "API_RESPONSE", "service": "orders", "event_time": t,
            "response_time_ms": 4.0, **over}


def msg(value: bytes, offset: int = 0, ts: int = TS) -> Message:
    return Message("events", 2, offset, b"k", value, ts)


def frame(*events: dict[str, Any]) -> bytes:
    return encode(EventBatch.from_events([EVENT_ADAPTER.validate_python(e) for e in events]))


def test_each_record_form_is_read_in_order() -> None:
    records = [
        msg(json.dumps(api(TS + 1)).encode(), 0),
        msg(frame(api(TS + 2), api(TS + 3)), 1),
        msg(b"\n".join(json.dumps(api(TS + t)).encode() for t in (4, 5)) + b"\n", 2),
        msg(json.dumps([api(TS + 6), api(TS + 7)]).encode(), 3),
        msg(json.dumps(api(TS + 8), indent=2).encode(), 4),  # pretty-printed: one event
    ]
    out = decode_records(records)
    assert out.dead == []
    assert out.records == 5
    assert out.batch.event_time_ms.tolist() == [TS + t for t in range(1, 9)]


def test_ingestion_time_is_the_record_timestamp_unless_set() -> None:
    out = decode_records([msg(json.dumps(api(ingested_ms=TS - 5)).encode(), 0, TS + 9),
                          msg(json.dumps(api()).encode(), 1, TS + 10),
                          msg(frame(api()), 2, TS + 11)])
    assert out.batch.ingested_ms.tolist() == [TS - 5, TS + 10, TS + 11]


def test_events_far_ahead_of_the_record_time_are_dead_letters() -> None:
    ahead = TS + 2 * 3_600_000
    out = decode_records([msg(frame(api(), api(ahead)), 7), msg(json.dumps(api(ahead)).encode())])
    assert len(out.batch) == 1
    assert [d.source for d in out.dead] == ["events/2/7", "events/2/0"]
    assert "row 1: event time" in out.dead[0].reason and "ahead" in out.dead[0].reason
    assert json.loads(out.dead[0].payload)["event_time"] == ahead
    assert "ahead of the ingestion clock" in out.dead[1].reason
    assert decode_records([msg(frame(api(ahead)))], max_future_ms=None).dead == []


def test_bad_parts_of_a_record_are_dead_letters_and_the_rest_counts() -> None:
    ndjson = b"\n".join([json.dumps(api()).encode(), b'{"kind": "API_RESPONSE"}', b"{oops",
                         json.dumps(api()).encode()])
    out = decode_records([msg(ndjson, 3), msg(b'[{"kind": "NOPE"}, 5]', 4)])
    assert len(out.batch) == 2
    reasons = [d.reason for d in out.dead]
    assert reasons[0].startswith("line 1: service: Field required")
    assert reasons[1].startswith("line 2: Invalid JSON")
    assert reasons[2].startswith("element 0: kind: unknown kind 'NOPE'")
    assert reasons[3] == "element 1: expected a JSON object, got int"
    assert [d.payload for d in out.dead] == ['{"kind": "API_RESPONSE"}', "{oops",
                                             '{"kind": "NOPE"}', "5"]
    assert {d.source for d in out.dead} == {"events/2/3", "events/2/4"}


def test_unreadable_records_are_dead_letters_with_their_bytes() -> None:
    good = frame(api())
    out = decode_records([msg(b"hello"), msg(b"   "), msg(good[:-1]), msg(b"IPEV" + b"\0" * 40),
                          msg(b"[1, 2"), msg(b"\xff\x00binary")])
    assert len(out.batch) == 0
    reasons = [d.reason for d in out.dead]
    assert reasons[0].startswith("not an event record")
    assert reasons[1] == "empty record"
    assert reasons[2].startswith("malformed event frame:")
    assert reasons[3].startswith("malformed event frame:")
    assert reasons[4].startswith("invalid JSON array")
    assert out.dead[5].payload.startswith("base64:")


def test_payload_text_and_the_dead_letter_envelope() -> None:
    assert payload_text(b"ok \xc3\xa9") == "ok é"
    assert payload_text(b"nul\x00") == "base64:bnVsAA=="
    assert len(payload_text(b"x" * 100_000)) == 16_384
    out = decode_records([msg(b"nope", 12)])
    env = json.loads(dead_letter_envelope(out.dead[0]))
    assert env == {"source": "events/2/12", "reason": out.dead[0].reason, "payload": "nope"}


def test_an_empty_poll_is_an_empty_batch() -> None:
    out = decode_records([])
    assert len(out.batch) == 0 and out.dead == [] and out.records == 0
    assert isinstance(out.batch.event_time_ms, np.ndarray)
