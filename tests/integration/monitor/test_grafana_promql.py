"""Every query of the Grafana dashboard is valid PromQL: checked by Prometheus' own parser
(``promtool check rules`` on a rule file holding each query, Grafana variables filled in)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from intperf.monitor.grafana import dashboard

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not Path(PROMTOOL).exists(),
                                 reason="promtool missing (Debian package prometheus)")]
#: What Grafana puts in place of its variables.
VARIABLES = {"$__rate_interval": "1m", "$service": ".*", "${datasource}": "prometheus"}


def _fill(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, expr
    return expr


def test_dashboard_queries_parse(tmp_path: Path) -> None:
    board = dashboard()
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    rules = [{"record": f"intperf:grafana_query_{i}", "expr": _fill(e)}
             for i, e in enumerate(exprs)]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "grafana", "rules": rules}]}))
    r = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in r.stdout
