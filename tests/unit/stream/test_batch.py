"""EventBatch columns and the binary frame codec: round trips, malformed frames, combining."""

from __future__ import annotations

import itertools
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intperf.errors import EventDecodeError, IntperfError, UsageError
from intperf.stream.batch import EventBatch
from intperf.stream.codec import FRAME_MAGIC, decode, encode
from intperf.stream.events import EVENT_ADAPTER, EventKind, PerformanceEvent
from intperf.stream.ingest import validate_events

NOW = 1_764_064_800_000
names = st.text(st.characters(blacklist_characters="\x00", codec="utf-8"), min_size=1, max_size=12)
small_names = st.sampled_from(["orders", "catalog", "payments", "users", "ü-ß", "x" * 200])
name = small_names | names
times = st.integers(0, 253_402_300_799_999)
durations = st.floats(0, 86_400_000, allow_nan=False)
attributes = st.dictionaries(
    st.text(st.characters(blacklist_characters="\x00", codec="utf-8"), min_size=1, max_size=8),
    st.text(st.characters(blacklist_characters="\x00", codec="utf-8"), max_size=10)
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False),
    max_size=3,
)


def common() -> dict[str, Any]:
    return {
        "service": name,
        "event_time": times,
        "attributes": attributes,
        "ingested_ms": st.none() | times,
    }


def maybe(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | s


event_dicts = st.one_of(
    st.fixed_dictionaries(
        {
            "kind": st.just("API_RESPONSE"),
            **common(),
            "response_time_ms": durations,
            "endpoint": maybe(name),
            "method": maybe(st.sampled_from(["GET", "post"])),
            "status": maybe(st.integers(100, 599)),
            "error": st.booleans(),
        }
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just("DATABASE_QUERY"),
            **common(),
            "execution_time_ms": durations,
            "query": name,
            "fingerprint": maybe(name),
            "rows": st.integers(0, 2**53),
        }
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just("CACHE_ACCESS"),
            **common(),
            "region": name,
            "hit": st.booleans(),
            "latency_ms": durations,
        }
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just("CIRCUIT_BREAKER"),
            **common(),
            "breaker": name,
            "from_state": st.sampled_from(["CLOSED", "OPEN"]),
            "to_state": st.sampled_from(["OPEN", "HALF_OPEN"]),
            "rejected_calls": st.integers(0, 100),
        }
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just("BUSINESS"),
            **common(),
            "name": name,
            "value": maybe(st.floats(allow_nan=False, allow_infinity=False)),
        }
    ),
)


def validated(items: list[dict[str, Any]]) -> list[PerformanceEvent]:
    out = validate_events(items, now_ms=NOW, max_future_ms=None)
    assert out.rejected == []
    return out.accepted


@given(st.lists(event_dicts, max_size=30))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_batch_and_frame_round_trip_every_event(items: list[dict[str, Any]]) -> None:
    events = validated(items)
    batch = EventBatch.from_events(events)
    assert len(batch) == len(events)
    assert batch.to_events() == events
    again = decode(encode(batch))
    assert again == batch
    assert again.to_events() == events
    # what a decoded frame yields validates again as the same events
    for e in again.to_events():
        assert EVENT_ADAPTER.validate_python(EVENT_ADAPTER.dump_python(e)) == e


@given(st.lists(event_dicts, min_size=1, max_size=20), st.data())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_concat_of_selections_equals_the_batch(items: list[dict[str, Any]], data: Any) -> None:
    batch = EventBatch.from_events(validated(items))
    n = len(batch)
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=4)))
    edges = [0, *cuts, n]
    parts = [batch.select(slice(a, b)) for a, b in itertools.pairwise(edges)]
    assert EventBatch.concat(parts) == batch
    assert EventBatch.concat([p.compact() for p in parts]).to_events() == batch.to_events()
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    picked = batch.select(mask)
    assert picked.to_events() == [e for e, m in zip(batch.to_events(), mask, strict=True) if m]
    assert decode(encode(picked.compact())) == picked


def test_columns_carry_what_topologies_need() -> None:
    events = validated(
        [
            {
                "kind": "API_RESPONSE",
                "service": "orders",
                "event_time": 5,
                "response_time_ms": 10,
                "status": 503,
            },
            {
                "kind": "API_RESPONSE",
                "service": "orders",
                "event_time": 6,
                "response_time_ms": 11,
                "status": 200,
                "error": True,
            },
            {
                "kind": "API_RESPONSE",
                "service": "users",
                "event_time": 7,
                "response_time_ms": 12,
                "status": 404,
            },
            {
                "kind": "CACHE_ACCESS",
                "service": "s",
                "event_time": 8,
                "region": "users",
                "hit": True,
            },
        ]
    )
    b = EventBatch.from_events(events)
    assert b.errors().tolist() == [True, True, False, False]
    assert b.hits().tolist() == [False, False, False, True]
    assert [b.strings[i] for i in b.service.tolist()] == ["orders", "orders", "users", "s"]
    assert b.strings[int(b.subject[3])] == "users"
    assert b.string_id("users") == int(b.service[2]) == int(b.subject[3])
    assert b.string_id("nope") == -1
    api = b.of_kind(EventKind.API_RESPONSE)
    assert len(api) == 3
    assert api.value.tolist() == [10.0, 11.0, 12.0]
    assert not api.value.flags.writeable
    assert len(EventBatch.concat([])) == 0


