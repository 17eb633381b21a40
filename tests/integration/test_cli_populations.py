"""``intperf run`` with several populations: --duration reaches each, --users is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from intperf.demo import DemoServer
from intperf.reports import load_schema

pytestmark = pytest.mark.integration


def intperf(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "intperf", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=120, check=False)


def write_populations(path: Path, base_url: str) -> Path:
    doc = {"name": "pops", "base_url": base_url, "criteria": ["error_rate < 5%"], "journeys": [
        {"name": "browse", "load": {"users": 2, "duration": "20s"},
         "steps": [{"request": {"name": "health", "path": "/health"}}, {"think": "50ms"}]},
        {"name": "arrive", "load": {"constant_arrival_rate": {"rate": 10, "duration": "20s"},
                                    "start_after": "500ms"},
         "steps": [{"request": {"name": "products", "path": "/api/products"}}]}]}
    path.write_text(yaml.safe_dump(doc))
    return path


def test_duration_holds_every_population(demo_shop: DemoServer, tmp_path: Path) -> None:
    sc = write_populations(tmp_path / "pops.yaml", demo_shop.url)
    out = tmp_path / "out"
    proc = intperf("run", str(sc), "--duration", "1s", "--processes", "2", "--quiet",
                   "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    jsonschema.validate(summary, load_schema())
    assert summary["run"]["model"] == "mixed"
    assert 1.4 <= summary["run"]["duration_s"] <= 2.0  # 0.5 s delay + 1 s
    counts = {r["name"]: r["requests"] for r in summary["requests"]}
    assert counts["products"] == 10  # 10/s for the overridden 1 s
    assert counts["health"] > 0
    assert summary["users"]["dropped"] == 0


def test_users_is_refused_with_populations(demo_shop: DemoServer, tmp_path: Path) -> None:
    sc = write_populations(tmp_path / "pops.yaml", demo_shop.url)
    proc = intperf("run", str(sc), "--users", "5", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    message = " ".join(proc.stderr.split())
    assert "--users:" in message and "runs 2 populations (journeys 'browse', 'arrive'" in message
    assert not (tmp_path / "o").exists()
