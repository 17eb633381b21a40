"""Tests of the scenario document: loading, defaults, and every validation problem's location."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from intperf.errors import ScenarioError, UsageError
from intperf.loadtest.scenario import (
    FeedStep,
    RequestStep,
    ThinkStep,
    ThinkTime,
    bundled_scenarios,
    load_scenario,
    validate_scenario,
)

BASE: dict[str, Any] = {
    "name": "s",
    "base_url": "http://127.0.0.1:8080",
    "journeys": [{"name": "j", "steps": [{"request": {"path": "/"}}]}],
}


def doc(**top: Any) -> dict[str, Any]:
    d = copy.deepcopy(BASE)
    d.update(top)
    return d


def req(**request: Any) -> dict[str, Any]:
    """A document whose only step is a request with ``path: /`` and ``request``."""
    return steps({"request": {"path": "/", **request}})


def steps(*step: Any, **journey: Any) -> dict[str, Any]:
    return doc(journeys=[{"name": "j", **journey, "steps": list(step)}])


def write(tmp_path: Path, content: Any, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, content: Any, name: str = "s.yaml") -> list[tuple[str, str]]:
    (tmp_path / "u.csv").write_text("username\nann\n", encoding="utf-8")
    path = write(tmp_path, content, name)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert isinstance(info.value, UsageError)
    assert info.value.source == str(path)
    prefix = f"{path}:"
    return [(loc.removeprefix(prefix), msg) for loc, msg in info.value.problems]


def the_problem(tmp_path: Path, content: Any) -> tuple[str, str]:
    found = problems(tmp_path, content)
    assert len(found) == 1, found
    return found[0]


# -- loading and defaults ----------------------------------------------------------------------


def test_minimal_scenario_and_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, doc())
    s = load_scenario(path)
    assert s.source == str(path)
    assert s.base_dir == tmp_path.resolve()
    assert (s.timeouts.connect, s.timeouts.read, s.timeouts.total) == (5.0, 30.0, 60.0)
    assert (s.load.users, s.load.duration) == (1, 10.0)
    assert s.tls_verify and not s.follow_redirects and s.cookies
    assert s.headers == {} and s.variables == {} and s.feeders == {} and s.criteria == []
    j = s.journeys[0]
    assert (j.weight, j.pacing, j.think_time) == (1.0, None, None)
    step = j.steps[0]
    assert isinstance(step, RequestStep)
    r = step.request
    assert (r.name, r.method, r.body_kind, r.follow_redirects) == ("GET /", "GET", None, None)


def test_full_scenario(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "users.csv").write_text("username,password\nu,p\n", encoding="utf-8")
    content = doc(
        description="all keys",
        headers={"Accept": "application/json", "X-Num": 5},
        timeouts={"connect": "1s", "read": "2s", "total": "3s"},
        tls_verify=False,
        follow_redirects=True,
        cookies=False,
        variables={"currency": "EUR", "n": 1, "flag": True},
        feeders={"users": {"file": "data/users.csv", "strategy": "queue"}},
        load={"users": 5, "ramp_up": "2s", "duration": "10s"},
        criteria=["error_rate < 5%"],
        journeys=[
            {
                "name": "buy",
                "weight": 3,
                "pacing": "2s",
                "think_time": {"uniform": ["100ms", "500ms"]},
                "steps": [
                    {"feed": "users"},
                    {
                        "request": {
                            "name": "login",
                            "method": "post",
                            "path": "/login",
                            "query": {"page": 1, "tags": ["a", "${currency}"]},
                            "json": {"u": "${username}", "p": "${password}", "n": 1},
                            "extract": [{"var": "tok", "regex": "t=(\\w+)"}],
                            "checks": [{"status": 200}, {"jsonpath": "$.ok", "equals": True}],
                            "think_time": 1,
                            "follow_redirects": False,
                        }
                    },
                    {"think": {"gaussian": {"mean": "1s", "stddev": "250ms"}}},
                    {"request": {"path": "/me", "headers": {"Authorization": "Bearer ${tok}"}}},
                ],
            }
        ],
    )
    s = load_scenario(write(tmp_path, content))
    assert s.headers == {"Accept": "application/json", "X-Num": "5"}
    assert s.variables == {"currency": "EUR", "n": "1", "flag": "true"}
    assert s.feeders["users"].strategy == "queue"
    assert not s.cookies
    j = s.journeys[0]
    assert (j.weight, j.pacing) == (3.0, 2.0)
    feed, login, think, me = j.steps
    assert isinstance(feed, FeedStep) and feed.feed == "users"
    assert isinstance(login, RequestStep) and isinstance(me, RequestStep)
    assert isinstance(think, ThinkStep)
    r = login.request
    assert (r.name, r.method, r.body_kind) == ("login", "POST", "json")
    assert r.query == {"page": ["1"], "tags": ["a", "${currency}"]}
    assert r.checks[0].status == [200]
    assert r.checks[1].has_equals
    assert r.extract[0].regex_group == 1
    assert r.think_time is not None and r.think_time.constant == 1.0
    assert me.request.name == "GET /me"


def test_json_and_yml_files_and_path_objects(tmp_path: Path) -> None:
    assert load_scenario(write(tmp_path, json.dumps(doc()), "s.json")).name == "s"
    assert load_scenario(str(write(tmp_path, doc(), "s.yml"))).name == "s"


def test_bundled_scenario() -> None:
    assert "social-commerce" in bundled_scenarios()
    s = load_scenario("social-commerce")
    assert s.name == "social-commerce"
    assert (s.base_dir / "data").is_dir()


def test_models_are_frozen(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, doc()))
    with pytest.raises(ValidationError):
        s.name = "other"


def test_with_base_url(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path, doc()))
    assert s.with_base_url("https://x.test").base_url == "https://x.test"
    with pytest.raises(ValueError, match="must start with http"):
        s.with_base_url("x.test")


def test_validate_scenario_without_reading_feeders(tmp_path: Path) -> None:
    content = doc(feeders={"u": {"file": "/etc/nope.csv"}}) | {
        "journeys": [{"name": "j", "steps": [{"feed": "u"}, {"request": {"path": "/${col}"}}]}]
    }
    s = validate_scenario(content, read_feeders=False)
    assert s.source == "<memory>"


# -- file-level problems -----------------------------------------------------------------------


def test_unknown_file(tmp_path: Path) -> None:
    ref = str(tmp_path / "nope.yaml")
    with pytest.raises(ScenarioError) as info:
        load_scenario(ref)
    assert info.value.problems == [(ref, "file not found")]


def test_unknown_bundled_name_suggests() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario("social-comerce")
    [(loc, msg)] = info.value.problems
    assert loc == "social-comerce"
    assert "did you mean 'social-commerce'?" in msg


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = write(tmp_path, "x", "s.txt")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.problems == [
        (str(path), "unsupported file type '.txt'; use .yaml, .yml or .json")
    ]


@pytest.mark.parametrize(
    ("name", "text", "location", "message"),
    [
        (
            "s.yaml",
            "name: a\n  journeys: [\n",
            "2:11",
            "invalid YAML: mapping values are not allowed",
        ),
        ("s.yaml", "name: a\nname: b\n", "2:1", "invalid YAML: duplicate key 'name'"),
        ("s.yaml", "name: [a\n", "2:1", "invalid YAML"),
        ("s.json", '{"name": "a",\n "journeys": [}', "2:15", "invalid JSON: Expecting value"),
        (
            "s.yaml",
            "- a\n",
            "(top level)",
            "a scenario is a mapping with 'name' and 'journeys', got list",
        ),
    ],
)
def test_syntax_errors_have_line_and_column(
    tmp_path: Path, name: str, text: str, location: str, message: str
) -> None:
    [(loc, msg)] = problems(tmp_path, text, name)
    assert loc == location
    assert msg.startswith(message)


def test_empty_and_undecodable_files(tmp_path: Path) -> None:
    empty = write(tmp_path, "  \n", "e.yaml")
    with pytest.raises(ScenarioError, match="the file is empty"):
        load_scenario(empty)
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"name: \xff\n")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_scenario(binary)


# -- every validation problem, with its exact location -----------------------------------------

R = "journeys[0].steps[0].request"
S = "journeys[0].steps[0]"

CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # top level
    ("name pattern", doc(name="bad name"), "name", "'bad name' may only contain letters"),
    (
        "name missing",
        {k: v for k, v in doc().items() if k != "name"},
        "name",
        "missing required key 'name'",
    ),
    ("no journeys key", {"name": "s"}, "journeys", "missing required key 'journeys'"),
    ("empty journeys", doc(journeys=[]), "journeys", "needs at least 1 item(s), got 0"),
    ("typo key", doc(nmae="x"), "nmae", "unknown key 'nmae'; did you mean 'name'?"),
    (
        "unknown key",
        doc(zzz=1),
        "zzz",
        "unknown key 'zzz'; valid keys: name, description, base_url",
    ),
    ("reserved key", doc(source="x"), "source", "unknown key 'source'"),
    (
        "base_url scheme",
        doc(base_url="ftp://x"),
        "base_url",
        "URL 'ftp://x' must start with http://",
    ),
    ("base_url vars", doc(base_url="http://${h}"), "base_url", "cannot hold variables"),
    ("base_url query", doc(base_url="http://x/?a=1"), "base_url", "cannot have a query"),
    ("base_url host", doc(base_url="http://"), "base_url", "has no host"),
    ("header name", doc(headers={"X Bad": "1"}), 'headers["X Bad"]', "invalid header name 'X Bad'"),
    (
        "content-length",
        doc(headers={"Content-Length": "1"}),
        "headers.Content-Length",
        "computed by intperf",
    ),
    ("header CRLF", doc(headers={"X-A": "a\r\nB: c"}), "headers.X-A", "contains a line break"),
    ("header template", doc(headers={"X-A": "${"}), "headers.X-A", "unclosed '${'"),
    ("timeout zero", doc(timeouts={"connect": 0}), "timeouts.connect", "must be > 0, got 0"),
    ("timeout text", doc(timeouts={"read": "abc"}), "timeouts.read", "not a duration: 'abc'"),
    ("timeout key", doc(timeouts={"conect": 1}), "timeouts.conect", "did you mean 'connect'?"),
    ("tls_verify", doc(tls_verify="maybe"), "tls_verify", "expected true or false, got 'maybe'"),
    ("variable name", doc(variables={"1x": "y"}), "variables.1x", "'1x' is not a variable name"),
    ("variable value", doc(variables={"a": [1]}), "variables.a", "expected text, got [1]"),
    ("variables type", doc(variables=["a"]), "variables", "expected a mapping of keys to values"),
    (
        "feeder strategy",
        doc(feeders={"u": {"file": "u.csv", "strategy": "circle"}}),
        "feeders.u.strategy",
        "'circle' is not valid; use one of circular, random, queue; did you mean 'circular'?",
    ),
    ("feeder no file", doc(feeders={"u": {}}), "feeders.u.file", "missing required key 'file'"),
    (
        "feeder missing file",
        doc(feeders={"u": {"file": "nope.csv"}}),
        "feeders.u.file",
        "nope.csv: file not found",
    ),
    ("feeder name", doc(feeders={"a b": {"file": "u.csv"}}), 'feeders["a b"]', "may only contain"),
    ("load users", doc(load={"users": 0}), "load.users", "must be >= 1, got 0"),
    ("load key", doc(load={"user": 5}), "load.user", "did you mean 'users'?"),
    (
        "load models",
        doc(load={"users": 1, "constant_arrival_rate": {"rate": 1, "duration": 1}}),
        "load",
        "cannot be combined with 'users'",
    ),
    (
        "injection kind",
        doc(load={"injection": [{"bogus": 1}]}),
        "load.injection[0]",
        "expected a mapping with exactly one of 'nothing_for', 'at_once_users'",
    ),
    (
        "injection typo",
        doc(load={"injection": [{"ramp_user": 1, "during": 1}]}),
        "load.injection[0]",
        "did you mean 'ramp_users'?",
    ),
    (
        "injection field",
        doc(load={"injection": [{"ramp_users": 5}]}),
        "load.injection[0].during",
        "missing required key 'during'",
    ),
    (
        "injection value",
        doc(load={"injection": [{"nothing_for": "zz"}]}),
        "load.injection[0].nothing_for",
        "not a duration: 'zz'",
    ),
    ("injection scalar", doc(load={"injection": ["x"]}), "load.injection[0]", "got 'x'"),
    ("criteria", doc(criteria="p99 < 1s"), "criteria", "expected a list, got 'p99 < 1s'"),
    # journeys
    ("weight", steps({"think": 1}, weight=0), "journeys[0].weight", "must be > 0"),
    ("pacing", steps({"think": 1}, pacing="x"), "journeys[0].pacing", "not a duration: 'x'"),
    (
        "journey think",
        steps({"think": 1}, think_time="x"),
        "journeys[0].think_time",
        "not a duration: 'x'",
    ),
    (
        "journey name",
        doc(journeys=[{"steps": [{"think": 1}]}]),
        "journeys[0].name",
        "missing required key 'name'",
    ),
    (
        "journey blank name",
        doc(journeys=[{"name": " ", "steps": [{"think": 1}]}]),
        "journeys[0].name",
        "must not be empty",
    ),
    (
        "no steps",
        doc(journeys=[{"name": "j", "steps": []}]),
        "journeys[0].steps",
        "needs at least 1 item(s)",
    ),
    (
        "duplicate journey",
        doc(
            journeys=[
                {"name": "j", "steps": [{"think": 1}]},
                {"name": "j", "steps": [{"think": 1}]},
            ]
        ),
        "journeys[1].name",
        "duplicate journey name 'j' (also journeys[0].name)",
    ),
    (
        "journey not mapping",
        doc(journeys=["j"]),
        "journeys[0]",
        "expected a mapping of keys to values, got 'j'",
    ),
    # steps
    (
        "two kinds",
        steps({"request": {"path": "/"}, "think": 1}),
        S,
        "got 'request' and 'think' in one step",
    ),
    (
        "step typo",
        steps({"requests": {"path": "/"}}),
        S,
        "got keys 'requests'; did you mean 'request'?",
    ),
    (
        "step scalar",
        steps("oops"),
        S,
        "a step must have exactly one of 'request', 'think', 'feed', 'group'; got 'oops'",
    ),
    ("step extra", steps({"think": 1, "x": 2}), f"{S}.x", "unknown key 'x'; valid keys: think"),
    (
        "unknown feeder",
        steps({"feed": "usr"}),
        f"{S}.feed",
        "unknown feeder 'usr' (declared feeders: none",
    ),
    ("feed type", steps({"feed": 1}), f"{S}.feed", "expected text, got 1"),
    ("think text", steps({"think": "soon"}), f"{S}.think", "not a duration: 'soon'"),
    (
        "think uniform",
        steps({"think": {"uniform": [2, 1]}}),
        f"{S}.think.uniform",
        "low <= high, got [2.0, 1.0]",
    ),
    (
        "think uniform 3",
        steps({"think": {"uniform": [1, 2, 3]}}),
        f"{S}.think.uniform",
        "uniform needs [low, high]",
    ),
    (
        "think gaussian",
        steps({"think": {"gaussian": {"mean": 1}}}),
        f"{S}.think.gaussian.stddev",
        "missing required key 'stddev'",
    ),
    (
        "think two",
        steps({"think": {"constant": 1, "uniform": [1, 2]}}),
        f"{S}.think",
        "got constant, uniform",
    ),
    ("think none", steps({"think": {}}), f"{S}.think", "got none"),
    ("think kind", steps({"think": {"poisson": 1}}), f"{S}.think.poisson", "unknown key 'poisson'"),
    (
        "think bool",
        steps({"think": True}),
        f"{S}.think",
        "expected a mapping of keys to values, got true",
    ),
    # requests
    ("no path", steps({"request": {}}), f"{R}.path", "missing required key 'path'"),
    (
        "relative path",
        req(path="api"),
        f"{R}.path",
        "path 'api' must start with '/' or be a full http://",
    ),
    ("path space", req(path="/a b"), f"{R}.path", "contains a space"),
    ("path fragment", req(path="/a#b"), f"{R}.path", "fragments are never sent"),
    (
        "url host var",
        req(path="http://${h}/x") | {"variables": {"h": "x"}},
        f"{R}.path",
        "variables are not allowed in the scheme, host or port",
    ),
    ("url creds", req(path="http://u:p@h/x"), f"{R}.path", "contains credentials"),
    ("path template", req(path="/${a"), f"{R}.path", "unclosed '${'"),
    ("method", req(method="FETCH"), f"{R}.method", "'FETCH' is not an HTTP method; use one of GET"),
    ("method typo", req(method="PSOT"), f"{R}.method", "did you mean 'POST'?"),
    ("request key", req(jsn={}), f"{R}.jsn", "unknown key 'jsn'; did you mean 'json'?"),
    ("name", req(name=""), f"{R}.name", "must not be empty"),
    (
        "two bodies",
        req(json={}, body="x"),
        R,
        "give at most one of 'json', 'form', 'body'; got json and body",
    ),
    ("two bodies form", req(form={"a": "b"}, body="x"), R, "got form and body"),
    ("json template", req(json={"a": ["${"]}), f"{R}.json", "unclosed '${'"),
    ("json nan", req(json={"a": float("nan")}), f"{R}.json", "not a JSON value"),
    ("query template", req(query={"q": "${a b}"}), f"{R}.query.q", "invalid reference '${a b}'"),
    ("query list item", req(query={"q": ["a", "${"]}), f"{R}.query.q[1]", "unclosed"),
    ("query null", req(query={"q": None}), f"{R}.query.q", "expected text, got null"),
    ("form value", req(form={"a": {"b": 1}}), f"{R}.form.a", "expected text"),
    ("body type", req(body=["x"]), f"{R}.body", 'expected text, got ["x"]'),
    (
        "request header",
        req(headers={"Bad Name": "x"}),
        f'{R}.headers["Bad Name"]',
        "invalid header name",
    ),
    (
        "transfer-encoding",
        req(headers={"Transfer-Encoding": "chunked"}),
        f"{R}.headers.Transfer-Encoding",
        "computed by intperf",
    ),
    (
        "follow_redirects",
        req(follow_redirects="often"),
        f"{R}.follow_redirects",
        "expected true or false",
    ),
    (
        "request think",
        req(think_time={"uniform": [1]}),
        f"{R}.think_time.uniform",
        "uniform needs [low, high]",
    ),
    # extractions
    (
        "extract var",
        req(extract=[{"var": "1a", "header": "X"}]),
        f"{R}.extract[0].var",
        "'1a' is not a variable name",
    ),
    (
        "extract no var",
        req(extract=[{"header": "X"}]),
        f"{R}.extract[0].var",
        "missing required key 'var'",
    ),
    (
        "extract none",
        req(extract=[{"var": "a"}]),
        f"{R}.extract[0]",
        "needs exactly one of 'jsonpath', 'regex', 'header'; got none",
    ),
    (
        "extract two",
        req(extract=[{"var": "a", "header": "X", "jsonpath": "$.a"}]),
        f"{R}.extract[0]",
        "got jsonpath, header",
    ),
    (
        "extract jsonpath",
        req(extract=[{"var": "a", "jsonpath": "$.["}]),
        f"{R}.extract[0].jsonpath",
        "invalid JSONPath '$.['",
    ),
    (
        "extract regex",
        req(extract=[{"var": "a", "regex": "(x"}]),
        f"{R}.extract[0].regex",
        "invalid regex '(x'",
    ),
    (
        "extract group",
        req(extract=[{"var": "a", "regex": "t=(x)", "group": 3}]),
        f"{R}.extract[0].group",
        "group 3 does not exist: 't=(x)' has 1 group(s)",
    ),
    (
        "extract group name",
        req(extract=[{"var": "a", "regex": "(?P<v>x)", "group": "w"}]),
        f"{R}.extract[0].group",
        "no group named 'w'",
    ),
    (
        "extract group type",
        req(extract=[{"var": "a", "regex": "x", "group": [1]}]),
        f"{R}.extract[0].group",
        "group must be a group number or name",
    ),
    (
        "extract group w/o regex",
        req(extract=[{"var": "a", "jsonpath": "$.a", "group": 1}]),
        f"{R}.extract[0]",
        "'group' only applies to 'regex'",
    ),
    (
        "extract header",
        req(extract=[{"var": "a", "header": "Bad Name"}]),
        f"{R}.extract[0].header",
        "invalid header name",
    ),
    ("extract list", req(extract={"var": "a"}), f"{R}.extract", "expected a list"),
    # checks
    (
        "status range",
        req(checks=[{"status": [200, 700]}]),
        f"{R}.checks[0].status",
        "700: HTTP status codes are 100-599",
    ),
    (
        "status empty",
        req(checks=[{"status": []}]),
        f"{R}.checks[0].status",
        "give at least one status code",
    ),
    (
        "status text",
        req(checks=[{"status": "ok"}]),
        f"{R}.checks[0].status",
        "expected a list, got 'ok'",
    ),
    (
        "status item",
        req(checks=[{"status": [200, "x"]}]),
        f"{R}.checks[0].status[1]",
        "expected a whole number, got 'x'",
    ),
    (
        "equals alone",
        req(checks=[{"equals": 1}]),
        f"{R}.checks[0]",
        "'equals' needs a 'jsonpath' to compare",
    ),
    (
        "check two",
        req(checks=[{"jsonpath": "$.a", "body_contains": "x"}]),
        f"{R}.checks[0]",
        "got body_contains, jsonpath",
    ),
    (
        "check none",
        req(checks=[{}]),
        f"{R}.checks[0]",
        "needs exactly one of 'status', 'body_contains'",
    ),
    (
        "check key",
        req(checks=[{"stauts": [200]}]),
        f"{R}.checks[0].stauts",
        "did you mean 'status'?",
    ),
    (
        "body_contains",
        req(checks=[{"body_contains": ""}]),
        f"{R}.checks[0].body_contains",
        "must not be empty",
    ),
    (
        "max_duration",
        req(checks=[{"max_duration": "5q"}]),
        f"{R}.checks[0].max_duration",
        "not a duration: '5q'",
    ),
    (
        "jsonpath deprecated",
        req(checks=[{"jsonpath": "$.a[?(@.s == on)]"}]),
        f"{R}.checks[0].jsonpath",
        "deprecated JSONPath syntax",
    ),
    # variables
    (
        "unknown var",
        req(path="/${nope}"),
        f"{R}.path",
        "unknown variable '${nope}' (a variable must be a built-in",
    ),
    (
        "var suggestion",
        doc(variables={"term": "x"}) | req(query={"q": "${trm}"}) | {"variables": {"term": "x"}},
        f"{R}.query.q",
        "did you mean 'term'?",
    ),
    (
        "var in header",
        req(headers={"X-A": "${nope}"}),
        f"{R}.headers.X-A",
        "unknown variable '${nope}'",
    ),
    (
        "var in json",
        req(json={"items": [{"name": "${nope}"}]}),
        f"{R}.json.items[0].name",
        "unknown variable",
    ),
    ("var in form", req(form={"a": ["x", "${nope}"]}), f"{R}.form.a[1]", "unknown variable"),
    ("var in body", req(body="${nope}"), f"{R}.body", "unknown variable"),
    (
        "var in scenario header",
        doc(headers={"X-A": "${nope}"}),
        "headers.X-A",
        "unknown variable '${nope}'",
    ),
]


@pytest.mark.parametrize(
    ("case", "content", "location", "message"), CASES, ids=[c[0] for c in CASES]
)
def test_problem_locations(
    tmp_path: Path, case: str, content: dict[str, Any], location: str, message: str
) -> None:
    loc, msg = the_problem(tmp_path, content)
    assert loc == location
    assert message in msg


def test_known_variables_pass(tmp_path: Path) -> None:
    (tmp_path / "terms.json").write_text('[{"term": "shoes"}]', encoding="utf-8")
    content = doc(
        variables={"currency": "EUR"},
        feeders={"terms": {"file": "terms.json", "strategy": "random"}},
        headers={"X-Trace": "${uuid}"},
        journeys=[
            {
                "name": "j",
                "steps": [
                    {
                        "request": {
                            "path": "/${product_id}",
                            "query": {"q": "${term}", "c": "${currency}"},
                        }
                    },
                    {"feed": "terms"},
                    {
                        "request": {
                            "path": "/p/${userId}/${iteration}/${timestamp}/${randomInt(1,9)}",
                            "extract": [{"var": "product_id", "jsonpath": "$.id"}],
                        }
                    },
                ],
            }
        ],
    )
    assert load_scenario(write(tmp_path, content)).name == "s"


def test_feeder_columns_need_a_feed_step(tmp_path: Path) -> None:
    (tmp_path / "u.csv").write_text("username\nann\n", encoding="utf-8")
    content = doc(feeders={"u": {"file": "u.csv"}}) | {
        "journeys": [{"name": "j", "steps": [{"request": {"path": "/${username}"}}]}]
    }
    loc, msg = the_problem(tmp_path, content)
    assert loc == f"{R}.path"
    assert "unknown variable '${username}'" in msg


def test_unreadable_feeder_suppresses_unknown_variables(tmp_path: Path) -> None:
    content = doc(feeders={"u": {"file": "missing.csv"}}) | {
        "journeys": [{"name": "j", "steps": [{"feed": "u"}, {"request": {"path": "/${username}"}}]}]
    }
    assert problems(tmp_path, content) == [
        ("feeders.u.file", f"{tmp_path / 'missing.csv'}: file not found")
    ]


def test_misspelt_feeder_lends_its_columns(tmp_path: Path) -> None:
    (tmp_path / "u.csv").write_text("username\nann\n", encoding="utf-8")
    content = doc(feeders={"users": {"file": "u.csv"}}) | {
        "journeys": [
            {"name": "j", "steps": [{"feed": "usres"}, {"request": {"path": "/${username}"}}]}
        ]
    }
    loc, msg = the_problem(tmp_path, content)
    assert loc == f"{S}.feed"
    assert msg == "unknown feeder 'usres'; did you mean 'users'? (declared feeders: users)"


def test_empty_feeder_file(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("username\n", encoding="utf-8")
    loc, msg = the_problem(tmp_path, doc(feeders={"u": {"file": "e.csv"}}))
    assert loc == "feeders.u.file"
    assert msg == f"{tmp_path / 'e.csv'}: has no records"


def test_every_problem_is_listed(tmp_path: Path) -> None:
    content = doc(
        name="a b",
        timeouts={"connect": -1},
        journeys=[
            {
                "name": "j",
                "steps": [
                    {"feed": "nope"},
                    {"request": {"path": "/${x}", "method": "GRAB", "json": {}, "body": "b"}},
                    {"think": {"uniform": [3, 1]}},
                ],
            },
            {"name": "j", "weight": -1, "steps": [{"bogus": 1}]},
        ],
    )
    found = dict(problems(tmp_path, content))
    assert set(found) == {
        "name",
        "timeouts.connect",
        "journeys[0].steps[0].feed",
        "journeys[0].steps[1].request.method",
        "journeys[0].steps[1].request.path",
        "journeys[0].steps[1].request",
        "journeys[0].steps[2].think.uniform",
        "journeys[1].name",
        "journeys[1].weight",
        "journeys[1].steps[0]",
    }


def test_problems_are_not_duplicated(tmp_path: Path) -> None:
    found = problems(tmp_path, req(json={}, form={"a": "b"}))
    assert found == [(R, "give at most one of 'json', 'form', 'body'; got json and form")]


# -- think time ---------------------------------------------------------------------------------


def test_think_time_forms() -> None:
    rng = random.Random(1)
    assert ThinkTime.model_validate("1.5s").sample(rng) == 1.5
    assert ThinkTime.model_validate(2).sample(rng) == 2.0
    assert ThinkTime.model_validate({"constant": "250ms"}).sample(rng) == 0.25
    u = ThinkTime.model_validate({"uniform": ["100ms", "200ms"]})
    assert all(0.1 <= u.sample(rng) <= 0.2 for _ in range(100))
    g = ThinkTime.model_validate({"gaussian": {"mean": 0, "stddev": "1s"}})
    samples = [g.sample(rng) for _ in range(200)]
    assert min(samples) == 0.0 and max(samples) > 0


durations = st.floats(min_value=0, max_value=1e4, allow_nan=False)


@given(durations, durations, st.integers())
def test_uniform_samples_stay_in_bounds(a: float, b: float, seed: int) -> None:
    low, high = min(a, b), max(a, b)
    t = ThinkTime.model_validate({"uniform": [low, high]})
    assert low <= t.sample(random.Random(seed)) <= high


@given(durations, durations, st.integers())
def test_gaussian_samples_are_never_negative(mean: float, stddev: float, seed: int) -> None:
    t = ThinkTime.model_validate({"gaussian": {"mean": mean, "stddev": stddev}})
    assert t.sample(random.Random(seed)) >= 0.0


@given(durations)
def test_constant_samples_are_exact(value: float) -> None:
    assert ThinkTime.model_validate(value).sample(random.Random()) == value
