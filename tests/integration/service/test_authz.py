"""Authorization matrix: every operation of the OpenAPI schema x {no key, bad key, viewer,
operator, admin}. No or a bad key is 401 (but for the health probes), a role below the
operation's minimum is 403, a role at or above it gets past authorization."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from service_support import API, ROLES, LiveService, finish, run_body, submit

from intperf.config import load_settings
from intperf.demo import DemoServer
from intperf.service.app import create_app

pytestmark = pytest.mark.integration

#: The least role each operation needs; None: open to anyone (probes).
MIN_ROLE: dict[tuple[str, str], str | None] = {
    ("GET", "/health"): None,
    ("GET", "/ready"): None,
    ("POST", f"{API}/load-test"): "operator",
    ("POST", f"{API}/jmeter-test"): "operator",
    ("GET", f"{API}/runs"): "viewer",
    ("GET", f"{API}/runs/{{run_id}}"): "viewer",
    ("GET", f"{API}/runs/{{run_id}}/stream"): "viewer",
    ("POST", f"{API}/runs/{{run_id}}/cancel"): "operator",
    ("GET", f"{API}/runs/{{run_id}}/summary"): "viewer",
    ("GET", f"{API}/runs/{{run_id}}/report.html"): "viewer",
    ("GET", f"{API}/runs/{{run_id}}/junit.xml"): "viewer",
    ("GET", f"{API}/runs/{{run_id}}/timeseries"): "viewer",
    ("GET", f"{API}/runs/{{run_id}}/export"): "viewer",
    ("POST", f"{API}/runs/{{run_id}}/baseline"): "operator",
    ("GET", f"{API}/runs/{{run_id}}/compare"): "viewer",
    ("GET", f"{API}/baselines"): "viewer",
    ("POST", f"{API}/imports"): "operator",
    ("POST", "/api/v1/events"): "operator",
    ("GET", "/api/v1/analytics/services"): "viewer",
    ("GET", "/api/v1/analytics/slow-queries"): "viewer",
    ("GET", "/api/v1/analytics/dead-letters"): "viewer",
    ("GET", "/api/v1/analytics/late-events"): "viewer",
    ("GET", "/api/v1/analytics/status"): "viewer",
    ("GET", "/api/v1/analytics/cache"): "viewer",
    ("GET", "/api/v1/analytics/business"): "viewer",
    ("GET", "/metrics"): "viewer",
    ("POST", "/api/v1/db/analyses"): "operator",
    ("POST", "/api/v1/cache/analyses"): "operator",
    ("GET", "/api/v1/cache/analyses"): "viewer",
    ("GET", "/api/v1/cache/analyses/{analysis_id}"): "viewer",
    ("GET", "/api/v1/cache/ttl-changes"): "viewer",
    ("GET", "/api/v1/db/analyses"): "viewer",
    ("GET", "/api/v1/db/analyses/{analysis_id}"): "viewer",
    ("GET", "/api/v1/keys"): "admin",
    ("POST", "/api/v1/keys"): "admin",
    ("DELETE", "/api/v1/keys/{key_id}"): "admin",
    ("GET", "/api/v1/schedules"): "viewer",
    ("POST", "/api/v1/schedules"): "admin",
    ("DELETE", "/api/v1/schedules/{schedule_id}"): "admin",
    ("GET", "/api/v1/audit"): "admin",
    ("GET", "/api/v1/alerts"): "viewer",
    ("GET", "/api/v1/alerts/{alert_id}"): "viewer",
    ("POST", "/api/v1/alerts/{alert_id}/ack"): "operator",
    ("GET", "/api/v1/silences"): "viewer",
    ("POST", "/api/v1/silences"): "operator",
    ("DELETE", "/api/v1/silences/{silence_id}"): "operator",
    ("GET", "/api/v1/trends"): "viewer",
    ("GET", "/api/v1/trends/scenarios"): "viewer",
    ("GET", "/api/v1/reports/daily"): "viewer",
    ("GET", "/api/v1/me"): "viewer",
    ("GET", "/api/v1/scenarios"): "viewer",
}

RANK = {role: i for i, role in enumerate(ROLES)}
CALLERS = ("no key", "bad key", *ROLES)


def schema_operations() -> list[tuple[str, str]]:
    """Every (method, path) of the application's OpenAPI schema."""
    app = create_app(load_settings(environ={}))  # no lifespan: nothing starts
    return [(method.upper(), path) for path, item in app.openapi()["paths"].items()
            for method in item if method in ("get", "post", "put", "patch", "delete")]


OPERATIONS = schema_operations()


def test_the_table_covers_every_operation(service: LiveService) -> None:
    live = httpx.get(f"{service.base_url}/openapi.json", timeout=10).json()
    served = {(m.upper(), p) for p, item in live["paths"].items() for m in item}
    assert set(OPERATIONS) == served
    assert set(MIN_ROLE) == served, {
        "missing from MIN_ROLE": served - set(MIN_ROLE),
        "not in the schema": set(MIN_ROLE) - served}


