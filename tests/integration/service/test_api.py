"""The service's HTTP API end to end, on SQLite and on PostgreSQL: runs against the demo shop
on 127.0.0.1, live events, results, reports, history, cancel, baselines and comparisons, and
the refusals (validation, limits, body size, rate, allowlist)."""

from __future__ import annotations

import secrets
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from service_support import (
    API,
    FINAL,
    LiveService,
    MakeService,
    events,
    finish,
    run_body,
    submit,
)

from intperf.demo import DemoServer

pytestmark = pytest.mark.integration


def probe_scenario(name: str) -> dict[str, Any]:
    """An inline scenario: one user asking the shop's /health every 50 ms."""
    return {"name": name, "journeys": [{"name": "ping", "think_time": "50ms", "steps": [
        {"request": {"name": "health", "path": "/health"}}]}]}


@pytest.fixture(scope="module")
def native_run(service: LiveService, demo_shop: DemoServer,
               ) -> tuple[str, list[tuple[str, dict[str, Any]]], httpx.Response]:
    """One small NATIVE run, followed on its event stream to the end."""
    with service.client("operator") as c:
        r = c.post(f"{API}/load-test", json=run_body(demo_shop.url))
        assert r.status_code == 202, r.text
        run_id = r.json()["runId"]
        return run_id, events(c, run_id), r


@pytest.fixture
def viewer(service: LiveService) -> Iterator[httpx.Client]:
    with service.client("viewer") as c:
        yield c


@pytest.fixture
def operator(service: LiveService) -> Iterator[httpx.Client]:
    with service.client("operator") as c:
        yield c


def test_health_and_ready_need_no_key(service: LiveService) -> None:
    with service.client(None) as c:
        assert c.get("/health").json() == {"status": "ok"}
        r = c.get("/ready")
        assert r.status_code == 200
        assert r.json()["status"] == "ready"


def test_submit_answers_202_and_streams_progress_then_end(
        native_run: tuple[str, list[tuple[str, dict[str, Any]]], httpx.Response]) -> None:
    run_id, evs, submitted = native_run
    body = submitted.json()
    assert submitted.headers["location"] == f"{API}/runs/{run_id}"
    assert body["status"] == "queued"
    assert body["links"]["stream"] == f"{API}/runs/{run_id}/stream"
    names = [name for name, _ in evs]
    assert names[-1] == "end"
    assert "progress" in names[:-1], names
    assert names.count("end") == 1
    progress = next(data for name, data in evs if name == "progress")
    assert progress["live"]["requests"] >= 0
    assert evs[-1][1]["status"] in ("passed", "failed")


def test_run_detail_summary_and_reports(native_run: tuple[str, Any, Any],
                                        viewer: httpx.Client) -> None:
    run_id = native_run[0]
    detail = viewer.get(f"{API}/runs/{run_id}").json()
    assert detail["runId"] == run_id
    assert detail["status"] in ("passed", "failed")
    assert detail["verdict"] in ("passed", "failed")
    assert detail["scenario"] == "social-commerce"
    assert detail["testType"] == "NATIVE"
    assert detail["requestedBy"] == "test-operator"
    assert isinstance(detail["criteria"], list)
    assert detail["criteria"]
    assert all({"criterion", "passed"} <= set(c) for c in detail["criteria"])
    assert detail["live"] is None

    summary = viewer.get(f"{API}/runs/{run_id}/summary")
    assert summary.status_code == 200
    assert summary.json()["global"]["requests"] > 0

    html = viewer.get(f"{API}/runs/{run_id}/report.html")
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert run_id in html.text

    junit = viewer.get(f"{API}/runs/{run_id}/junit.xml")
    assert junit.status_code == 200
    root = ET.fromstring(junit.content)
    assert root.tag in ("testsuites", "testsuite")
    assert root.iter("testcase")


