"""If/Transaction controllers and every Response Assertion form, run against the demo shop."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from intperf.demo import DemoServer
from intperf.loadtest.jmeter import parse_jmx, translate_plan
from intperf.loadtest.scenario import validate_scenario

from .loadtest.support import run, shop_call, total

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "fixtures" / "jmx"


def _run(shop: DemoServer, name: str, run_id: str, tmp: Path) -> tuple[Any, list[str], Any]:
    shop_call(shop, "POST", "/__demo/config",
              {"latency_ms": 0, "latency_jitter_ms": 0, "error_rate": 0})
    parts = urlsplit(shop.url)
    plan = parse_jmx(FIXTURES / name,
                     {"host": parts.hostname or "", "port": str(parts.port), "run": run_id})
    result = translate_plan(plan, data_dir=tmp)
    sc = validate_scenario(result.scenario, source=name, base_dir=plan.base_dir)
    return run(sc).series, result.warnings, result


def _received(shop: DemoServer, run_id: str) -> list[dict[str, Any]]:
    items = shop_call(shop, "GET", "/__demo/requests?limit=1000")["items"]
    return [i for i in items if i["headers"].get("x-run") == run_id]


def test_if_and_transaction_controllers(demo_shop: DemoServer, tmp_path: Path) -> None:
    series, _, result = _run(demo_shop, "conditions.jmx", "jmx-cond-1", tmp_path)
    got = [(i["path"], parse_qs(i["query_string"])) for i in _received(demo_shop, "jmx-cond-1")]
    marks = [q.get("branch", q.get("status", q.get("step", [path])))[0] for path, q in got]
    assert marks == [
        "PAID",  # get status
        "paid",  # "${status}" == "PAID": true branch; the "!=" one is skipped
        "count",  # ${count} > 0 && (...), interpreted as a variable expression
        "vars",  # vars.get("status") eq "PAID" and not (...)
        "/api/products/999999",  # fails (404) and the thread goes on (on_sample_error)
        "recover",  # !${JMeterThread.last_sample_ok}: the previous sample failed
        "ok-again",  # "${JMeterThread.last_sample_ok}" == "true": recovered succeeded
        "VOID",  # evaluateAll: status becomes VOID, the rest of the controller is skipped
        "1", "2", "3", "4",  # transactions
        "/api/products/999999", "5",  # the failing transaction runs both samplers
        "done",
    ]
    assert [u.path for u in result.unsupported] == ["Conditions / Branches / groovy"]
    checkout = total(series, "checkout")
    assert checkout.ok == 1 and checkout.service.max < 250  # the 300 ms timer is left out
    timed = total(series, "checkout with timers")
    assert timed.ok == 1 and timed.service.min >= 290  # includeTimers: the timer counts
    failing = total(series, "failing")
    assert failing.errors == {"http_4xx": 1}
    assert failing.messages == {"1 of 2 requests failed": 1}
    assert total(series, "missing").failed == 1
    assert total(series, "tx missing").failed == 1
    for skipped in ("unpaid", "js", "never", "after void", "groovy"):
        assert skipped not in series.request_names


def test_every_response_assertion_form(demo_shop: DemoServer, tmp_path: Path) -> None:
    series, warnings, result = _run(demo_shop, "response_assertions.jmx", "jmx-ra-1", tmp_path)
    names = [r["request"]["name"] for r in result.scenario["journeys"][0]["steps"]]
    assert len(names) == 32
    outcome = {n: total(series, n) for n in names}
    wrong = {n: (w.ok, w.failed, w.messages) for n, w in outcome.items()
             if (w.ok, w.failed) != ((1, 0) if n.startswith("pass") else (0, 1))}
    assert wrong == {}
    # every echo sampler reached the shop: failures did not end the iteration
    echoed = [i for i in _received(demo_shop, "jmx-ra-1") if i["path"] == "/__demo/echo"]
    assert len(echoed) == sum(1 for r in result.scenario["journeys"][0]["steps"]
                              if r["request"]["path"] == "/__demo/echo")
    messages = {n: next(iter(w.messages), None) for n, w in outcome.items()}
    assert messages["fail body substring"] == "body does not contain 'chair'"
    assert messages["fail body matches"] == "body does not fully match 'lamp'"
    assert messages["fail body not contains"] == "body matches 'la.p'"
    assert messages["fail body and"] == "body does not contain 'chair'"
    assert messages["fail body not or"] == "body contains all of 'lamp', 'query'"
    assert messages["fail code equals"] == "status 200 not in {201}"
    assert messages["fail 404 body"] == "HTTP 404"
    assert messages["fail message equals"] == "message does not equal 'Created'"
    assert messages["fail url equals"] == "url does not equal 'http://example.org/'"
    assert [u.tag for u in result.unsupported] == ["ResponseAssertion"]
    assert any("standard reason phrase" in w for w in warnings)