def valid_frame() -> bytes:
    events = validated(
        [
            {
                "kind": "API_RESPONSE",
                "service": "orders",
                "event_time": 5,
                "response_time_ms": 10,
                "method": "GET",
                "status": 200,
                "attributes": {"a": 1},
            },
            {
                "kind": "DATABASE_QUERY",
                "service": "db",
                "event_time": 6,
                "execution_time_ms": 2,
                "query": "select 1",
                "rows": 3,
            },
            {
                "kind": "CIRCUIT_BREAKER",
                "service": "p",
                "event_time": 7,
                "breaker": "b",
                "to_state": "OPEN",
            },
            {"kind": "BUSINESS", "service": "o", "event_time": 8, "name": "order_created"},
        ]
    )
    return encode(EventBatch.from_events(events))


FRAME = valid_frame()


def test_decode_error_is_a_usage_error_under_the_root() -> None:
    assert issubclass(EventDecodeError, UsageError)
    assert issubclass(EventDecodeError, IntperfError)


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        (b"", "shorter than"),
        (b"XXXX" + FRAME[4:], "magic"),
        (FRAME[:4] + b"\x02" + FRAME[5:], "version"),
        (FRAME[:-1], "announces"),
        (FRAME + b"\0", "announces"),
        (FRAME[:8] + struct.pack("<I", 1 << 30) + FRAME[12:], "rows is more than"),
        (FRAME[:5] + b"\x01" + FRAME[6:], "reserved"),
    ],
)
def test_malformed_frames_are_refused(frame: bytes, fragment: str) -> None:
    with pytest.raises(EventDecodeError, match=fragment):
        decode(frame)


def test_values_outside_the_event_rules_are_refused() -> None:
    batch = decode(FRAME)
    cols = batch.columns()
    bad_cases: list[tuple[str, Any, str]] = [
        ("kind", [9, 1, 3, 4], "unknown kind"),
        ("event_time_ms", [-1, 6, 7, 8], "event time"),
        ("value", [-1.0, 2.0, np.nan, np.nan], "duration"),
        ("value", [1.0, 2.0, 1.0, np.nan], "no value"),
        ("status", [99, -1, -1, -1], "status"),
        ("service", [0, 99, 0, 0], "string id"),
        ("flags", [4, 0, 0, 0], "flag"),
        ("flags", [0, 2, 0, 0], "hit flag"),
        ("to_state", [-1, -1, 17, -1], "breaker state"),
        ("rows", [5, 3, 0, 0], "row count"),
    ]
    for column, values, fragment in bad_cases:
        changed = {**cols, column: np.array(values, dtype=cols[column].dtype)}
        frame = encode(EventBatch.from_columns(batch.strings, **changed))
        with pytest.raises(EventDecodeError, match=fragment):
            decode(frame)


def test_bad_strings_are_refused() -> None:
    batch = decode(FRAME)
    for strings, fragment in [
        (tuple(s.replace("orders", "ord\x00ers") for s in batch.strings), "NUL"),
        (tuple(s.replace("GET", "get") for s in batch.strings), "HTTP method"),
        (tuple(s.replace('{"a":1}', '{"a":') for s in batch.strings), "not JSON"),
        (tuple(s.replace('{"a":1}', '{"a":[1]}') for s in batch.strings), "invalid value"),
    ]:
        with pytest.raises(EventDecodeError, match=fragment):
            decode(encode(EventBatch.from_columns(strings, **batch.columns())))
    invalid_utf8 = FRAME.replace(b"orders", b"ord\xffrs")
    with pytest.raises(EventDecodeError, match="UTF-8"):
        decode(invalid_utf8)


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_random_bytes_only_ever_raise_the_decode_error(data: bytes) -> None:
    with pytest.raises(EventDecodeError):
        decode(data)
    with pytest.raises(EventDecodeError):
        decode(FRAME_MAGIC + b"\x01\0\0\0" + data)


@given(
    st.lists(
        st.tuples(st.integers(0, len(FRAME) - 1), st.integers(0, 255)), min_size=1, max_size=4
    ),
    st.integers(0, len(FRAME)),
)
@settings(max_examples=500)
def test_mutated_frames_decode_to_valid_events_or_raise(
    edits: list[tuple[int, int]], cut: int
) -> None:
    frame = bytearray(FRAME)
    for pos, byte in edits:
        frame[pos] = byte
    for candidate in (bytes(frame), bytes(frame[:cut])):
        try:
            batch = decode(candidate)
        except EventDecodeError:
            continue
        for e in batch.to_events():  # whatever decodes is as valid as validated events
            assert EVENT_ADAPTER.validate_python(EVENT_ADAPTER.dump_python(e)) == e