def test_timeseries_narrows_by_interval_and_name(native_run: tuple[str, Any, Any],
                                                viewer: httpx.Client) -> None:
    run_id = native_run[0]
    full = viewer.get(f"{API}/runs/{run_id}/timeseries").json()
    points = full["points"]
    assert len(points) >= 2
    assert all("requests" in p for p in points)
    assert sum(p["requests"] for p in points) == full["interval"]["requests"] > 0
    seconds = [p["t"] for p in points]
    assert seconds == sorted(seconds)

    first = seconds[0]
    one = viewer.get(f"{API}/runs/{run_id}/timeseries",
                     params={"from": first, "to": first}).json()
    assert [p["t"] for p in one["points"]] == [first]
    assert one["interval"]["requests"] == points[0]["requests"]
    later = viewer.get(f"{API}/runs/{run_id}/timeseries", params={"from": first + 1}).json()
    assert [p["t"] for p in later["points"]] == seconds[1:]

    search = viewer.get(f"{API}/runs/{run_id}/timeseries", params={"name": "search"}).json()
    assert search["name"] == "search"
    searched = search["interval"]["requests"]
    assert 0 < searched < full["interval"]["requests"]
    assert sum(p["requests"] for p in search["points"]) == searched
    by_name = {e["name"]: e for e in viewer.get(f"{API}/runs/{run_id}/summary").json()["requests"]}
    assert by_name["search"]["requests"] == searched

    nothing = viewer.get(f"{API}/runs/{run_id}/timeseries",
                         params={"name": "no such request"}).json()
    assert nothing["interval"]["requests"] == 0


def test_gatling_run(operator: httpx.Client, demo_shop: DemoServer) -> None:
    run_id = submit(operator, run_body(demo_shop.url, testType="GATLING", rampUp="1s",
                                       duration="1s"))
    detail = finish(operator, run_id)
    assert detail["testType"] == "GATLING"
    assert detail["status"] in ("passed", "failed"), detail
    summary = operator.get(f"{API}/runs/{run_id}/summary").json()
    assert summary["global"]["requests"] > 0


def test_list_filters_and_pages(operator: httpx.Client, demo_shop: DemoServer) -> None:
    name = f"probe-{secrets.token_hex(4)}"
    passing = submit(operator, run_body(demo_shop.url, scenario=probe_scenario(name),
                                        users=1, duration="1s",
                                        criteria=["error_rate < 50%"]))
    failing = submit(operator, run_body(demo_shop.url, scenario=probe_scenario(name),
                                        users=1, duration="1s",
                                        criteria=["rps > 1000000"]))
    assert finish(operator, passing)["status"] == "passed"
    assert finish(operator, failing)["status"] == "failed"

    def listed(**params: Any) -> dict[str, Any]:
        r = operator.get(f"{API}/runs", params=params)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    both = listed(scenario=name)
    assert both["total"] == 2
    assert [i["runId"] for i in both["items"]] == [failing, passing]  # newest first
    assert all(i["scenario"] == name for i in both["items"])
    assert [i["runId"] for i in listed(scenario=name, status="passed")["items"]] == [passing]
    assert [i["runId"] for i in listed(scenario=name, status="failed")["items"]] == [failing]
    assert listed(scenario=name, status="cancelled") == {
        "items": [], "total": 0, "limit": 50, "offset": 0}

    first = listed(scenario=name, limit=1, offset=0)
    second = listed(scenario=name, limit=1, offset=1)
    assert (first["total"], first["limit"], first["offset"]) == (2, 1, 0)
    assert (second["total"], second["limit"], second["offset"]) == (2, 1, 1)
    assert [i["runId"] for i in first["items"] + second["items"]] == [failing, passing]
    assert listed(scenario=name, limit=1, offset=2)["items"] == []

    everything = listed(limit=200)
    assert everything["total"] >= 2
    assert {passing, failing} <= {i["runId"] for i in everything["items"]}
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"status": "sleeping"}):
        r = operator.get(f"{API}/runs", params=bad)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["field"] == next(iter(bad))


