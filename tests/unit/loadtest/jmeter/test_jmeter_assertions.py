"""Response Assertions translated into checks: every field, test type and flag."""

from __future__ import annotations

from typing import Any

import pytest

from intperf.loadtest.jmeter.assertions import response_assertion
from intperf.loadtest.jmeter.model import JmxElement
from intperf.loadtest.jmeter.requests import NotExpressible, json_assertion
from intperf.loadtest.scenario import CheckSpec

MATCH, CONTAINS, NOT, EQUALS, SUBSTRING, OR = 1, 2, 4, 8, 16, 32


def element(field: str, kind: int, strings: list[str], *, ignore: bool = False,
            **props: Any) -> JmxElement:
    return JmxElement("ResponseAssertion", "a", "AssertionGui", {
        "Assertion.test_field": f"Assertion.{field}", "Assertion.test_type": str(kind),
        "Asserion.test_strings": strings,
        "Assertion.assume_success": "true" if ignore else "false", **props}, (), "P / G / s / a")


def checks(field: str, kind: int, strings: list[str], *, ignore: bool = False,
           notes: list[str] | None = None, **props: Any) -> list[dict[str, object]]:
    out = response_assertion(element(field, kind, strings, ignore=ignore, **props),
                             lambda s: s.replace("${__P(x)}", "X"),
                             [] if notes is None else notes)
    for c in out:
        CheckSpec.model_validate(c)  # every translation is a valid check
    return out


@pytest.mark.parametrize(
    ("field", "kind", "strings", "expected"),
    [
        ("response_data", SUBSTRING, ["lamp"], {"body_contains": "lamp"}),
        ("response_data", CONTAINS, ["lamp"], {"body_contains": "lamp"}),
        ("response_data", CONTAINS, ["la.p"], {"body_matches": "la.p"}),
        ("response_data", MATCH, ["la.p"], {"body_matches": "la.p", "full_match": True}),
        ("response_data", 0, ["la.p"], {"body_matches": "la.p", "full_match": True}),
        ("response_data", EQUALS, ["OK"], {"body_equals": "OK"}),
        ("response_data", EQUALS | SUBSTRING, ["OK"], {"body_equals": "OK"}),  # equals wins
        ("response_data", CONTAINS | EQUALS, ["O."], {"body_matches": "O."}),  # contains wins
        ("response_data", SUBSTRING | NOT, ["error"], {"body_contains": "error", "not": True}),
        ("response_data", SUBSTRING, ["a", "b"], {"body_contains": ["a", "b"]}),
        ("response_data", SUBSTRING | OR, ["a", "b"], {"body_contains": {"any_of": ["a", "b"]}}),
        ("response_data", SUBSTRING | OR, ["a"], {"body_contains": "a"}),
        ("response_data", SUBSTRING | OR | NOT, ["a", "b"],
         {"body_contains": {"any_of": ["a", "b"]}, "not": True}),
        ("response_data_as_document", SUBSTRING, ["a"], {"body_contains": "a"}),
        ("response_headers", CONTAINS, ["x-cache: (HIT|MISS)"],
         {"headers_matches": "x-cache: (HIT|MISS)"}),
        ("response_message", EQUALS, ["OK"], {"message_equals": "OK"}),
        ("sample_label", SUBSTRING, ["/orders/"], {"url_contains": "/orders/"}),
        ("sample_label", MATCH | NOT, [".*/admin.*"],
         {"url_matches": ".*/admin.*", "full_match": True, "not": True}),
        ("response_data", SUBSTRING, ["${__P(x)}"], {"body_contains": "X"}),
    ],
)
def test_text_fields(field: str, kind: int, strings: list[str], expected: dict[str, Any]) -> None:
    assert checks(field, kind, strings) == [expected]


def test_ignore_status_accepts_any_status() -> None:
    assert checks("response_data", SUBSTRING, ["gone"], ignore=True) == [
        {"body_contains": "gone"}, {"status": "any"}]


@pytest.mark.parametrize(
    ("kind", "strings", "ignore", "status"),
    [
        (EQUALS, ["200"], False, [200]),
        (EQUALS | OR, ["200", "201"], False, [200, 201]),
        (EQUALS | OR, ["201", "402"], False, [201, 402]),  # named 4xx kept (with a note)
        (MATCH, [r"2\d\d"], False, ["2xx"]),
        (CONTAINS, ["^2"], False, ["2xx"]),
        (SUBSTRING, ["20"], False, ["200-209", 220, 320]),
        (EQUALS | NOT, ["500"], False, ["200-399"]),  # 4xx/5xx fail in JMeter anyway
        (EQUALS | NOT, ["500"], True, ["100-499", "501-599"]),
        (EQUALS, ["404"], True, [404]),
        (MATCH, [r"\d+"], True, ["any"]),
        (MATCH | NOT | OR, ["2..", "3.."], False, ["200-399"]),  # not both: always true
        (MATCH | NOT, ["2..", "3.."], False, []),
    ],
)
def test_response_codes(kind: int, strings: list[str], ignore: bool, status: list[Any]) -> None:
    if not status:
        with pytest.raises(NotExpressible, match="no response code can pass"):
            checks("response_code", kind, strings, ignore=ignore)
        return
    assert checks("response_code", kind, strings, ignore=ignore) == [{"status": status}]


def test_notes() -> None:
    notes: list[str] = []
    checks("response_code", EQUALS | OR, ["201", "402"], notes=notes)
    checks("response_headers", SUBSTRING, ["Content-Type: json"], notes=notes)
    checks("response_message", EQUALS, ["OK"], notes=notes)
    checks("response_data", SUBSTRING, ["a"], notes=notes, **{"Assertion.custom_message": "m"})
    assert notes == [
        "P / G / s / a: response codes [402] are accepted; JMeter itself fails them unless "
        "'Ignore Status' is set",
        "P / G / s / a: intperf sees response header names in lower case (content-type: ...); "
        "patterns naming headers may need adjusting",
        "P / G / s / a: the response message is the standard reason phrase of the status",
        "P / G / s / a: the custom failure message is not used",
    ]


@pytest.mark.parametrize(
    ("field", "kind", "strings", "reason"),
    [
        ("request_headers", SUBSTRING, ["x"], "testing the request headers is not supported"),
        ("request_data", SUBSTRING, ["x"], "testing the request data is not supported"),
        ("bogus", SUBSTRING, ["x"], "test field Assertion.bogus is not supported"),
        ("response_data", SUBSTRING, [], "no patterns to test"),
        ("response_data", SUBSTRING, ["${user}"], "patterns with variables"),
        ("response_data", CONTAINS, ["a("], "is not a regex Python reads"),
    ],
)
def test_unsupported(field: str, kind: int, strings: list[str], reason: str) -> None:
    with pytest.raises(NotExpressible, match=reason.replace("(", r"\(")):
        checks(field, kind, strings)


def test_inverted_json_path_assertion() -> None:
    def el(**props: str) -> JmxElement:
        return JmxElement("JSONPathAssertion", "j", "", {"JSON_PATH": "$.error", **props}, (),
                          "P / G / s / j")

    assert json_assertion(el(INVERT="true")) == {"jsonpath": "$.error", "not": True}
    assert json_assertion(el(INVERT="true", JSONVALIDATION="true", EXPECTED_VALUE='"x"',
                             ISREGEX="false")) == {"jsonpath": "$.error", "equals": "x",
                                                   "not": True}
    with pytest.raises(NotExpressible, match="null expectations"):
        json_assertion(el(EXPECT_NULL="true"))
