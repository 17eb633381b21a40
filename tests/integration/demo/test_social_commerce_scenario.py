"""The bundled social-commerce scenario works against the demo shop.

A deliberately tiny interpreter walks every journey over real HTTP, so the scenario and the
shop are checked against each other independently of the load engine.
"""

from __future__ import annotations

import csv
import http.client
import itertools
import json
import random
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any

import pytest
import yaml
from jsonpath_ng.parser import parse as jsonpath

from intperf.demo import DemoConfig, DemoServer

pytestmark = pytest.mark.integration

_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


def _scenario() -> dict[str, Any]:
    text = resources.files("intperf.scenarios").joinpath("social-commerce.yaml").read_text("utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def _feeders(document: dict[str, Any]) -> dict[str, Iterator[dict[str, str]]]:
    base = resources.files("intperf.scenarios")
    result: dict[str, Iterator[dict[str, str]]] = {}
    for name, spec in document["feeders"].items():
        text = base.joinpath(spec["file"]).read_text("utf-8")
        if spec["file"].endswith(".csv"):
            records = list(csv.DictReader(text.splitlines()))
        else:
            records = [{k: str(v) for k, v in r.items()} for r in json.loads(text)]
        result[name] = itertools.cycle(records)
    return result


def _render(value: Any, variables: Mapping[str, str], rng: random.Random) -> Any:
    if isinstance(value, dict):
        return {k: _render(v, variables, rng) for k, v in value.items()}
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("randomInt("):
            low, high = (int(x) for x in name[len("randomInt(") : -1].split(","))
            return str(rng.randint(low, high))
        return variables[name]

    return _PLACEHOLDER.sub(substitute, value)


def _run_journey(
    base_url: str, document: dict[str, Any], journey: dict[str, Any], rng: random.Random,
    feeders: dict[str, Iterator[dict[str, str]]],
) -> list[str]:  # fmt: skip
    """Run one iteration; return the failures (empty when every check passed)."""
    parts = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    variables: dict[str, str] = {}
    cookies: dict[str, str] = {}
    failures: list[str] = []
    try:
        for step in journey["steps"]:
            if "feed" in step:
                variables.update(next(feeders[step["feed"]]))
                continue
            spec = step["request"]
            path = _render(spec["path"], variables, rng)
            query = _render(spec.get("query", {}), variables, rng)
            if query:
                path += "?" + urllib.parse.urlencode(query)
            headers = dict(document.get("headers", {}))
            body = None
            if "json" in spec:
                body = json.dumps(_render(spec["json"], variables, rng)).encode()
                headers["Content-Type"] = "application/json"
            if cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
            conn.request(spec.get("method", "GET"), path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            for header in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                cookies[name] = rest.split(";", 1)[0]
            failures += _check(spec, response.status, payload)
            for extract in spec.get("extract", []):
                if "jsonpath" in extract:
                    found = jsonpath(extract["jsonpath"]).find(json.loads(payload))
                    assert found, f"{spec['name']}: nothing at {extract['jsonpath']}"
                    variables[extract["var"]] = str(found[0].value)
                else:
                    variables[extract["var"]] = response.headers[extract["header"]]
    finally:
        conn.close()
    return failures


def _check(spec: dict[str, Any], status: int, payload: bytes) -> list[str]:
    name, failures = spec["name"], []
    checks = spec.get("checks", [])
    allowed = next((c["status"] for c in checks if "status" in c), None)
    if (status not in allowed) if allowed else not 200 <= status < 400:
        failures.append(f"{name}: status {status}: {payload[:200]!r}")
    for check in checks:
        if "body_contains" in check and check["body_contains"].encode() not in payload:
            failures.append(f"{name}: body lacks {check['body_contains']!r}")
        if "jsonpath" in check:
            values = [m.value for m in jsonpath(check["jsonpath"]).find(json.loads(payload))]
            if not values or str(values[0]) != str(check["equals"]):
                failures.append(f"{name}: {check['jsonpath']} = {values} != {check['equals']}")
    return failures


def test_scenario_shape_follows_the_brief() -> None:
    document = _scenario()
    assert document["name"] == "social-commerce"
    weights = {j["name"]: j["weight"] for j in document["journeys"]}
    assert weights == {"browse_and_search": 60, "cart_and_order": 25, "payment": 10, "social": 5}
    assert document["load"] == {"users": 50, "ramp_up": "5s", "duration": "25s"}
    assert document["criteria"] == ["p99(response_time) < 2000ms", "error_rate < 5%", "rps > 100"]


@pytest.mark.parametrize(
    "journey_name", ["browse_and_search", "cart_and_order", "payment", "social"]
)
def test_every_journey_passes_its_checks_against_the_shop(journey_name: str) -> None:
    document = _scenario()
    journey = next(j for j in document["journeys"] if j["name"] == journey_name)
    feeders = _feeders(document)
    rng = random.Random(1)
    with DemoServer(DemoConfig(decline_rate=0.5)) as shop:
        for _ in range(8):
            assert _run_journey(shop.url, document, journey, rng, feeders) == []


def test_scenario_loads_with_the_engine_loader() -> None:
    loader = pytest.importorskip("intperf.loadtest.scenario")
    scenario = loader.load_scenario("social-commerce")
    assert [j.name for j in scenario.journeys] == [
        "browse_and_search",
        "cart_and_order",
        "payment",
        "social",
    ]
