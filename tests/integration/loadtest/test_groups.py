"""Group steps against the demo shop: conditions, last_ok, transactions, richer checks."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import pytest

from intperf.demo import DemoServer

from .support import run, scenario, shop_call, total

pytestmark = pytest.mark.integration


@pytest.fixture
def shop(demo_shop: DemoServer) -> DemoServer:
    shop_call(demo_shop, "POST", "/__demo/config",
              {"latency_ms": 0, "latency_jitter_ms": 0, "error_rate": 0})
    return demo_shop


def echo(name: str, **query: Any) -> dict[str, Any]:
    return {"request": {"name": name, "path": "/__demo/echo", "query": query}}


def received(shop: DemoServer, run_id: str) -> list[dict[str, list[str]]]:
    items = shop_call(shop, "GET", "/__demo/requests?limit=1000")["items"]
    return [parse_qs(i["query_string"]) | {"path": [i["path"]]} for i in items
            if i["headers"].get("x-run") == run_id]


def test_conditions_and_last_ok(shop: DemoServer) -> None:
    steps: list[dict[str, Any]] = [
        {"request": {"name": "status", "path": "/__demo/echo", "query": {"status": "PAID"},
                     "extract": [{"var": "status", "jsonpath": "$.query.status[0]"},
                                 {"var": "count", "jsonpath": "$.query.count[0]",
                                  "default": "3"}]}},
        {"group": {"if": '"${status}" == "PAID" and ${count} > 2',
                   "steps": [echo("paid", branch="paid")]}},
        {"group": {"if": '${status} != "PAID" || ${count} <= 2',
                   "steps": [echo("unpaid", branch="unpaid")]}},
        {"request": {"name": "missing", "path": "/api/products/999999",
                     "on_failure": "continue"}},
        {"group": {"if": "last_ok", "steps": [echo("after success", branch="never")]}},
        {"group": {"if": "not last_ok", "steps": [echo("after failure", branch="failed")]}},
        {"group": {"if": "last_ok", "steps": [echo("last ok again", branch="ok-again")]}},
        {"group": {"if": '"${status}" == "PAID"', "if_each_step": True, "steps": [
            {"request": {"name": "void", "path": "/__demo/echo", "query": {"status": "VOID"},
                         "extract": [{"var": "status", "jsonpath": "$.query.status[0]"}]}},
            echo("after void", branch="skipped"),
        ]}},
        echo("end", branch="end"),
    ]
    sc = scenario(shop.url, steps, headers={"X-Run": "cond-1"})
    outcome = run(sc)
    got = received(shop, "cond-1")
    branches = [g.get("branch", g.get("status", g["path"]))[0] for g in got]
    assert branches == ["PAID", "paid", "/api/products/999999", "failed", "ok-again", "VOID",
                        "end"]
    assert total(outcome.series, "missing").errors == {"http_4xx": 1}
    assert total(outcome.series).failed == 1


def test_transactions(shop: DemoServer) -> None:
    steps: list[dict[str, Any]] = [
        {"group": {"name": "checkout", "transaction": True, "steps": [
            echo("tx step 1", step=1), {"think": "300ms"}, echo("tx step 2", step=2)]}},
        {"group": {"name": "checkout with think", "transaction": {"include_think_time": True},
                   "steps": [echo("tx step 3", step=3), {"think": "300ms"},
                             echo("tx step 4", step=4)]}},
        {"group": {"name": "failing", "transaction": True, "on_failure": "continue", "steps": [
            {"request": {"name": "missing", "path": "/api/products/999999"}},
            {"group": {"name": "inner", "transaction": True,
                       "steps": [echo("tx step 5", step=5)]}},
        ]}},
        {"group": {"name": "ends the iteration", "transaction": True, "steps": [
            {"request": {"name": "missing again", "path": "/api/products/999998"}},
            echo("never sent", step=6),
        ]}},
        echo("not reached", step=7),
    ]
    sc = scenario(shop.url, steps, headers={"X-Run": "tx-1"})
    series = run(sc).series
    got = [g["step"][0] for g in received(shop, "tx-1") if "step" in g]
    assert got == ["1", "2", "3", "4", "5"]
    checkout = total(series, "checkout")
    assert checkout.ok == 1 and checkout.failed == 0
    assert checkout.service.max < 250  # the 300 ms pause is left out
    with_think = total(series, "checkout with think")
    assert with_think.ok == 1 and with_think.service.min >= 290
    failing = total(series, "failing")
    assert failing.errors == {"http_4xx": 1}
    assert failing.messages == {"1 of 2 requests failed": 1}
    assert total(series, "inner").ok == 1
    ended = total(series, "ends the iteration")
    assert ended.errors == {"http_4xx": 1}
    assert ended.messages == {"1 of 1 requests failed": 1}
    assert "not reached" not in series.request_names


def test_text_checks_against_the_shop(shop: DemoServer) -> None:
    def req(name: str, checks: list[dict[str, Any]], path: str = "/__demo/echo"
            ) -> dict[str, Any]:
        return {"request": {"name": name, "path": path, "query": {"q": "lamp"},
                            "checks": checks, "on_failure": "continue"}}

    steps = [
        req("passes", [
            {"body_matches": r'"q":\["lamp"\]'},
            {"body_matches": r"\{.*\}", "full_match": True},
            {"body_contains": ["lamp", "query"]},
            {"body_contains": {"any_of": ["nope", "lamp"]}},
            {"body_contains": ["error", "exception"], "not": True},
            {"headers_contains": "content-type: application/json"},
            {"headers_matches": r"(?m)^content-length: \d+$"},
            {"message_equals": "OK"},
            {"url_matches": r"/__demo/echo\?q=lamp$"},
            {"status": "2xx"},
        ]),
        req("fails on body", [{"body_contains": "lamp", "not": True}]),
        req("fails on any_of", [{"body_equals": {"any_of": ["a", "b"]}}]),
        req("fails on url", [{"url_contains": "/api/"}]),
        req("404 accepted", [{"status": [404], "not": True}, {"status": "any"}],
            path="/api/products/999999"),
        req("404 message", [{"status": "4xx"}, {"message_equals": "Not Found"}],
            path="/api/products/999999"),
    ]
    series = run(scenario(shop.url, steps)).series
    assert total(series, "passes").ok == 1, total(series, "passes").messages
    assert total(series, "fails on body").messages == {"body contains 'lamp'": 1}
    assert total(series, "fails on any_of").messages == {
        "body does not equal any of 'a', 'b'": 1}
    assert total(series, "fails on url").messages == {"url does not contain '/api/'": 1}
    four = total(series, "404 accepted")
    assert four.errors == {"http_4xx": 1}
    assert four.messages == {"status 404 not in {100-403, 405-599}": 1}
    assert total(series, "404 message").ok == 1


def test_a_request_that_cannot_be_rendered_goes_on_when_asked(shop: DemoServer) -> None:
    steps: list[dict[str, Any]] = [
        {"group": {"name": "tx", "transaction": True, "on_failure": "continue", "steps": [
            {"request": {"name": "unset", "path": "/__demo/echo", "query": {"v": "${later}"}}},
            {"group": {"if": "not last_ok", "steps": [echo("after", step="after")]}},
        ]}},
        {"request": {"name": "sets later", "path": "/__demo/echo", "query": {"later": "x"},
                     "extract": [{"var": "later", "jsonpath": "$.query.later[0]"}]}},
    ]
    series = run(scenario(shop.url, steps, headers={"X-Run": "render-1"},
                          load={"users": 1, "iterations": 2})).series
    assert [g.get("step", g.get("v", g.get("later")))[0]
            for g in received(shop, "render-1")] == ["after", "x", "x", "x"]
    assert total(series, "unset").messages == {
        "variable 'later' is not set (no 'variables' entry, feeder record or extraction has "
        "given it a value yet)": 1}
    assert total(series, "tx").errors == {"other": 1}
    assert total(series, "tx").ok == 1