def test_cancel_keeps_the_flushed_seconds(operator: httpx.Client,
                                          demo_shop: DemoServer) -> None:
    run_id = submit(operator, run_body(demo_shop.url, duration="30s"))
    first = events(operator, run_id, stop_after="progress", timeout=30)
    assert first[-1][0] == "progress"
    r = operator.post(f"{API}/runs/{run_id}/cancel")
    assert r.status_code == 202, r.text
    assert r.json() == {"runId": run_id, "status": "cancelling"}
    detail = finish(operator, run_id, timeout=30)
    assert detail["status"] == "cancelled"
    assert detail["endedAt"] is not None
    points = operator.get(f"{API}/runs/{run_id}/timeseries").json()["points"]
    assert points
    assert sum(p["requests"] for p in points) > 0
    again = operator.post(f"{API}/runs/{run_id}/cancel")
    assert again.status_code == 409
    assert again.json()["field"] == "run_id"


def test_compare_with_baseline_reports_a_latency_regression(
        operator: httpx.Client, demo_shop: DemoServer) -> None:
    shop = httpx.Client(base_url=demo_shop.url, timeout=10)
    body = run_body(demo_shop.url, duration="6s")
    run_a = submit(operator, body)
    run_b = submit(operator, body)
    finish(operator, run_a)
    finish(operator, run_b)

    mark = operator.post(f"{API}/runs/{run_a}/baseline")
    assert mark.status_code == 200, mark.text
    assert mark.json() == {"scenario": "social-commerce", "baseline": run_a}
    assert operator.get(f"{API}/runs/{run_a}").json()["isBaseline"] is True
    baselines = operator.get(f"{API}/baselines").json()
    assert any(b.get("run_id", b.get("runId")) == run_a for b in baselines), baselines

    same = operator.get(f"{API}/runs/{run_b}/compare", params={"with": run_a})
    assert same.status_code == 200, same.text
    assert same.json()["with"] == run_a

    original = shop.get("/__demo/config").json()
    try:
        assert shop.post("/__demo/config", json={"latency_ms": 30}).status_code == 200
        slow = submit(operator, body)
        finish(operator, slow)
    finally:
        shop.post("/__demo/config", json={"latency_ms": original.get("latency_ms", 0)})
        shop.close()

    for other in ("baseline", run_a):
        r = operator.get(f"{API}/runs/{slow}/compare", params={"with": other})
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["runId"] == slow
        assert result["with"] == run_a
        metrics = result["global"]["metrics"]
        assert metrics["p50"]["verdict"] == "regressed", metrics["p50"]
        assert metrics["p95"]["verdict"] == "regressed", metrics["p95"]
        assert {"scope": "global", "metric": "p50"} in result["regressions"]


def test_compare_without_a_baseline_is_404_naming_with(operator: httpx.Client,
                                                        demo_shop: DemoServer) -> None:
    name = f"probe-{secrets.token_hex(4)}"
    run_id = submit(operator, run_body(demo_shop.url, scenario=probe_scenario(name), users=1,
                                       duration="1s"))
    finish(operator, run_id)
    r = operator.get(f"{API}/runs/{run_id}/compare")
    assert r.status_code == 404
    assert r.json()["field"] == "with"
    r = operator.get(f"{API}/runs/{run_id}/compare", params={"with": "nosuchrun"})
    assert r.status_code == 404
    assert "nosuchrun" in r.json()["error"]


@pytest.mark.parametrize(("method", "suffix"), [
    ("GET", ""), ("GET", "/summary"), ("GET", "/report.html"), ("GET", "/junit.xml"),
    ("GET", "/timeseries"), ("GET", "/stream"), ("GET", "/compare"), ("POST", "/cancel"),
    ("POST", "/baseline"),
])
def test_unknown_run_is_404(operator: httpx.Client, method: str, suffix: str) -> None:
    r = operator.request(method, f"{API}/runs/nosuchrun{suffix}")
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["field"] == "run_id"
    assert "nosuchrun" in body["error"]


