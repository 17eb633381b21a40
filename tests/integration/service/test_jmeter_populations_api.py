"""``POST /api/v1/performance/jmeter-test``: each thread-group override reaches its own
population (users and duration per group, not one merged population)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from service_support import API, LiveService, MakeService, finish

from intperf.demo import DemoServer

pytestmark = pytest.mark.integration

PLANS = Path(__file__).parents[3] / "load-testing"


@pytest.fixture(scope="module")
def service(make_service: MakeService, tmp_path_factory: pytest.TempPathFactory,
            ) -> LiveService:
    plans = tmp_path_factory.mktemp("plans")
    shutil.copytree(PLANS, plans, dirs_exist_ok=True)
    return make_service(extra_env={"INTPERF_INTPERF__TEST_PLAN_DIR": str(plans)})


def test_overrides_reach_their_population(service: LiveService, demo_shop: DemoServer) -> None:
    body = {"testPlan": "jmeter-test-plan", "properties": {"ramp": "0"},
            "baseUrl": demo_shop.url,
            "threadGroups": [{"name": "ProductSearch", "users": 3, "duration": "2s"},
                             {"name": "OrderCreation", "users": 1, "duration": "3s"},
                             {"name": "PaymentProcessing", "users": 1, "duration": "1s"}]}
    with service.client("operator") as c:
        r = c.post(f"{API}/jmeter-test", json=body)
        assert r.status_code == 202, r.text
        detail = finish(c, r.json()["runId"])
        summary = c.get(f"{API}/runs/{detail['runId']}/summary").json()
    assert summary["users"]["peak_active"] == 5  # 3 + 1 + 1, all starting at once
    assert summary["run"]["model"] == "closed"
    assert 2.9 <= summary["run"]["duration_s"] <= 3.5  # the longest population: 3 s
    ts = summary["timeseries"]
    active = dict(zip(ts["t"], ts["active_users"], strict=True))
    # The most users active in each second: PaymentProcessing ends after 1 s, ProductSearch
    # after 2 s, OrderCreation after 3 s.
    assert (active[0], active[1], active[2]) == (5, 5, 4)
    assert active.get(3, 1) <= 1
