"""JUnit XML: one test case per criterion, failures carry the observed value."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from intperf.loadtest.results import TimeSeries
from intperf.reports import build_summary, junit

from ._data import CRITERIA, make_info


def suite_of(xml: str) -> ET.Element:
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(xml.encode("utf-8"))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    return suites[0]


def test_one_testcase_per_criterion(summary: dict[str, Any]) -> None:
    suite = suite_of(junit.render(summary))
    assert suite.get("name") == "intperf.social-commerce"
    assert suite.get("tests") == "3" and suite.get("failures") == "2"
    assert suite.get("errors") == "0" and suite.get("skipped") == "0"
    assert suite.get("time") == "7.000"
    assert suite.get("timestamp") == "2025-01-02T03:04:05"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [c["criterion"] for c in CRITERIA]
    assert {c.get("classname") for c in cases} == {"criteria"}
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None
    assert failure.get("message") == "observed 0.061: error rate was 6.1% (limit 5%)"
    assert "window: seconds 0-6" in (failure.text or "")
    assert cases[2].get("time") == "3.000"  # the criterion's window
    assert "aborts the run" in (cases[2].find("failure").text or "")  # type: ignore[union-attr]


def test_properties_identify_the_run(summary: dict[str, Any]) -> None:
    suite = suite_of(junit.render(summary))
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["intperf.run_id"] == "run-2025-0001"
    assert props["intperf.scenario"] == "social-commerce"
    assert props["intperf.base_url"] == "http://127.0.0.1:8080"
    assert props["intperf.verdict"] == "failed"
    assert props["intperf.requests"] == "1560"


def test_an_incomplete_run_adds_an_error_case() -> None:
    info = make_info(status="aborted", abort_reason="p95 above 300 ms for 3 s")
    suite = suite_of(junit.render(build_summary(TimeSeries(), CRITERIA[:1], info)))
    assert suite.get("tests") == "2" and suite.get("errors") == "1"
    error = suite.find("testcase[@classname='run']/error")
    assert error is not None
    assert error.get("message") == "aborted: p95 above 300 ms for 3 s"


def test_text_that_xml_cannot_carry_is_replaced() -> None:
    crit = [{"criterion": "errors < 1", "passed": False, "observed": 3.0,
             "message": "bad \x00 byte & <tag>"}]
    xml = junit.render(build_summary(TimeSeries(), crit, make_info()))
    failure = suite_of(xml).find("testcase/failure")
    assert failure is not None
    assert failure.get("message") == "observed 3: bad \ufffd byte & <tag>"


def test_empty_run(empty_summary: dict[str, Any]) -> None:
    suite = suite_of(junit.render(empty_summary))
    assert suite.get("tests") == "0" and suite.findall("testcase") == []
    assert "0 requests" in (suite.find("system-out").text or "")  # type: ignore[union-attr]
