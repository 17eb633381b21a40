"""Apply mode through the service: ``POST /api/v1/db/analyses`` with ``"apply": true`` creates
the advised index on the crafted target (admin only, with performance.optimization.
query-optimization on, inside the maintenance window), audits each action without the
password and stores the apply report with the analysis. Also: analyses left ``running`` by an
earlier process are marked interrupted at start-up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from intperf.store import Database, DbAnalysisRepository

from .conftest import PgTarget
from .test_advisor import ORDERS, setup
from .test_db_api import PASSWORD, _run_service, _wait

pytestmark = pytest.mark.integration

LOOKUP = "SELECT id, total FROM orders WHERE customer_id = %s"
ENABLED = {"INTPERF_PERFORMANCE__OPTIMIZATION__QUERY_OPTIMIZATION": "true",
           "INTPERF_PERFORMANCE__OPTIMIZATION__MEASURE_PERIOD": "0s"}


def _service(tmp_path: Path, name: str, env: dict[str, str] | None) -> Any:
    base = tmp_path / name
    base.mkdir()
    return _run_service()(f"sqlite:///{base / 'intperf.db'}", base, "sqlite", extra_env=env)


@pytest.fixture
def target(pg_target: PgTarget) -> PgTarget:
    """Orders looked up by an unindexed customer_id: the advisor wants one index."""
    setup(pg_target, ORDERS, [(LOOKUP, (7,), 20)])
    return pg_target


def _indexes(target: PgTarget) -> set[str]:
    with psycopg.connect(target.dsn) as conn:
        rows = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'orders'")
        return {str(r[0]) for r in rows}


def _audit(client: httpx.Client) -> list[dict[str, Any]]:
    body = client.get("/api/v1/audit", params={"limit": 500}).json()
    entries: list[dict[str, Any]] = body["items"] if isinstance(body, dict) else body
    return entries[::-1]  # oldest first


def test_apply_creates_the_index_and_audits_it(target: PgTarget, tmp_path: Path) -> None:
    dsn = target.dsn_for(target.user, PASSWORD)
    shown = dsn.replace(PASSWORD, "***")
    with _service(tmp_path, "on", ENABLED) as svc, svc.client("admin") as c:
        r = c.post("/api/v1/db/analyses", json={"dsn": dsn, "apply": True})
        assert r.status_code == 202, r.text
        done = _wait(c, r.json()["id"])
        audit = _audit(c)
    assert done["status"] == "done", done
    applied = done["report"]["apply"]
    assert applied["status"] == "applied" and not applied["dry_run"], applied
    (item,) = applied["indexes"]
    assert item["status"] == "kept" and item["used_by"], item
    name = item["index"].split(".", 1)[1]
    assert name in _indexes(target)
    assert item["create_sql"].startswith("CREATE INDEX CONCURRENTLY")

    index_actions = [(e["action"], e["target"]) for e in audit
                     if e["action"].startswith("db.index.")]
    assert index_actions == [(f"db.index.{a}", item["index"]) for a in
                             ("create", "created", "verify", "measure", "keep")]
    assert all(e["actor"] == "test-admin" for e in audit)
    create = next(e for e in audit if e["action"] == "db.analysis.create")
    assert create["detail"]["options"]["apply"] is True
    for e in audit:
        assert PASSWORD not in json.dumps(e)
        if e["action"].startswith("db.index."):
            assert e["detail"]["dsn"] == shown and e["detail"]["analysis"] == done["id"]
    raw = (tmp_path / "on" / "intperf.db").read_bytes()
    assert PASSWORD.encode() not in raw


def test_outside_the_maintenance_window_apply_is_refused(target: PgTarget,
                                                         tmp_path: Path) -> None:
    opens = datetime.now(UTC) + timedelta(hours=6)
    window = f"{opens:%H}:00-{opens + timedelta(hours=1):%H}:00 UTC"
    env = {**ENABLED, "INTPERF_PERFORMANCE__OPTIMIZATION__MAINTENANCE_WINDOW": window}
    with _service(tmp_path, "window", env) as svc, svc.client("admin") as c:
        r = c.post("/api/v1/db/analyses", json={"dsn": target.dsn, "apply": True})
        assert r.status_code == 202, r.text
        done = _wait(c, r.json()["id"])
        audit = _audit(c)
    assert done["status"] == "done", done
    applied = done["report"]["apply"]
    assert applied["status"] == "refused" and applied["window"] == window
    assert "outside the maintenance window" in applied["refused"]
    assert [i["status"] for i in applied["indexes"]] == ["refused"]
    assert _indexes(target) == {"orders_pkey"}
    assert [e["action"] for e in audit if e["action"].startswith("db.index.")] == [
        "db.index.refuse"]


def test_apply_needs_the_admin_role_and_the_switch(tmp_path: Path) -> None:
    body = {"dsn": "postgresql://u@127.0.0.1:1/db", "apply": True}
    with _service(tmp_path, "off", None) as svc:
        with svc.client("operator") as c:
            r = c.post("/api/v1/db/analyses", json=body)
            assert r.status_code == 403, r.text
            assert "admin role" in r.json()["error"] and r.json()["field"] == "apply"
            # Operators still analyze (dry run).
            r = c.post("/api/v1/db/analyses", json={"dsn": body["dsn"]})
            assert r.status_code == 202, r.text
            assert _wait(c, r.json()["id"])["status"] == "failed"  # nothing listens there
        with svc.client("admin") as c:
            r = c.post("/api/v1/db/analyses", json=body)
            assert r.status_code == 409, r.text
            assert r.json()["error"] == ("apply is disabled: set "
                                         "performance.optimization.query-optimization: true")
            assert c.get("/api/v1/db/analyses").json()["total"] == 1
    with _service(tmp_path, "on", ENABLED) as svc, svc.client("admin") as c:
        r = c.post("/api/v1/db/analyses", json={**body, "indexAdvice": False})
        assert r.status_code == 422 and r.json()["field"] == "apply", r.text


@pytest.fixture
def left_running(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    base = tmp_path / "restart"
    base.mkdir()
    with Database(f"sqlite:///{base / 'intperf.db'}") as db:
        db.migrate()
        analysis_id = DbAnalysisRepository(db).create(
            dsn_redacted="postgresql://u@127.0.0.1/db", requested_by="me", options={})
    yield base, analysis_id


def test_analyses_left_running_are_interrupted_at_start_up(
        left_running: tuple[Path, str]) -> None:
    base, analysis_id = left_running
    storage = f"sqlite:///{base / 'intperf.db'}"
    with _run_service()(storage, base, "sqlite"), Database(storage) as db:
        # Before any request: start-up did it, not the first /db request.
        rec = DbAnalysisRepository(db).get(analysis_id)
    assert rec is not None and rec.status == "interrupted" and rec.finished_at is not None
