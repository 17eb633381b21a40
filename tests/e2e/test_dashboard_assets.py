"""The dashboard over plain HTTP (httpx, no browser): the page and assets need no key and come
with the right content types, nothing refers to another origin, and the dashboard's own API
(``/api/v1/me``, ``/api/v1/scenarios``) answers per role."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from intperf.service.dashboard import vendor_dir

pytestmark = pytest.mark.integration

STATIC = Path(__file__).resolve().parents[2] / "src/intperf/service/dashboard/static"
ROLES = ("viewer", "operator", "admin")

#: Places where a page or module loads something: attributes, imports, CSS urls, fetches.
REFERENCE = re.compile(
    r"""(?:\b(?:src|href|action)\s*=\s*["']?|\bimport\s*\(\s*["'`]|\bfrom\s+["']|@import\s+["']?|"""
    r"""\burl\(\s*["']?|\bfetch\(\s*["'`]|\bnew\s+URL\(\s*["'`])\s*((?:[a-z][a-z0-9+.-]*:)?//[^"'`\s)]*)""",
    re.IGNORECASE)
ANY_URL = re.compile(r"""[a-z][a-z0-9+.-]*://[^\s"'`)<>]*""", re.IGNORECASE)


def _assets() -> list[str]:
    own = sorted(str(p.relative_to(STATIC)) for p in STATIC.rglob("*")
                 if p.is_file() and p.suffix in (".js", ".css") and "vendor" not in p.parts)
    return own


def test_page_is_served_without_a_key(dashboard_service: Any) -> None:
    with httpx.Client(base_url=dashboard_service.base_url) as c:
        for path in ("/dashboard", "/dashboard/"):
            r = c.get(path)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("text/html")
            assert "default-src 'self'" in r.headers["content-security-policy"]
            assert '<script type="module" src="/dashboard/static/app.js">' in r.text
            assert "ip_" not in r.text.replace('placeholder="ip_..."', "")  # no key, no data
        # The JSON API itself still needs a key.
        assert c.get("/api/v1/me").status_code == 401
        assert c.get("/api/v1/scenarios").status_code == 401


@pytest.mark.parametrize(("path", "content_type"), [
    ("app.js", "text/javascript"), ("views/run.js", "text/javascript"),
    ("dashboard.css", "text/css")])
def test_assets_have_their_content_types(dashboard_service: Any, path: str,
                                         content_type: str) -> None:
    with httpx.Client(base_url=dashboard_service.base_url) as c:
        r = c.get(f"/dashboard/static/{path}")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].split(";")[0] == content_type
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.content == (STATIC / path).read_bytes()


def test_chart_library_is_served_from_the_npm_install(dashboard_service: Any) -> None:
    if vendor_dir() is None:
        pytest.skip("uPlot is not installed (scripts/setup runs npm ci): no charts")
    with httpx.Client(base_url=dashboard_service.base_url) as c:
        js = c.get("/dashboard/static/vendor/uPlot.esm.js")
        assert js.status_code == 200
        assert js.headers["content-type"].startswith("text/javascript")
        assert "export { uPlot as default }" in js.text
        css = c.get("/dashboard/static/vendor/uPlot.min.css")
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("path", [
    "../pages.py", "..%2fpages.py", "vendor/LICENSE", "vendor/../app.js.map", "nope.js",
    "views", "../templates/dashboard.html.j2"])
def test_nothing_outside_the_assets_is_served(dashboard_service: Any, path: str) -> None:
    with httpx.Client(base_url=dashboard_service.base_url) as c:
        r = c.get(f"/dashboard/static/{path}")
        assert r.status_code == 404, (path, r.status_code, r.text[:200])


def test_no_asset_refers_to_another_origin(dashboard_service: Any) -> None:
    served: dict[str, str] = {}
    with httpx.Client(base_url=dashboard_service.base_url) as c:
        served["/dashboard"] = c.get("/dashboard").text
        for name in _assets():
            r = c.get(f"/dashboard/static/{name}")
            assert r.status_code == 200, name
            served[name] = r.text
        if vendor_dir() is not None:
            for name in ("vendor/uPlot.esm.js", "vendor/uPlot.min.css"):
                served[name] = c.get(f"/dashboard/static/{name}").text
    assert len(served) > 10
    for name, text in served.items():
        # No asset loads anything from another origin (a CDN, fonts, analytics).
        assert not REFERENCE.findall(text), (name, REFERENCE.findall(text))
        if not name.startswith("vendor/"):
            # Our own code names no URL at all but loopback examples and bare schemes
            # ('http://' in a validation message); the library's URLs are in its comments.
            for url in ANY_URL.findall(text):
                host = url.split("://", 1)[1].split("/", 1)[0]
                assert host in ("", "127.0.0.1", "localhost") or host.startswith("127.0.0.1:"), \
                    (name, url)


@pytest.mark.parametrize("role", ROLES)
def test_me_names_the_key_and_its_role(dashboard_service: Any, role: str) -> None:
    with dashboard_service.client(role) as c:
        r = c.get("/api/v1/me")
        assert r.status_code == 200, r.text
        assert r.json() == {"name": f"test-{role}", "role": role}
    with httpx.Client(base_url=dashboard_service.base_url,
                      headers={"Authorization": f"Bearer {dashboard_service.keys[role]}"}) as c:
        assert c.get("/api/v1/me").json()["role"] == role


def test_me_refuses_an_unknown_key(dashboard_service: Any) -> None:
    with httpx.Client(base_url=dashboard_service.base_url,
                      headers={"X-API-Key": "ip_" + "x" * 43}) as c:
        r = c.get("/api/v1/me")
        assert r.status_code == 401
        assert r.json()["error"].startswith("the API key is not valid")


def test_scenarios_lists_bundled_and_directory_scenarios(dashboard_service: Any) -> None:
    with dashboard_service.client("viewer") as c:
        r = c.get("/api/v1/scenarios")
    assert r.status_code == 200, r.text
    body = r.json()
    by_name = {s["name"]: s for s in body["scenarios"]}
    bundled = by_name["social-commerce"]
    assert bundled["source"] == "bundled"
    assert bundled["error"] is None
    assert bundled["journeys"]
    assert bundled["load"]["shape"] in ("closed", "stages", "open", "iterations", "populations")
    mine = by_name["catalogue"]
    assert mine == {
        "name": "catalogue", "title": "catalogue", "source": "directory",
        "description": "browse the products", "baseUrl": "http://127.0.0.1:9",
        "journeys": ["browse"], "criteria": [], "populations": False,
        "load": {"shape": "closed", "users": 2, "rampUpS": 0.0, "durationS": 5.0},
        "error": None}
    broken = by_name["broken"]
    assert broken["error"] == "journeys: needs at least 1 item(s), got 0", broken
    # usable ones first
    names = [s["name"] for s in body["scenarios"]]
    assert names.index("broken") > names.index("social-commerce")
    assert body["aliases"] == {"SOCIAL_COMMERCE_FULL": "social-commerce"}
    assert body["limits"] == {"maxUsers": 50, "maxDurationS": 60.0, "maxRate": 5000.0}
    assert body["defaultCriteria"]
    # What the list offers is what a submission accepts.
    with dashboard_service.client("operator") as c:
        r = c.post("/api/v1/performance/load-test", json={
            "scenario": "catalogue", "users": 0, "baseUrl": "http://127.0.0.1:9"})
        assert r.status_code == 422
        assert r.json()["field"] == "users"