@pytest.mark.parametrize(("change", "field", "mentions"), [
    ({"users": 0}, "users", None),
    ({"users": 51}, "users", "50"),
    ({"scenario": "no-such-scenario"}, "scenario", "no-such-scenario"),
    ({"scenario": {"name": "inline", "feeders": {"u": {"file": "/etc/passwd"}},
                   "journeys": [{"name": "j", "steps": [{"request": {"path": "/"}}]}]}},
     "scenario.feeders", "feeders"),
    ({"duration": "soon"}, "duration", None),
    ({"duration": "61s"}, "duration", "60"),
    ({"testType": "LOCUST"}, "testType", None),
    ({"surprise": True}, "surprise", None),
    ({"baseUrl": "ftp://127.0.0.1/"}, "baseUrl", None),
    ({"criteria": ["p99(response_time) < 500ms", "p99(latency) <"]}, "criteria",
     "criterion 2"),
    ({"criteria": [""]}, "criteria[0]", None),
])
def test_bad_submission_is_422_naming_the_field(
        operator: httpx.Client, demo_shop: DemoServer, change: dict[str, Any], field: str,
        mentions: str | None) -> None:
    before = operator.get(f"{API}/runs", params={"limit": 1}).json()["total"]
    r = operator.post(f"{API}/load-test", json=run_body(demo_shop.url, **change))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == field, body
    if mentions is not None:
        assert mentions in body["error"], body
    assert operator.get(f"{API}/runs", params={"limit": 1}).json()["total"] == before


def test_body_not_json_is_422(operator: httpx.Client) -> None:
    r = operator.post(f"{API}/load-test", content=b"{not json",
                      headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]


def test_body_over_the_limit_is_413_json(operator: httpx.Client,
                                         demo_shop: DemoServer) -> None:
    big = run_body(demo_shop.url, name="x" * 5000)
    r = operator.post(f"{API}/load-test", json=big)
    assert r.status_code == 413, r.text
    assert r.json()["field"] == "body"
    assert "4096" in r.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while streaming
        yield b'{"scenario": "social-commerce", "name": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    r = operator.post(f"{API}/load-test", content=chunks(),
                      headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["field"] == "body"


def test_third_submission_in_a_minute_is_429(make_service: MakeService,
                                              demo_shop: DemoServer) -> None:
    limited = make_service(**{"submissions-per-minute": 2})
    with limited.client("operator") as c:
        body = run_body(demo_shop.url, users=1, duration="1s")
        runs = [submit(c, body), submit(c, body)]
        r = c.post(f"{API}/load-test", json=body)
        assert r.status_code == 429, r.text
        assert "too many submissions" in r.json()["error"]
        assert c.get(f"{API}/runs").json()["total"] == 2
        with limited.client("admin") as other:  # the limit is per key
            runs.append(submit(other, body))
        for run_id in runs:
            assert finish(c, run_id)["status"] in FINAL


def test_target_outside_the_allowlist_is_refused_before_any_connection(
        operator: httpx.Client) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.2", 0))
        listener.listen(8)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        before = operator.get(f"{API}/runs", params={"limit": 1}).json()["total"]
        for body in (run_body(f"http://127.0.0.2:{port}"),
                     run_body("http://127.0.0.1:1",
                              scenario=probe_scenario("elsewhere")
                              | {"base_url": f"http://127.0.0.2:{port}"},
                              baseUrl=None)):
            r = operator.post(f"{API}/load-test", json=body)
            assert r.status_code == 422, r.text
            assert "127.0.0.2" in r.json()["error"]
            assert r.json()["field"] == "baseUrl"
        assert operator.get(f"{API}/runs", params={"limit": 1}).json()["total"] == before
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_nul_characters_are_refused_where_they_appear(service: LiveService) -> None:
    with service.client("admin") as c:
        r = c.get(f"{API}/runs", params={"scenario": "a\x00b"})
        assert r.status_code == 422 and r.json()["field"] == "query"
        r = c.get(f"{API}/runs/abc%00def")
        assert r.status_code == 422 and r.json()["field"] == "path"
        r = c.post(f"{API}/load-test", content=b'{"scenario": "x\\u0000y"}',
                   headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["field"] == "body"
