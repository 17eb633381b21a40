"""Workload shapes, pacing, think time and per-user state through the real engine."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from intperf.demo import DemoServer

from .support import run, run_engine, scenario, shop_call, total

pytestmark = pytest.mark.integration


def _received_at(item: dict[str, object]) -> float:
    return datetime.fromisoformat(str(item["received_at"]).replace("Z", "+00:00")).timestamp()


@pytest.fixture
def shop(demo_shop: DemoServer) -> DemoServer:
    shop_call(demo_shop, "DELETE", "/__demo/requests")
    return demo_shop


def test_k6_stages_ramp_up_and_down(shop: DemoServer) -> None:
    sc = scenario(
        shop.url,
        [
            {
                "request": {"name": "h", "path": "/health"},
            },
            {"think": "20ms"},
        ],
        load={
            "stages": [
                {"duration": "1s", "target": 4},
                {"duration": "1s", "target": 4},
                {"duration": "1s", "target": 0},
            ]
        },
    )
    series = run_engine(sc)
    seconds = [series.seconds[s] for s in sorted(series.seconds)]
    assert sum(s.started_users for s in seconds) == 4
    assert max(s.active_users for s in seconds) == 4
    assert seconds[0].active_users <= 4 and seconds[-1].active_users <= 2
    assert total(series).failed == 0


def test_gatling_injection_counts_are_exact(shop: DemoServer) -> None:
    sc = scenario(
        shop.url,
        [{"request": {"name": "h", "path": "/health"}}],
        load={
            "injection": [
                {"at_once_users": 5},
                {"nothing_for": "200ms"},
                {"ramp_users": 20, "during": "1s"},
                {"constant_users_per_sec": 30, "during": "1s"},
            ]
        },
    )
    outcome = run(sc)
    assert total(outcome.series).ok == 55
    assert sum(s.started_users for s in outcome.series.seconds.values()) == 55


def test_pacing_spaces_iterations(shop: DemoServer) -> None:
    doc_steps = [{"request": {"name": "h", "path": "/health"}}]
    sc = scenario(shop.url, doc_steps, load={"users": 1, "iterations": 3})
    sc = sc.model_copy(update={"journeys": [sc.journeys[0].model_copy(update={"pacing": 0.2})]})
    started = time.monotonic()
    w = total(run_engine(sc))
    assert w.ok == 3
    assert time.monotonic() - started >= 0.4  # iterations start 200 ms apart


def test_think_time_between_requests(shop: DemoServer) -> None:
    sc = scenario(
        shop.url,
        [
            {"request": {"name": "a", "path": "/__demo/echo", "query": {"step": 1}}},
            {"think": "150ms"},
            {"request": {"name": "b", "path": "/__demo/echo", "query": {"step": 2}}},
        ],
    )
    assert total(run_engine(sc)).ok == 2
    got = shop_call(shop, "GET", "/__demo/requests?path=/__demo/echo")["items"]
    assert [g["query_string"] for g in got] == ["step=1", "step=2"]
    assert _received_at(got[1]) - _received_at(got[0]) >= 0.14


def test_each_user_has_its_own_cookie_jar(shop: DemoServer) -> None:
    sc = scenario(
        shop.url,
        [
            {
                "request": {
                    "name": "set",
                    "path": "/__demo/cookie/set",
                    "query": {"name": "who", "value": "u${userId}"},
                }
            },
            {"request": {"name": "echo", "path": "/__demo/echo"}},
        ],
        load={"users": 3, "iterations": 1},
    )
    assert total(run_engine(sc)).ok == 6
    got = shop_call(shop, "GET", "/__demo/requests?path=/__demo/echo")["items"]
    cookies = sorted(g["headers"]["cookie"] for g in got)
    assert cookies == ["who=u0", "who=u1", "who=u2"]
