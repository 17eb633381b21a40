"""JMeter's Response Assertion as intperf checks, in every form of its GUI.

Semantics follow ``org.apache.jmeter.assertions.ResponseAssertion``: the test type is a bit
mask (MATCH 1, CONTAINS 2, NOT 4, EQUALS 8, SUBSTRING 16, OR 32) where CONTAINS wins over
EQUALS, then SUBSTRING, then MATCH; NOT negates each pattern's test; without OR every pattern
must pass, with OR one is enough; "ignore status" makes any status acceptable.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from intperf.loadtest.checks import ALL_STATUSES, status_ranges
from intperf.loadtest.jmeter.model import JmxElement
from intperf.loadtest.jmeter.requests import (
    CONTAINS,
    EQUALS,
    NOT,
    OR,
    SUBSTRING,
    NotExpressible,
)

__all__ = ["response_assertion"]

_PLAIN = re.compile(r"[^.^$*+?{}\[\]\\|()]*")
_SUBJECTS = {
    "Assertion.response_data": "body",
    "Assertion.response_data_as_document": "body",
    "Assertion.response_headers": "headers",
    "Assertion.response_message": "message",
    "Assertion.sample_label": "url",  # "URL Sampled" (the property keeps its historic name)
}
_REQUEST_SIDE = {"Assertion.request_headers": "request headers",
                 "Assertion.request_data": "request data"}


def _operator(kind: int) -> str:
    """The test JMeter runs for a test type: contains, equals, substring or match."""
    if kind & CONTAINS:
        return "contains"
    if kind & EQUALS:
        return "equals"
    if kind & SUBSTRING:
        return "substring"
    return "match"


def response_assertion(el: JmxElement, resolve: Callable[[str], str],
                       notes: list[str]) -> list[dict[str, object]]:
    """Checks for a ResponseAssertion; raises :class:`NotExpressible` with the reason."""
    field = el.get("Assertion.test_field", "Assertion.response_data") or \
        "Assertion.response_data"
    try:
        kind = int(el.get("Assertion.test_type", "16") or "16")
    except ValueError:
        raise NotExpressible("unreadable Assertion.test_type") from None
    raw = el.props.get("Asserion.test_strings") or []  # sic: JMeter's property name
    patterns = [resolve(s) for s in raw if isinstance(s, str)]
    if not patterns:
        raise NotExpressible("no patterns to test")
    if any("${" in p for p in patterns):
        raise NotExpressible("patterns with variables are evaluated per sample by JMeter; "
                             "intperf checks take literal patterns")
    if field in _REQUEST_SIDE:
        raise NotExpressible(f"testing the {_REQUEST_SIDE[field]} is not supported")
    op = _operator(kind)
    if op in ("contains", "match"):
        for p in patterns:
            try:
                re.compile(p)
            except re.error as e:
                raise NotExpressible(f"pattern {p!r} is not a regex Python reads: {e}") from None
    negate, any_of = bool(kind & NOT), bool(kind & OR)
    ignore_status = el.flag("Assertion.assume_success")
    if el.get("Assertion.custom_message"):
        notes.append(f"{el.path}: the custom failure message is not used")
    if field == "Assertion.response_code":
        return [_status_check(el, op, patterns, negate, any_of, ignore_status, notes)]
    if field not in _SUBJECTS:
        raise NotExpressible(f"test field {field} is not supported")
    subject = _SUBJECTS[field]
    if field == "Assertion.response_data_as_document":
        notes.append(f"{el.path}: 'Document (text)' is checked on the body as text")
    if subject == "headers" and any(re.search(r"[A-Z][A-Za-z-]*:", p) for p in patterns):
        notes.append(f"{el.path}: intperf sees response header names in lower case "
                     "(content-type: ...); patterns naming headers may need adjusting")
    if subject == "message":
        notes.append(f"{el.path}: the response message is the standard reason phrase of "
                     "the status")
    check: dict[str, object] = {}
    if op == "contains" and all(_PLAIN.fullmatch(p) for p in patterns):
        op = "substring"  # a regex without special characters: a plain, faster search
    key = {"contains": "matches", "match": "matches", "substring": "contains",
           "equals": "equals"}[op]
    check[f"{subject}_{key}"] = {"any_of": patterns} if any_of and len(patterns) > 1 \
        else patterns[0] if len(patterns) == 1 else patterns
    if op == "match":
        check["full_match"] = True
    if negate:
        check["not"] = True
    checks: list[dict[str, object]] = [check]
    if ignore_status:
        checks.append({"status": "any"})
    return checks


def _status_check(el: JmxElement, op: str, patterns: list[str], negate: bool, any_of: bool,
                  ignore_status: bool, notes: list[str]) -> dict[str, object]:
    """The status codes (100-599) that pass the assertion, as one ``status`` check.

    Without "ignore status" JMeter fails 4xx/5xx samples whatever the assertion says; codes
    outside 2xx/3xx are kept only when the assertion names them literally (the evident
    intent, e.g. ``201 or 402``), with a note.
    """
    tests = [_code_test(op, p) for p in patterns]
    passing = set()
    for code in ALL_STATUSES:
        results = [t(str(code)) != negate for t in tests]
        if any(results) if any_of else all(results):
            passing.add(code)
    if not ignore_status:
        literal = set() if negate else {int(p.strip()) for p in patterns
                                        if p.strip().isdigit() and len(p.strip()) == 3}
        named = {c for c in passing if c in literal and not 200 <= c <= 399}
        if named:
            notes.append(f"{el.path}: response codes {sorted(named)} are accepted; JMeter "
                         "itself fails them unless 'Ignore Status' is set")
        passing = {c for c in passing if 200 <= c <= 399 or c in named}
    if not passing:
        raise NotExpressible("no response code can pass this assertion")
    return {"status": status_ranges(passing)}


def _code_test(op: str, pattern: str) -> Callable[[str], bool]:
    if op == "equals":
        return lambda code: code == pattern
    if op == "substring":
        return lambda code: pattern in code
    regex = re.compile(pattern)
    if op == "contains":
        return lambda code: regex.search(code) is not None
    return lambda code: regex.fullmatch(code) is not None
