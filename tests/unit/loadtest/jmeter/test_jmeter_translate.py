"""Translating parsed plans into scenario documents: exact fragments and warnings."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from intperf.loadtest.jmeter import JmxError, parse_jmx, parse_jmx_bytes, translate, translate_plan
from intperf.loadtest.jmeter.controllers import iter_requests
from intperf.loadtest.scenario import validate_scenario

FIXTURES = Path(__file__).parents[3] / "fixtures" / "jmx"
REPO = Path(__file__).parents[4]


def load(name: str, tmp: Path, **props: str) -> tuple[dict[str, Any], list[str]]:
    plan = parse_jmx(FIXTURES / name, props)
    doc, warnings = translate(plan, data_dir=tmp)
    # every translation must be a valid scenario
    validate_scenario({"base_url": "http://127.0.0.1:1", **doc}, source=name,
                      base_dir=plan.base_dir)
    return doc, warnings


def requests(doc: dict[str, Any], journey: int = 0) -> list[dict[str, Any]]:
    """Every request of a journey, inside groups too."""
    return list(iter_requests(doc["journeys"][journey]["steps"]))


def test_basics_top_level(tmp_path: Path) -> None:
    doc, _ = load("basics.jmx", tmp_path, port="9999", threads="4")
    assert doc["name"] == "Basics-plan"
    assert doc["base_url"] == "http://127.0.0.1:9999"
    assert doc["cookies"] is False  # no CookieManager: JMeter keeps no cookies
    assert doc["variables"] == {"currency": "EUR", "env": "staging", "size": "2"}
    assert doc["load"] == {"users": 4, "ramp_up": 4, "iterations": 2}
    assert [j["name"] for j in doc["journeys"]] == ["Shoppers"]


def test_basics_requests(tmp_path: Path) -> None:
    doc, _ = load("basics.jmx", tmp_path, env="prod", who="ann")
    assert doc["variables"]["env"] == "prod"
    search, form, raw = requests(doc)
    assert search == {
        "name": "search", "method": "GET", "path": "/api/products",
        "query": {"q": "lamp", "tag": ["a", "${randomInt(1,9)}"], "size": "${size}"},
        "headers": {"X-Env": "${env}", "x-trace": "${uuid}"},
        "follow_redirects": True,
        "on_failure": "continue",  # JMeter's default action after a sampler error
    }
    assert form["form"] == {"user": "${userId}", "at": "${timestamp}", "n": "${iteration}",
                            "who": "ann-$${undefined_var}"}
    assert form["headers"] == {"X-Env": "${env}", "X-Trace": "plan"}
    assert raw["method"] == "PUT"
    assert raw["body"] == '{"currency": "${currency}", "fn": "$${__machineName()}"}'
    assert "form" not in raw and "query" not in raw


def test_basics_warnings_list_unsupported_with_paths(tmp_path: Path) -> None:
    _, warnings = load("basics.jmx", tmp_path)
    assert warnings[0] == (
        "2 unsupported element(s) skipped:\n"
        "  Basics plan / Shoppers / raw put / legacy script (BeanShellPreProcessor): "
        "not supported\n"
        "  Basics plan / Shoppers / groovy step (JSR223Sampler): not supported")
    assert any("__counter" in w for w in warnings)
    assert any("__machineName" in w for w in warnings)


def test_controllers_and_timers(tmp_path: Path) -> None:
    doc, warnings = load("controllers.jmx", tmp_path)
    reqs = requests(doc)
    names = [r["name"] for r in reqs]
    assert names[:7] == ["first", "looped", "looped", "looped", "in-transaction", "in-simple",
                         "if-true"]
    assert "if-cond" not in names
    assert names.count("capped") == 100
    assert reqs[0]["think_time"] == 0.1
    assert reqs[4]["think_time"] == {"uniform": [0.15, 0.35]}
    assert reqs[5]["think_time"] == {"gaussian": {"mean": 0.4, "stddev": 0.1}}
    assert doc["load"] == {"users": 2, "ramp_up": 1, "duration": 9}
    assert doc["journeys"][0]["steps"][4] == {"group": {
        "name": "checkout", "transaction": True, "steps": [{"request": reqs[4]}]}}
    assert any("huge: 500 loops capped at 100" in w for w in warnings)
    assert "Controllers / G / when logged in (IfController): condition '${__groovy(" \
        in warnings[0]


def test_assertions_and_extractors(tmp_path: Path) -> None:
    doc, warnings = load("assertions.jmx", tmp_path)
    (req,) = requests(doc)
    assert doc["base_url"] == "http://127.0.0.1:8080"
    assert req["checks"] == [
        {"status": [200, 201]}, {"body_contains": ["items", "page"]},
        {"body_contains": "error", "not": True},
        {"jsonpath": "$.page", "equals": 1}, {"max_duration": "500ms"}]
    assert req["extract"] == [
        {"var": "total", "regex": '"total":\\s*(\\d+)', "group": 1, "default": "-1"},
        {"var": "first", "jsonpath": "$.items[0].id", "default": "none"},
        {"var": "pages", "jsonpath": "$.pages", "default": ""},
        {"var": "name", "regex": '(?s)"name":"(.*?)"', "group": 1, "default": "?"}]
    assert "Assertions / G / s / two groups (RegexExtractor)" in warnings[0]
    assert "ResponseAssertion" not in warnings[0]


def test_csv_feeders_get_a_header(tmp_path: Path) -> None:
    doc, _ = load("csv.jmx", tmp_path)
    assert doc["feeders"] == {
        "people": {"file": str(tmp_path / "people.csv"), "strategy": "queue"},
        "terms": {"file": str(tmp_path / "terms.csv"), "strategy": "circular"}}
    assert doc["journeys"][0]["steps"][:2] == [{"feed": "people"}, {"feed": "terms"}]
    with (tmp_path / "people.csv").open(newline="") as fh:
        assert list(csv.reader(fh)) == [["user", "pass"], ["alice", "pw1"], ["bob", "pw2"]]
    with (tmp_path / "terms.csv").open(newline="") as fh:
        assert list(csv.reader(fh)) == [["term", "page"], ["lamp", "1"], ["chair, big", "2"]]


def test_open_model(tmp_path: Path) -> None:
    doc, _ = load("open_model.jmx", tmp_path, rate="4")
    assert doc["load"] == {"injection": [
        {"ramp_users_per_sec": {"from": 4.0, "to": 0.0}, "during": 60.0, "randomized": True},
        {"nothing_for": 5.0}]}


def test_thread_groups_become_populations(tmp_path: Path) -> None:
    doc, warnings = load("two_groups.jmx", tmp_path)
    assert "load" not in doc
    assert [(j["name"], j["load"]) for j in doc["journeys"]] == [
        ("Readers", {"users": 6, "ramp_up": 3, "iterations": 5}),
        ("Writers", {"users": 2, "ramp_up": 8, "iterations": 2})]
    assert all("weight" not in j for j in doc["journeys"])
    assert doc["journeys"][1]["pacing"] == 2.0
    assert not any("population" in w or "differ in" in w for w in warnings)


def test_unsupported_list_for_strict_mode(tmp_path: Path) -> None:
    plan = parse_jmx(FIXTURES / "controllers.jmx")
    result = translate_plan(plan, data_dir=tmp_path)
    assert [(u.path, u.tag) for u in result.unsupported] == [
        ("Controllers / G / when logged in", "IfController")]
    assert translate_plan(parse_jmx(FIXTURES / "two_groups.jmx")).unsupported == []


def test_plan_without_requests_is_an_error() -> None:
    data = (b'<jmeterTestPlan><hashTree><TestPlan testname="P"/><hashTree>'
            b'<ThreadGroup testname="G"/><hashTree/></hashTree></hashTree></jmeterTestPlan>')
    with pytest.raises(JmxError, match="no enabled thread group"):
        translate(parse_jmx_bytes(data, source=Path("p.jmx")))


def test_reference_plan_translates(tmp_path: Path) -> None:
    plan = parse_jmx(REPO / "load-testing" / "jmeter-test-plan.jmx",
                     {"base_url": "http://127.0.0.1:9", "duration": "30", "ramp": "5"})
    result = translate_plan(plan, data_dir=tmp_path)
    doc = result.scenario
    assert result.unsupported == []
    assert doc["base_url"] == "http://127.0.0.1:9"
    assert doc["cookies"] is True
    assert "load" not in doc
    assert [(j["name"], j["load"]) for j in doc["journeys"]] == [
        ("ProductSearch", {"users": 6, "ramp_up": 5, "duration": 25}),
        ("OrderCreation", {"users": 3, "ramp_up": 5, "duration": 25}),
        ("PaymentProcessing", {"users": 1, "ramp_up": 5, "duration": 25})]
    pay = requests(doc, 2)[-1]
    assert pay["path"] == "/api/payments"
    assert pay["checks"][0] == {"status": [201, 402]}
    assert {"jsonpath": "$.method", "equals": "card"} in pay["checks"]
    validate_scenario(doc, source="plan.jmx", base_dir=plan.base_dir)


def test_unrolled_loops_are_independent_copies(tmp_path: Path) -> None:
    doc, _ = load("shop_flow.jmx", tmp_path, port="8081")
    assert doc["base_url"] == "http://127.0.0.1:8081"
    echo1, echo2 = [r for r in requests(doc) if r["name"] == "echo"]
    assert echo1 == echo2
    assert echo1 is not echo2
    assert echo1["path"] == "/__demo/echo"


def test_mixed_origins_keep_full_urls(tmp_path: Path) -> None:
    data = (FIXTURES / "assertions.jmx").read_bytes().replace(
        b"</hashTree>\n      </hashTree>\n    </hashTree>",
        b'</hashTree>\n<HTTPSamplerProxy testname="other"><stringProp name="HTTPSampler.path">'
        b"http://127.0.0.2:9000/x</stringProp></HTTPSamplerProxy><hashTree/>"
        b"\n      </hashTree>\n    </hashTree>", 1)
    doc, _ = translate(parse_jmx_bytes(data, source=FIXTURES / "m.jmx"), data_dir=tmp_path)
    assert "base_url" not in doc
    assert [r["path"] for r in requests(doc)] == ["http://127.0.0.1:8080/api/products",
                                                   "http://127.0.0.2:9000/x"]
