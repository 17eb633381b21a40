"""HTTP samplers, defaults, headers, assertions, extractors and timers as intperf request parts."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from intperf.loadtest.jmeter.model import JmxElement

_PLAIN = re.compile(r"[^.^$*+?{}\[\]\\|()]*")
_TEMPLATE = re.compile(r"\$(\d+)\$")
# ResponseAssertion.test_type bits (org.apache.jmeter.assertions.ResponseAssertion); the
# assertion itself is translated in assertions.py
MATCH, CONTAINS, NOT, EQUALS, SUBSTRING, OR = 1, 2, 4, 8, 16, 32


class NotExpressible(Exception):
    """The element has no intperf equivalent; the message says why."""


def arguments(props: dict[str, Any], key: str) -> list[tuple[str, str]]:
    """``(name, value)`` pairs of an Arguments element property."""
    holder = props.get(key)
    if not isinstance(holder, dict):
        return []
    items = holder.get("Arguments.arguments")
    if not isinstance(items, list):
        return []
    return [(str(item.get("Argument.name", "")), str(item.get("Argument.value", "")))
            for item in items if isinstance(item, dict)]


def headers(el: JmxElement) -> dict[str, str]:
    """The headers of a HeaderManager."""
    items = el.props.get("HeaderManager.headers")
    out: dict[str, str] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("Header.name"):
            out[str(item["Header.name"])] = str(item.get("Header.value", ""))
    return out


def json_assertion(el: JmxElement) -> dict[str, Any]:
    """A jsonpath check for a JSONPathAssertion; raises :class:`NotExpressible`."""
    path = el.get("JSON_PATH")
    if not path:
        raise NotExpressible("no JSON path")
    if el.flag("EXPECT_NULL"):
        raise NotExpressible("null expectations are not supported")
    invert = {"not": True} if el.flag("INVERT") else {}
    if not el.flag("JSONVALIDATION"):
        return {"jsonpath": path, **invert}
    expected = el.get("EXPECTED_VALUE")
    if el.flag("ISREGEX", True) and not _PLAIN.fullmatch(expected):
        raise NotExpressible("regular-expression expectations are not supported")
    try:
        value: Any = json.loads(expected)
    except ValueError:
        value = expected
    return {"jsonpath": path, "equals": value, **invert}


def regex_extract(el: JmxElement) -> dict[str, Any]:
    """A regex extraction for a RegexExtractor; raises :class:`NotExpressible`."""
    if el.get("RegexExtractor.useHeaders", "false") not in ("false", ""):
        raise NotExpressible("only the response body can be searched")
    template = el.get("RegexExtractor.template", "$1$") or "$1$"
    m = _TEMPLATE.fullmatch(template.strip())
    if m is None:
        raise NotExpressible(f"template {template!r}: only a single group like $1$ is supported")
    return {"var": el.get("RegexExtractor.refname"), "regex": el.get("RegexExtractor.regex"),
            "group": int(m.group(1)), "default": el.get("RegexExtractor.default")}


def boundary_extract(el: JmxElement) -> dict[str, Any]:
    """A regex extraction for a BoundaryExtractor."""
    if el.get("BoundaryExtractor.useHeaders", "false") not in ("false", ""):
        raise NotExpressible("only the response body can be searched")
    left = re.escape(el.get("BoundaryExtractor.lboundary"))
    right = re.escape(el.get("BoundaryExtractor.rboundary"))
    return {"var": el.get("BoundaryExtractor.refname"), "regex": f"(?s){left}(.*?){right}",
            "group": 1, "default": el.get("BoundaryExtractor.default")}


def json_extracts(el: JmxElement) -> list[dict[str, Any]]:
    """jsonpath extractions for a JSONPostProcessor (names and paths are ';'-separated)."""
    names = el.get("JSONPostProcessor.referenceNames").split(";")
    paths = el.get("JSONPostProcessor.jsonPathExprs").split(";")
    defaults = el.get("JSONPostProcessor.defaultValues").split(";")
    if len(names) != len(paths):
        raise NotExpressible("as many variable names as JSON paths are needed")
    return [{"var": n.strip(), "jsonpath": p.strip(),
             "default": defaults[i] if i < len(defaults) else ""}
            for i, (n, p) in enumerate(zip(names, paths, strict=True))]


def think_time(timers: list[JmxElement],
               resolve: Callable[[str], str]) -> tuple[Any, list[str]]:
    """One think time for the timers in scope of a sampler (JMeter adds their delays)."""
    constant = 0.0
    random_part: dict[str, Any] | None = None
    notes: list[str] = []
    for t in timers:
        delay = _ms(resolve(t.get("ConstantTimer.delay") or t.get("RandomTimer.delay") or "0"))
        rng = _ms(resolve(t.get("RandomTimer.range") or "0"))
        if t.tag == "ConstantTimer":
            constant += delay
        elif random_part is not None:
            notes.append(f"{t.path}: only one random timer per sampler is used; ignored")
        elif t.tag == "UniformRandomTimer":
            constant += delay
            random_part = {"uniform": [0.0, rng]}
        elif t.tag == "GaussianRandomTimer":
            random_part = {"gaussian": {"mean": delay, "stddev": rng}}
    if random_part is None:
        return round(constant, 6), notes
    if "uniform" in random_part:
        high = round(constant + random_part["uniform"][1], 6)
        return {"uniform": [round(constant, 6), high]}, notes
    gauss = random_part["gaussian"]
    return {"gaussian": {"mean": round(gauss["mean"] + constant, 6),
                         "stddev": round(gauss["stddev"], 6)}}, notes


def _ms(text: str) -> float:
    try:
        return max(float(text.strip()), 0.0) / 1000.0
    except ValueError:
        raise NotExpressible(f"delay {text!r} is not a number of milliseconds") from None
