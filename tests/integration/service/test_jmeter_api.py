"""``POST /api/v1/performance/jmeter-test``: a plan of the test-plan directory, its thread
groups overridden by name, run by the service like any other run (SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from service_support import API, LiveService, MakeService, finish

from intperf.demo import DemoServer

pytestmark = pytest.mark.integration

PLANS = Path(__file__).parents[3] / "load-testing"
URL = f"{API}/jmeter-test"
GROUPS = ("ProductSearch", "OrderCreation", "PaymentProcessing")


@pytest.fixture(scope="module")
def service(make_service: MakeService, tmp_path_factory: pytest.TempPathFactory,
            ) -> LiveService:
    """The service with a test-plan directory holding the reference plan and its data."""
    plans = tmp_path_factory.mktemp("plans")
    shutil.copytree(PLANS, plans, dirs_exist_ok=True)
    shutil.copy(plans / "jmeter-test-plan.jmx", plans / "comprehensive-load-test.jmx")
    return make_service(extra_env={"INTPERF_INTPERF__TEST_PLAN_DIR": str(plans)})


def _body(base_url: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "testPlan": "comprehensive-load-test",
        "threadGroups": [{"name": g, "users": 2, "duration": "2s"} for g in GROUPS],
        "properties": {"ramp": "0"}, "baseUrl": base_url}
    body.update(overrides)
    return body


def test_jmeter_test_runs_the_plan_with_overrides(service: LiveService,
                                                  demo_shop: DemoServer) -> None:
    with service.client("operator") as c:
        r = c.post(URL, json=_body(demo_shop.url))
        assert r.status_code == 202, r.text
        run_id = r.json()["runId"]
        assert r.headers["location"] == f"{API}/runs/{run_id}"
        detail = finish(c, run_id)
        assert detail["status"] in ("passed", "failed"), detail
        assert detail["scenario"] == "comprehensive-load-test"
        assert detail["testType"] == "JMETER"
        summary = c.get(f"{API}/runs/{run_id}/summary").json()
    assert summary["global"]["requests"] > 0
    counts = {r["name"]: r["requests"] for r in summary["requests"]}
    # One request of each thread group's journey.
    for name in ("search products", "create order", "pay"):
        assert counts.get(name, 0) > 0, counts
    assert summary["users"]["peak_active"] <= 6
    assert summary["run"]["options"]["testPlan"] == "comprehensive-load-test"


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"testPlan": "../etc/passwd"}, "testPlan", "not a test plan name"),
    ({"testPlan": "sub/plan"}, "testPlan", "not a test plan name"),
    ({"testPlan": "nope"}, "testPlan", "jmeter-test-plan"),
    ({"threadGroups": [{"name": "ProductSearch", "users": 1},
                       {"name": "Checkout", "users": 1}]},
     "threadGroups[1].name", "OrderCreation"),
    ({"threadGroups": [{"name": "ProductSearch", "users": 1000, "duration": "2s"}]},
     "users", "limit"),
    ({"threadGroups": [{"name": "ProductSearch", "users": 2, "duration": "1h"}]},
     "duration", "limit"),
    ({"threadGroups": [{"name": "ProductSearch", "users": 0}]}, "threadGroups[0].users", ""),
    ({"baseUrl": "http://127.0.0.2:9"}, "baseUrl", "allow"),
    ({"properties": {"ramp": 3}}, "properties.ramp", ""),
])
def test_jmeter_test_refusals(service: LiveService, change: dict[str, Any], field: str,
                              words: str) -> None:
    with service.client("operator") as c:
        r = c.post(URL, json=_body("http://127.0.0.1:9", **change))
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field, r.json()
    assert words in r.json()["error"]


def test_jmeter_test_needs_an_operator(service: LiveService) -> None:
    with service.client("viewer") as c:
        assert c.post(URL, json=_body("http://127.0.0.1:9")).status_code == 403
