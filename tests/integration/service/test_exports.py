"""Exports through the live service: JTL and k6 summary of a finished run, API and CLI."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from service_support import API, LiveService, finish, run_body, submit
from typer.testing import CliRunner

from intperf.cli import app
from intperf.demo import DemoServer
from intperf.reports.exports import JTL_COLUMNS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def finished_run(service: LiveService, demo_shop: DemoServer) -> tuple[str, dict[str, Any]]:
    """One short NATIVE run against the demo shop, finished; its id and summary."""
    with service.client("operator") as c:
        run_id = submit(c, run_body(demo_shop.url, users=3, duration="2s"))
        detail = finish(c, run_id)
        assert detail["status"] in ("passed", "failed"), detail
        r = c.get(f"{API}/runs/{run_id}/summary")
        assert r.status_code == 200, r.text
        summary: dict[str, Any] = r.json()
    assert summary["global"]["requests"] > 0
    return run_id, summary


def test_jtl_export_counts_match_the_summary(service: LiveService,
                                             finished_run: tuple[str, dict[str, Any]]) -> None:
    run_id, summary = finished_run
    with service.client("viewer") as c:
        r = c.get(f"{API}/runs/{run_id}/export", params={"format": "jtl"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == f'attachment; filename="{run_id}.jtl"'
    reader = csv.reader(io.StringIO(r.text))
    assert tuple(next(reader)) == JTL_COLUMNS
    rows = list(reader)
    assert len(rows) == summary["global"]["requests"]
    labels = Counter(row[2] for row in rows)
    assert labels == {q["name"]: q["requests"] for q in summary["requests"] if q["requests"]}
    assert sum(row[7] == "false" for row in rows) == summary["global"]["failed"]


def test_k6_export_counts_match_the_summary(service: LiveService,
                                            finished_run: tuple[str, dict[str, Any]]) -> None:
    run_id, summary = finished_run
    with service.client("viewer") as c:
        r = c.get(f"{API}/runs/{run_id}/export", params={"format": "k6"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    metrics = r.json()["metrics"]
    g = summary["global"]
    assert metrics["http_reqs"]["count"] == g["requests"]
    assert metrics["http_req_failed"]["passes"] == g["failed"]
    assert metrics["http_req_failed"]["fails"] == g["ok"]
    assert metrics["http_req_duration"]["p(95)"] == pytest.approx(g["latency"]["p95"], abs=1e-3)
    for q in summary["requests"]:
        assert f"http_req_duration{{name:{q['name']}}}" in metrics


def test_export_errors(service: LiveService, finished_run: tuple[str, dict[str, Any]]) -> None:
    run_id, _ = finished_run
    with service.client("viewer") as c:
        assert c.get(f"{API}/runs/nosuchrun/export").status_code == 404
        assert c.get(f"{API}/runs/{run_id}/export", params={"format": "xml"}).status_code == 422
    with service.client(None) as c:
        assert c.get(f"{API}/runs/{run_id}/export").status_code == 401


def test_cli_export_to_file_and_stdout(service: LiveService, tmp_path: Path,
                                       finished_run: tuple[str, dict[str, Any]]) -> None:
    run_id, summary = finished_run
    runner = CliRunner()
    common = ["--server", service.base_url, "--api-key", service.keys["viewer"]]
    out = tmp_path / "run.jtl"
    res = runner.invoke(app, ["runs", "export", run_id, "--format", "jtl", "-o", str(out),
                              *common])
    assert res.exit_code == 0, res.output
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == JTL_COLUMNS
    assert len(rows) - 1 == summary["global"]["requests"]
    res = runner.invoke(app, ["runs", "export", run_id, "--format", "k6", *common])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["metrics"]["http_reqs"]["count"] == summary["global"][
        "requests"]
