"""``/api/v1/db/analyses`` end to end: the service (uvicorn on loopback, SQLite storage) analyzes
the crafted database; the password is never stored; targets outside the allowed ones are
refused before any connection."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..live_service import run_service as _run_service
from . import analysis_schema
from .conftest import PgTarget

pytestmark = pytest.mark.integration

PASSWORD = "Pa55-w0rd-never-stored"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Any]:
    storage = f"sqlite:///{tmp_path / 'intperf.db'}"
    with _run_service()(storage, tmp_path, "sqlite") as svc:
        yield svc


def _wait(client: httpx.Client, analysis_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/api/v1/db/analyses/{analysis_id}")
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if body["status"] != "running":
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def test_analysis_through_the_api(service: Any, pg_target: PgTarget, tmp_path: Path) -> None:
    analysis_schema.build(pg_target.dsn)
    pg_target.reset_statements()
    analysis_schema.run_workload(pg_target.dsn)
    dsn = pg_target.dsn_for(pg_target.user, PASSWORD)
    shown = dsn.replace(PASSWORD, "***")
    with service.client("operator") as c:
        r = c.post("/api/v1/db/analyses", json={
            "dsn": dsn, "budget": "100MB", "maxIndexes": 3, "workloadType": "web",
            "machine": {"memory": "4GB", "cores": 4, "storage": "ssd"}, "top": 5})
        assert r.status_code == 202, r.text
        created = r.json()
        assert created["status"] == "running" and created["dsn"] == shown
        assert r.headers["location"] == f"/api/v1/db/analyses/{created['id']}"
        done = _wait(c, created["id"])
    assert done["status"] == "done", done
    report = done["report"]
    assert report["dsn"] == shown
    assert done["summary"] == report["summary"] and done["summary"]["critical"] >= 1
    categories = {f["category"] for f in report["findings"]}
    assert {"foreign-key.unindexed", "index.duplicate", "table.dead-tuples"} <= categories
    assert report["tuning"]["machine"]["memory_bytes"] == 4 * 1024**3
    assert report["options"]["budget_bytes"] == 100 * 1024**2

    with service.client("viewer") as c:
        listed = c.get("/api/v1/db/analyses").json()
        assert listed["total"] == 1 and listed["items"][0]["id"] == created["id"]
        assert listed["items"][0]["report"] is None and listed["items"][0]["summary"]
    with service.client("admin") as c:
        audit = c.get("/api/v1/audit").json()
    entries = [e for e in (audit["items"] if isinstance(audit, dict) else audit)
               if e["action"] == "db.analysis.create"]
    assert len(entries) == 1 and entries[0]["detail"]["dsn"] == shown

    # Nowhere in the service's database: not in the analysis, not in the audit log.
    raw = Path(tmp_path / "intperf.db").read_bytes()
    assert PASSWORD.encode() not in raw
    with sqlite3.connect(tmp_path / "intperf.db") as db:
        dump = "\n".join(db.iterdump())
    assert PASSWORD not in dump and shown in dump


@pytest.mark.parametrize(("dsn", "message"), [
    ("postgresql://u@192.0.2.1:5432/db", "not in the allowed targets"),
    ("host=/var/run/postgresql dbname=x", "Unix-socket"),
    ("dbname=x", "name the host"),
    ("host=127.0.0.1 sslkey=/etc/ssl/private/key.pem", "'sslkey' is not accepted"),
    ("postgresql://u@127.0.0.1,127.0.0.2/db", "one host only"),
    ("host=127.0.0.1 password='unterminated", "not a valid PostgreSQL connection string"),
])
def test_refused_targets(service: Any, dsn: str, message: str) -> None:
    with service.client("operator") as c:
        r = c.post("/api/v1/db/analyses", json={"dsn": dsn})
        assert r.status_code == 422, r.text
        assert message in r.json()["error"]
        assert r.json()["field"] == "dsn"
        assert "unterminated" not in r.json()["error"].split("string:")[0]
        assert c.get("/api/v1/db/analyses").json()["total"] == 0


def test_unreachable_target_fails_with_a_redacted_message(service: Any) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with service.client("operator") as c:
        r = c.post("/api/v1/db/analyses",
                   json={"dsn": f"postgresql://app:{PASSWORD}@127.0.0.1:{port}/shop"})
        assert r.status_code == 202, r.text
        done = _wait(c, r.json()["id"])
    assert done["status"] == "failed" and done["report"] is None
    assert "cannot connect" in done["error"] and PASSWORD not in done["error"]
    assert f"postgresql://app:***@127.0.0.1:{port}/shop" in done["error"]


def test_bad_body_fields(service: Any) -> None:
    with service.client("operator") as c:
        r = c.post("/api/v1/db/analyses", json={"dsn": "postgresql://127.0.0.1/x",
                                                "budget": "lots"})
        assert r.status_code == 422 and r.json()["field"] == "budget"
        r = c.post("/api/v1/db/analyses", json={"dsn": "postgresql://127.0.0.1/x",
                                                "workloadType": "batch"})
        assert r.status_code == 422 and r.json()["field"] == "workloadType"
        r = c.get("/api/v1/db/analyses/nope")
        assert r.status_code == 404
