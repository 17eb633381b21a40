"""Tests of response checks and extractions: messages, laziness, strict JSON equality."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intperf.loadtest.checks import CompiledChecks, ResponseView, compile_jsonpath, json_equal
from intperf.loadtest.scenario import CheckSpec, Extraction

Headers = list[tuple[bytes, bytes]]


def view(
    body: Any = b"", status: int = 200, headers: Headers | None = None, elapsed_ms: float = 10.0
) -> ResponseView:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return ResponseView(status, headers or [], raw, elapsed_ms)


def compiled(
    checks: list[dict[str, Any]], extracts: list[dict[str, Any]] | None = None
) -> CompiledChecks:
    return CompiledChecks.compile(
        [CheckSpec.model_validate(c) for c in checks],
        [Extraction.model_validate(e) for e in extracts or []],
    )


def test_no_checks() -> None:
    c = compiled([])
    assert c.status_set is None
    assert not c.needs_body and not c.needs_headers
    assert not c.has_view_checks and not c.has_extractions
    assert c.run(view(status=500)) is None
    assert c.extract(view()) == ({}, None)


def test_status() -> None:
    c = compiled([{"status": [200, 201]}])
    assert c.status_set == frozenset({200, 201})
    assert not c.needs_body
    assert not c.has_view_checks
    assert c.run(view(status=201)) is None
    assert c.run(view(status=503)) == "status 503 not in {200, 201}"


def test_status_sets_intersect_and_single_int_is_accepted() -> None:
    c = compiled([{"status": [200, 204]}, {"status": 200}])
    assert c.status_set == frozenset({200})
    assert c.run(view(status=204)) == "status 204 not in {200}"


def test_status_checks_run_first() -> None:
    c = compiled([{"body_contains": "items"}, {"status": [200]}])
    assert c.run(view(b"oops", status=503)) == "status 503 not in {200}"


def test_body_contains() -> None:
    c = compiled([{"body_contains": "items"}])
    assert c.needs_body and c.has_view_checks
    assert c.run(view(b'{"items": []}')) is None
    assert c.run(view(b"{}")) == "body does not contain 'items'"
    long = compiled([{"body_contains": "x" * 100}]).run(view(b""))
    assert long == f"body does not contain '{'x' * 37}...'"


@pytest.mark.parametrize(
    ("body", "expected", "message"),
    [
        ({"page": 1}, 1, None),
        ({"page": 1.0}, 1, None),
        ({"page": 2}, 1, "$.page = 2, expected 1"),
        ({"page": "1"}, 1, '$.page = "1", expected 1'),
        ({"page": 1}, "1", '$.page = 1, expected "1"'),
        ({"page": True}, 1, "$.page = true, expected 1"),
        ({"page": None}, None, None),
        ({"page": "a"}, "a", None),
        ({"page": [1, {"a": "b"}]}, [1, {"a": "b"}], None),
        ({"page": [1, 2]}, [1, "2"], '$.page = [1,2], expected [1,"2"]'),
        ({"x": 1}, 1, "no match for $.page"),
    ],
)
def test_jsonpath_equals_is_strict(body: Any, expected: Any, message: str | None) -> None:
    c = compiled([{"jsonpath": "$.page", "equals": expected}])
    assert c.run(view(body)) == message


def test_jsonpath_several_matches_compare_as_a_list() -> None:
    c = compiled([{"jsonpath": "$.items[*].id", "equals": [1, 2]}])
    assert c.run(view({"items": [{"id": 1}, {"id": 2}]})) is None


def test_jsonpath_without_equals_requires_a_match() -> None:
    c = compiled([{"jsonpath": "$.token"}])
    assert c.run(view({"token": None})) is None
    assert c.run(view({})) == "no match for $.token"


def test_jsonpath_on_non_json() -> None:
    c = compiled([{"jsonpath": "$.a", "equals": 1}])
    assert c.run(view(b"<html>")) == "$.a: response is not JSON"


def test_max_duration() -> None:
    c = compiled([{"max_duration": "500ms"}])
    assert not c.needs_body and c.has_view_checks
    assert c.run(view(elapsed_ms=500)) is None
    assert c.run(view(elapsed_ms=812.4)) == "took 812ms > 500ms"


def test_json_is_parsed_once_and_only_when_needed() -> None:
    v = view({"a": 1})
    assert compiled([{"status": [200]}, {"max_duration": 1}]).run(v) is None
    assert v._json is not None and not isinstance(v._json, dict)  # still unparsed
    first = v.json()
    assert v.json() is first
    bad = view(b"{")
    with pytest.raises(ValueError):
        bad.json()
    with pytest.raises(ValueError):
        bad.json()


def test_json_equal() -> None:
    assert json_equal(1, 1.0)
    assert not json_equal(True, 1)
    assert not json_equal(0, False)
    assert not json_equal("1", 1)
    assert json_equal({"a": [1, None]}, {"a": [1.0, None]})
    assert not json_equal({"a": 1}, {"a": 1, "b": 2})
    assert not json_equal([1], [1, 2])


def test_extract_jsonpath_regex_header() -> None:
    c = compiled(
        [],
        [
            {"var": "pid", "jsonpath": "$.items[0].id"},
            {"var": "obj", "jsonpath": "$.items[0]"},
            {"var": "flag", "jsonpath": "$.ok"},
            {"var": "token", "regex": 'token": "(\\w+)'},
            {"var": "whole", "regex": "tok.n"},
            {"var": "named", "regex": "(?P<t>[0-9]+)", "group": "t"},
            {"var": "loc", "header": "Location"},
        ],
    )
    assert c.needs_body and c.needs_headers and c.has_extractions and c.has_view_checks
    body = {"items": [{"id": 7, "n": "x"}], "ok": True, "token": "abc"}
    v = view(body, headers=[(b"content-type", b"json"), (b"location", b"/orders/9")])
    values, failure = c.extract(v)
    assert failure is None
    assert values == {
        "pid": "7",
        "obj": '{"id":7,"n":"x"}',
        "flag": "true",
        "token": "abc",
        "whole": "token",
        "named": "7",
        "loc": "/orders/9",
    }


def test_extract_failures_and_defaults() -> None:
    c = compiled(
        [],
        [
            {"var": "product_id", "jsonpath": "$.items[0].id"},
            {"var": "cursor", "jsonpath": "$.next", "default": "none"},
            {"var": "token", "regex": "token=(\\w+)"},
            {"var": "location", "header": "Location"},
            {"var": "nul", "jsonpath": "$.n"},
        ],
    )
    values, failure = c.extract(view({"items": [], "n": None}))
    assert values == {"cursor": "none"}
    assert failure == "extract product_id: no match for $.items[0].id"
    assert c.extract(view({"items": [{"id": 1}], "n": 1}, headers=[(b"location", b"/x")]))[1] == (
        "extract token: no match for regex 'token=(\\w+)'"
    )
    only_header = compiled([], [{"var": "location", "header": "Location"}])
    assert only_header.extract(view())[1] == "extract location: no header Location"
    assert not only_header.needs_body
    nul = compiled([], [{"var": "n", "jsonpath": "$.n"}])
    assert nul.extract(view({"n": None}))[1] == "extract n: $.n is null"
    assert nul.extract(view(b"<html>"))[1] == "extract n: response is not JSON"


def test_any_response_header_can_be_extracted() -> None:
    c = compiled([], [{"var": "n", "header": "Content-Length"}])
    assert c.extract(view(headers=[(b"content-length", b"0")])) == ({"n": "0"}, None)


def test_regex_runs_on_replaced_utf8() -> None:
    c = compiled([], [{"var": "w", "regex": "a(.)b"}])
    values, failure = c.extract(view(b"xa\xffb"))
    assert failure is None
    assert values == {"w": "\ufffd"}


def test_header_lookup_is_case_insensitive() -> None:
    v = view(headers=[(b"x-id", b"1"), (b"x-id", b"2")])
    assert v.header("X-ID") == "1"
    assert v.header("missing") is None


def test_compile_jsonpath_errors() -> None:
    with pytest.raises(ValueError, match=r"invalid JSONPath '\$\.\['"):
        compile_jsonpath("$.[")
    with pytest.raises(ValueError, match="deprecated JSONPath syntax"):
        compile_jsonpath("$.items[?(@.status == active)]")
    assert compile_jsonpath("$.items[?(@.price > 10)].id").find({"items": [{"price": 11, "id": 1}]})


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3)
    ),
    max_leaves=12,
)
_steps = st.lists(st.sampled_from([".a", ".b", ".c", "[0]", "[1]", "[-1]", "['a']"]), max_size=4)


@given(_json_values, _steps)
def test_simple_paths_agree_with_jsonpath_ng(doc: object, steps: list[str]) -> None:
    from intperf.loadtest.checks import SimplePath, compile_jsonpath

    expr = "$" + "".join(steps)
    fast = SimplePath.compile(expr)
    assert fast is not None
    expected = [m.value for m in compile_jsonpath(expr).find(doc)]
    assert [m.value for m in fast.find(doc)] == expected


def test_paths_with_wildcards_or_filters_use_the_general_matcher() -> None:
    from intperf.loadtest.checks import SimplePath

    for expr in ("$.items[*].id", "$..id", "$.items[?(@.id > 1)]", "$.a[0:2]"):
        assert SimplePath.compile(expr) is None