@pytest.fixture(scope="module")
def finished_run(service: LiveService, demo_shop: DemoServer) -> str:
    with service.client("operator") as c:
        run_id = submit(c, run_body(demo_shop.url, users=1, duration="1s"))
        finish(c, run_id)
        return run_id


@pytest.fixture
def admin(service: LiveService) -> Iterator[httpx.Client]:
    with service.client("admin") as c:
        yield c


def _schedule_body() -> dict[str, Any]:
    return {"name": f"authz-{secrets.token_hex(4)}", "cron": "0 3 1 1 *", "enabled": False,
            "tests": [{"name": "t", "scenario": "social-commerce", "users": 1,
                       "duration": "1s", "base_url": "http://127.0.0.1:9"}]}


def _request(method: str, path: str, run_id: str, admin: httpx.Client,
             ) -> tuple[str, dict[str, Any]]:
    """The concrete URL and request options for an operation; throwaway objects to change."""
    kwargs: dict[str, Any] = {}
    if "{key_id}" in path:
        created = admin.post("/api/v1/keys", json={"name": "throwaway", "role": "viewer"})
        assert created.status_code == 201, created.text
        path = path.replace("{key_id}", created.json()["id"])
    if "{schedule_id}" in path:
        created = admin.post("/api/v1/schedules", json=_schedule_body())
        assert created.status_code == 201, created.text
        path = path.replace("{schedule_id}", created.json()["id"])
    path = path.replace("{run_id}", run_id).replace("{analysis_id}", "no-such-analysis")
    if path.endswith("/load-test"):
        # Valid but for the target: refused with 422 after authorization, nothing runs.
        kwargs["json"] = run_body("http://127.0.0.2:9", users=1, duration="1s")
    elif path.endswith("/jmeter-test"):
        kwargs["json"] = {"testPlan": "no-such-plan"}  # refused with 422, nothing runs
    elif path == "/api/v1/events":
        kwargs["json"] = [{"kind": "BUSINESS", "service": "authz", "name": "order_created",
                           "event_time": int(time.time() * 1000)}]
    elif path == "/api/v1/db/analyses" and method == "POST":
        # A target outside the allowed ones (TEST-NET-1): 422 after authorization, no traffic.
        kwargs["json"] = {"dsn": "postgresql://authz@192.0.2.1:5432/none"}
    elif path == "/api/v1/keys" and method == "POST":
        kwargs["json"] = {"name": "throwaway", "role": "viewer"}
    elif path == "/api/v1/schedules" and method == "POST":
        kwargs["json"] = _schedule_body()
    return path, kwargs


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_authorization(service: LiveService, finished_run: str, admin: httpx.Client,
                       method: str, path: str, caller: str) -> None:
    assert (method, path) in MIN_ROLE, f"{method} {path} is missing from MIN_ROLE"
    needed = MIN_ROLE[(method, path)]
    url, kwargs = _request(method, path, finished_run, admin)
    headers = {}
    if caller == "bad key":
        headers["X-API-Key"] = "ipk_" + secrets.token_urlsafe(32)
    elif caller != "no key":
        headers["X-API-Key"] = service.keys[caller]
    with httpx.Client(base_url=service.base_url, timeout=30) as c:
        r = c.request(method, url, headers=headers, **kwargs)
    if needed is None:
        assert r.status_code == 200, r.text
    elif caller in ("no key", "bad key"):
        assert r.status_code == 401, r.text
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["error"]
    elif RANK[caller] < RANK[needed]:
        assert r.status_code == 403, r.text
        assert needed in r.json()["error"]
    else:
        assert r.status_code not in (401, 403), r.text
        assert r.status_code < 500, r.text


def test_bearer_header_and_revoked_keys(service: LiveService, admin: httpx.Client) -> None:
    created = admin.post("/api/v1/keys", json={"name": "short-lived", "role": "viewer"}).json()
    bearer = {"Authorization": f"Bearer {created['key']}"}
    with httpx.Client(base_url=service.base_url, timeout=30) as c:
        assert c.get(f"{API}/runs", headers=bearer).status_code == 200
        assert c.get(f"{API}/runs", headers={"Authorization": "Basic abc"}).status_code == 401
        assert admin.delete(f"/api/v1/keys/{created['id']}").status_code == 204
        assert c.get(f"{API}/runs", headers=bearer).status_code == 401
    listed = {k["id"]: k for k in admin.get("/api/v1/keys").json()}
    assert listed[created["id"]]["revokedAt"] is not None
    assert all("key" not in k for k in listed.values())


def test_authorization_comes_before_validation(service: LiveService) -> None:
    """An anonymous or under-privileged caller learns nothing about what a valid body is."""
    with httpx.Client(base_url=service.base_url, timeout=30) as c:
        for body in ({}, {"users": "many"}):
            assert c.post(f"{API}/load-test", json=body).status_code == 401
            r = c.post(f"{API}/load-test", json=body,
                       headers={"X-API-Key": service.keys["viewer"]})
            assert r.status_code == 403
            r = c.post("/api/v1/keys", json=body, headers={"X-API-Key": service.keys["operator"]})
            assert r.status_code == 403
