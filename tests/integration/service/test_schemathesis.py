"""Schemathesis against the live service's /openapi.json with an admin key: no 5xx anywhere.

Fuzzing must never send load anywhere. Every generated ``POST /load-test`` body has its
``baseUrl`` replaced by a listener on 127.0.0.2, outside the allowlist (127.0.0.1/32) and an
IP literal (no DNS lookup): the route must refuse it with 422 before creating a run, so the
fuzzer exercises validation, limits and scenario parsing without starting one. The fixture
checks that refusal first; the test then checks that no run exists and nothing connected.
Generated schedules are made disabled so none fires during the test.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import BaseSchema
from service_support import API, LiveService, MakeService, run_body

from intperf.config import load_settings
from intperf.service.app import create_app

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 15


@pytest.fixture(scope="module")
def refused_target() -> Iterator[tuple[socket.socket, str]]:
    """A listener on 127.0.0.2 (outside the allowlist) and its URL: it must accept nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.2", 0))
        listener.listen(16)
        listener.setblocking(False)
        yield listener, f"http://127.0.0.2:{listener.getsockname()[1]}"


@pytest.fixture(scope="module")
def fuzzed_service(make_service: MakeService,
                   refused_target: tuple[socket.socket, str]) -> LiveService:
    # A generous submission rate so fuzzed submissions reach validation, not the 429.
    svc = make_service(**{"submissions-per-minute": 100_000})
    with svc.client("admin") as c:
        r = c.post(f"{API}/load-test", json=run_body(refused_target[1]))
        assert r.status_code == 422, r.text  # what the fuzzing relies on
        assert "127.0.0.2" in r.json()["error"]
        assert c.get(f"{API}/runs").json()["total"] == 0
    return svc


@pytest.fixture(scope="module")
def api_schema(fuzzed_service: LiveService) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzzed_service.base_url}/openapi.json", timeout=10)


def _cases() -> list[tuple[str, str, GenerationMode]]:
    """Every operation with valid inputs; with invalid ones too where it takes a query or body
    (a string path parameter alone has no invalid value)."""
    app = create_app(load_settings(environ={}))  # no lifespan: nothing starts
    out = []
    for path, item in app.openapi()["paths"].items():
        for method, op in item.items():
            out.append((method.upper(), path, GenerationMode.POSITIVE))
            if "requestBody" in op or any(p["in"] == "query" for p in op.get("parameters", ())):
                out.append((method.upper(), path, GenerationMode.NEGATIVE))
    return out


def _defuse(case: Case, refused_url: str) -> None:
    """Make a generated case harmless: no load test can start, no schedule can fire."""
    if not isinstance(case.body, dict):
        return
    if case.method.upper() == "POST" and case.path.endswith("/load-test"):
        case.body["baseUrl"] = refused_url
    elif case.method.upper() == "POST" and case.path == "/api/v1/schedules":
        case.body["enabled"] = False


# schemathesis.pytest.from_fixture(...).parametrize() fails under pytest 9.2 ("'Function'
# object has no attribute '_nodeid'"), so each operation's strategy is driven directly.
@pytest.mark.parametrize(("method", "path", "mode"), _cases(),
                         ids=lambda v: v.value if isinstance(v, GenerationMode) else v)
def test_no_server_errors(api_schema: BaseSchema, fuzzed_service: LiveService,
                          refused_target: tuple[socket.socket, str], method: str, path: str,
                          mode: GenerationMode) -> None:
    operation = api_schema[path][method]
    headers = {"X-API-Key": fuzzed_service.keys["admin"]}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    def check(case: Case) -> None:
        _defuse(case, refused_target[1])
        case.call_and_validate(headers=headers, checks=[not_a_server_error], timeout=30)

    check()


def test_fuzzing_started_no_run_and_connected_nowhere(
        fuzzed_service: LiveService, refused_target: tuple[socket.socket, str]) -> None:
    with fuzzed_service.client("admin") as c:
        assert c.get(f"{API}/runs").json()["total"] == 0
        for s in c.get("/api/v1/schedules").json():
            assert s["enabled"] is False or s["source"] != "api", s
    with pytest.raises(BlockingIOError):
        refused_target[0].accept()
    assert httpx.get(f"{fuzzed_service.base_url}/health", timeout=10).status_code == 200
