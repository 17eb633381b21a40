"""``POST /api/v1/performance/imports`` on the running service (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from service_support import API, LiveService, MakeService

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[2] / "fixtures" / "imports"
URL = f"{API}/imports"


def test_import_upload_creates_a_run(service: LiveService) -> None:
    body = (FIXTURES / "gatling_3.9_simulation.log").read_bytes()
    with service.client("operator") as c:
        r = c.post(URL, params={"filename": "simulation.log", "scenario": "checkout"},
                   content=body)
        assert r.status_code == 201, r.text
        doc = r.json()
        assert (doc["format"], doc["rows"], doc["skipped"], doc["scenario"]) == (
            "gatling-log", 4, 0, "checkout")
    with service.client("viewer") as c:
        run = c.get(doc["links"]["run"])
        assert run.status_code == 200
        assert run.json()["testType"] == "IMPORT:gatling-log"
        assert run.json()["status"] == doc["status"] == run.json()["verdict"]
        series = c.get(f"{doc['links']['run']}/timeseries")
        assert series.status_code == 200


def test_import_refusals(service: LiveService) -> None:
    with service.client("viewer") as c:
        assert c.post(URL, content=b"x").status_code == 403
    with service.client("operator") as c:
        empty = c.post(URL, params={"filename": "r.jtl"}, content=b"")
        assert empty.status_code == 422
        assert "r.jtl: the file is empty" in empty.json()["error"]
        assert "intperf-import-" not in empty.text
        bad = c.post(URL, params={"format": "csv"}, content=b"a")
        assert (bad.status_code, bad.json()["field"]) == (422, "format")
        binary = c.post(URL, params={"filename": "simulation.log"},
                        content=(FIXTURES / "gatling_binary_simulation.log").read_bytes())
        assert binary.status_code == 422
        assert "3.13" in binary.json()["error"]


def test_imports_have_their_own_size_limit(service: LiveService,
                                           make_service: MakeService) -> None:
    cap = service.settings.intperf.limits.max_body_bytes
    lines = ["timeStamp,elapsed,label,success"]
    lines += [f"{1_700_000_000_000 + i * 10},{i % 90 + 1},page,true" for i in range(300)]
    body = ("\n".join(lines) + "\n").encode()
    assert len(body) > cap
    with service.client("operator") as c:
        r = c.post(URL, params={"filename": "big.jtl"}, content=body)
        assert r.status_code == 201, r.text
        assert r.json()["rows"] == 300
    small = make_service(**{"max-import-bytes": 2048})
    with small.client("operator") as c:
        assert c.post(URL, content=body).status_code == 413
