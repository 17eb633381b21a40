"""Text, status-range and negated checks: semantics, messages and what they make the client read."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from intperf.loadtest.checks import CompiledChecks, ResponseView, status_ranges
from intperf.loadtest.scenario import CheckSpec

HEADERS = [(b"content-type", b"application/json"), (b"x-cache", b"HIT")]
BODY = b'{"status": "PAID", "items": [1, 2]}'


def view(body: bytes = BODY, status: int = 200, url: str = "http://h/orders/7?x=1"
         ) -> ResponseView:
    return ResponseView(status, HEADERS, body, 5.0, url)


def run(check: dict[str, Any], v: ResponseView | None = None) -> str | None:
    return compiled(check).run(v or view())


def compiled(*checks: dict[str, Any]) -> CompiledChecks:
    return CompiledChecks.compile([CheckSpec.model_validate(c) for c in checks], [])


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ({"body_contains": "PAID"}, None),
        ({"body_contains": "VOID"}, "body does not contain 'VOID'"),
        ({"body_contains": ["PAID", "items"]}, None),
        ({"body_contains": ["PAID", "VOID"]}, "body does not contain 'VOID'"),
        ({"body_contains": {"any_of": ["VOID", "PAID"]}}, None),
        ({"body_contains": {"all_of": ["VOID", "PAID"]}}, "body does not contain 'VOID'"),
        ({"body_contains": {"any_of": ["VOID", "NONE"]}},
         "body does not contain any of 'VOID', 'NONE'"),
        ({"body_contains": "PAID", "not": True}, "body contains 'PAID'"),
        ({"body_contains": ["VOID", "NONE"], "not": True}, None),
        ({"body_contains": ["VOID", "PAID"], "not": True}, "body contains 'PAID'"),
        ({"body_contains": {"any_of": ["VOID", "PAID"]}, "not": True}, None),
        ({"body_contains": {"any_of": ["items", "PAID"]}, "not": True},
         "body contains all of 'items', 'PAID'"),
        ({"body_matches": r'"status": "[A-Z]+"'}, None),
        ({"body_matches": r"^\{.*\}$"}, None),
        ({"body_matches": r"status"}, None),
        ({"body_matches": r"status", "full_match": True}, "body does not fully match 'status'"),
        ({"body_matches": r"\{.*\}", "full_match": True}, None),
        ({"body_matches": r"VOID|CANCELLED", "not": True}, None),
        ({"body_equals": BODY.decode()}, None),
        ({"body_equals": "x"}, "body does not equal 'x'"),
        ({"body_equals": {"any_of": ["x", BODY.decode()]}}, None),
        ({"headers_contains": "x-cache: HIT"}, None),
        ({"headers_contains": "X-Cache: HIT"}, "headers does not contain 'X-Cache: HIT'"),
        ({"headers_matches": r"(?m)^content-type: application/json$"}, None),
        ({"headers_matches": r"^HTTP/1\.1 200 OK\n"}, None),
        ({"headers_equals": "HTTP/1.1 200 OK\ncontent-type: application/json\nx-cache: HIT\n"},
         None),
        ({"message_equals": "OK"}, None),
        ({"message_equals": "Created"}, "message does not equal 'Created'"),
        ({"message_contains": "O"}, None),
        ({"message_matches": "^O.$", "not": True}, "message matches '^O.$'"),
        ({"url_contains": "/orders/"}, None),
        ({"url_matches": r"/orders/\d+\?x=1$"}, None),
        ({"url_equals": "http://h/orders/7?x=1"}, None),
        ({"url_equals": "http://h/orders/8"}, "url does not equal 'http://h/orders/8'"),
        ({"jsonpath": "$.error", "not": True}, None),
        ({"jsonpath": "$.status", "not": True}, "unexpected match for $.status"),
        ({"jsonpath": "$.status", "equals": "VOID", "not": True}, None),
        ({"jsonpath": "$.status", "equals": "PAID", "not": True},
         '$.status = "PAID", expected another value'),
        ({"body_contains": "x" * 60}, f"body does not contain '{'x' * 37}...'"),
    ],
)
def test_text_checks(check: dict[str, Any], message: str | None) -> None:
    assert run(check) == message


def test_bodies_are_read_as_utf8_for_regexes_and_raw_for_substrings() -> None:
    v = view("prix: 12 €".encode())
    assert run({"body_matches": r"\d+ €$"}, v) is None
    assert run({"body_contains": ["€", "prix"]}, v) is None
    assert run({"body_equals": "prix: 12 €"}, v) is None


def test_what_each_check_makes_the_client_read() -> None:
    assert compiled({"message_equals": "OK"}).needs_body is False
    assert compiled({"message_equals": "OK"}).needs_headers is False
    assert compiled({"message_equals": "OK"}).has_view_checks is True
    headers = compiled({"headers_contains": "x"})
    assert headers.needs_headers and not headers.needs_body and not headers.needs_url
    url = compiled({"url_contains": "x"})
    assert url.needs_url and not url.needs_body and not url.needs_headers
    body = compiled({"body_matches": "x"})
    assert body.needs_body and not body.needs_headers
    status = compiled({"status": "2xx", "not": True})
    assert not status.has_view_checks and not status.needs_body


def test_status_forms_and_negation() -> None:
    assert compiled({"status": "2xx"}).status_set == frozenset(range(200, 300))
    assert compiled({"status": ["200-204", 404]}).status_set == frozenset([*range(200, 205), 404])
    assert compiled({"status": "any"}).status_set == frozenset(range(100, 600))
    assert compiled({"status": "201"}).status_set == frozenset({201})
    c = compiled({"status": [500, 503], "not": True})
    assert 500 not in c.status_set and 404 in c.status_set  # type: ignore[operator]
    assert c.status_shown == "{100-499, 501, 502, 504-599}"
    assert c.run(view(status=503)) == "status 503 not in {100-499, 501, 502, 504-599}"
    both = compiled({"status": "any"}, {"status": [200, 201]})
    assert both.status_set == frozenset({200, 201})
    assert both.status_shown == "{200, 201}"
    assert compiled({"status": "2xx"}).status_shown == "{2xx}"


def test_status_ranges() -> None:
    assert status_ranges({200, 201}) == [200, 201]
    assert status_ranges({200, 201, 202, 404}) == ["200-202", 404]
    assert status_ranges(set(range(200, 300)) | {404}) == ["2xx", 404]
    assert status_ranges(set(range(100, 600))) == ["any"]
    for codes in ({200}, {200, 201, 202}, set(range(100, 600)) - {500}, {100, 599}):
        spec = CheckSpec.model_validate({"status": status_ranges(codes)})
        assert set(spec.status or []) == codes


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ({"status": "ok"}, "expected a list, got 'ok'; give codes like [200, 201], a class like "
                           "2xx, a range like 200-299, or any"),
        ({"status": "300-200"}, "the first code must not exceed the second"),
        ({"status": "6xx"}, "expected a list, got '6xx'"),
        ({"status": ["1-2"]}, "valid integer"),
        ({"body_matches": "a("}, "invalid regex 'a('"),
        ({"body_matches": ""}, "must not be empty"),
        ({"headers_contains": {"any_of": ["a", ""]}}, "must not be empty"),
        ({"body_contains": {"any_of": []}}, "give at least one pattern"),
        ({"body_contains": {"any_of": ["a"], "all_of": ["b"]}}, "got all_of, any_of"),
        ({"body_contains": {"one_of": ["a"]}}, "Extra inputs are not permitted"),
        ({"max_duration": "1s", "not": True}, "'not' does not apply to 'max_duration'"),
        ({"body_contains": "a", "full_match": True}, "'full_match' only applies to the "
                                                      "*_matches checks, not 'body_contains'"),
        ({"body_contains": "a", "url_equals": "b"}, "got body_contains, url_equals"),
    ],
)
def test_invalid_checks(check: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as e:
        CheckSpec.model_validate(check)
    assert message in str(e.value)


def test_equals_may_be_empty() -> None:
    assert run({"body_equals": ""}, view(b"")) is None
    assert run({"message_equals": ""}, view(status=299)) is None  # no standard phrase
