"""The Grafana dashboard and provisioning files: valid, unique ids, no overlapping panels."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from typer.testing import CliRunner

from intperf.cli import app
from intperf.monitor.grafana import SCHEMA_VERSION, dashboard, panels

#: Metric names in PromQL (recording rules, with colons, are not used by the dashboard).
METRIC = re.compile(r"\b(intperf_[a-z0-9_]+)\b")


def promql_metrics(board: dict) -> set[str]:
    """Every metric name the dashboard's queries and variables read."""
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in board["templating"]["list"] if "definition" in v]
    return {m for e in exprs for m in METRIC.findall(e)}


def test_dashboard_is_valid_json_with_unique_ids_and_variables() -> None:
    board = json.loads(json.dumps(dashboard()))
    assert board["schemaVersion"] == SCHEMA_VERSION >= 39
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    names = {v["name"]: v for v in board["templating"]["list"]}
    assert names["datasource"]["type"] == "datasource"
    assert names["datasource"]["query"] == "prometheus"
    assert names["service"]["includeAll"] and names["service"]["multi"]
    for p in board["panels"]:
        assert p["datasource"]["uid"] == "${datasource}"
        assert p["targets"] and all(t["expr"] for t in p["targets"])
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs))


def test_panels_do_not_overlap_and_fit_the_grid() -> None:
    cells: dict[tuple[int, int], str] = {}
    for p in panels():
        assert p.x >= 0 and p.x + p.w <= 24 and p.h > 0
        for x in range(p.x, p.x + p.w):
            for y in range(p.y, p.y + p.h):
                assert (x, y) not in cells, (p.title, cells.get((x, y)))
                cells[(x, y)] = p.title


def test_dashboard_covers_the_issue_topics() -> None:
    used = promql_metrics(dashboard())
    for name in ("intperf_live_response_time_seconds_bucket", "intperf_live_errors_total",
                 "intperf_cache_hit_ratio", "intperf_circuit_breaker_state",
                 "intperf_business_orders_created", "intperf_runs_running",
                 "intperf_alerts_firing", "intperf_run_active_users"):
        assert name in used


def test_export_writes_dashboard_and_provisioning(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", "grafana", "--out", str(tmp_path),
                                      "--prometheus-url", "http://127.0.0.1:9090"])
    assert result.exit_code == 0, result.output
    board = json.loads((tmp_path / "dashboards" / "intperf-overview.json").read_text())
    assert board["uid"] == "intperf-overview"
    ds = yaml.safe_load((tmp_path / "provisioning" / "datasources" / "intperf.yaml").read_text())
    assert ds["apiVersion"] == 1 and ds["datasources"][0]["type"] == "prometheus"
    assert ds["datasources"][0]["url"] == "http://127.0.0.1:9090"
    prov = yaml.safe_load((tmp_path / "provisioning" / "dashboards" / "intperf.yaml").read_text())
    path = Path(prov["providers"][0]["options"]["path"])
    assert path == (tmp_path / "dashboards").resolve()


def test_export_refuses_a_bad_prometheus_url(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", "grafana", "--out", str(tmp_path),
                                      "--prometheus-url", "ftp://x"])
    assert result.exit_code != 0
