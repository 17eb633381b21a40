"""The ``intperf`` command: exit codes and the three report files, through a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
import yaml

from intperf.demo import DemoServer
from intperf.reports import load_schema

from .loadtest.faults import free_port

pytestmark = pytest.mark.integration


def intperf(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "intperf", *args],
        cwd=cwd,
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )


def write_scenario(path: Path, base_url: str, **load: object) -> Path:
    doc = {
        "name": "cli-test",
        "base_url": base_url,
        "load": load or {"users": 2, "duration": "2s"},
        "journeys": [
            {
                "name": "browse",
                "steps": [
                    {
                        "request": {
                            "name": "search",
                            "path": "/api/products",
                            "query": {"size": 3},
                            "checks": [{"status": [200]}],
                        }
                    },
                    {"request": {"name": "health", "path": "/health"}},
                ],
            }
        ],
        "criteria": ["error_rate < 5%"],
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def test_version(tmp_path: Path) -> None:
    r = intperf("--version", cwd=tmp_path)
    assert r.returncode == 0
    assert r.stdout.strip().startswith("intperf 0.")


def test_pass_writes_three_valid_reports(demo_shop: DemoServer, tmp_path: Path) -> None:
    sc = write_scenario(tmp_path / "s.yaml", demo_shop.url)
    out = tmp_path / "out"
    r = intperf("run", str(sc), "--out", str(out), "--processes", "1", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verdict: PASSED" in r.stdout
    summary = json.loads((out / "summary.json").read_text())
    jsonschema.validate(summary, load_schema())
    assert summary["verdict"] == "passed"
    names = [q["name"] for q in summary["requests"]]
    assert names == ["search", "health"]
    assert summary["global"]["requests"] > 10
    suite = ET.parse(out / "junit.xml").getroot()
    cases = suite.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["error_rate < 5%"]
    assert not suite.findall(".//failure")
    html = (out / "report.html").read_text()
    assert "<svg" in html and "search" in html and "error_rate &lt; 5%" in html
    embedded = html.split('id="intperf-summary">', 1)[1].split("</script>", 1)[0]
    assert json.loads(embedded)["run"]["run_id"] == summary["run"]["run_id"]


def test_failed_criterion_exits_1(demo_shop: DemoServer, tmp_path: Path) -> None:
    sc = write_scenario(tmp_path / "s.yaml", demo_shop.url, users=1, duration="1s")
    out = tmp_path / "out"
    r = intperf(
        "run",
        str(sc),
        "--out",
        str(out),
        "--processes",
        "1",
        "--quiet",
        "--criterion",
        "p50(response_time) < 0.001ms",
        "--criterion",
        "rps > 1",
        cwd=tmp_path,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    suite = ET.parse(out / "junit.xml").getroot()
    failures = suite.findall(".//failure")
    assert len(failures) == 1
    assert "p50(response_time)" in (failures[0].get("message") or "")


def test_invalid_scenario_exits_2_with_location(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nbase_url: http://127.0.0.1:1\njourneys:\n"
        "  - name: j\n    steps:\n      - request: {path: /a, method: FETCH}\n"
    )
    r = intperf("run", str(bad), "--quiet", cwd=tmp_path)
    assert r.returncode == 2
    assert "journeys[0].steps[0].request.method" in r.stderr
    assert "FETCH" in r.stderr


def test_bad_option_and_criterion_exit_2(demo_shop: DemoServer, tmp_path: Path) -> None:
    sc = write_scenario(tmp_path / "s.yaml", demo_shop.url)
    assert intperf("run", str(sc), "--rate", "fast", cwd=tmp_path).returncode == 2
    r = intperf("run", str(sc), "--criterion", "p99(response_time) <", cwd=tmp_path)
    assert r.returncode == 2
    assert "^" in r.stderr
    assert intperf("run", str(tmp_path / "missing.yaml"), cwd=tmp_path).returncode == 2


def test_unreachable_target_exits_3(tmp_path: Path) -> None:
    sc = write_scenario(tmp_path / "s.yaml", f"http://127.0.0.1:{free_port()}")
    r = intperf("run", str(sc), "--quiet", "--processes", "1", cwd=tmp_path)
    assert r.returncode == 3
    assert "connection refused" in r.stderr


def test_rate_option_runs_open_model(demo_shop: DemoServer, tmp_path: Path) -> None:
    sc = write_scenario(tmp_path / "s.yaml", demo_shop.url)
    out = tmp_path / "out"
    r = intperf(
        "run",
        str(sc),
        "--rate",
        "50/s",
        "--duration",
        "2s",
        "--out",
        str(out),
        "--quiet",
        "--processes",
        "2",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run"]["model"] == "open"
    # 100 arrivals, each one journey of two requests, over two worker processes.
    assert summary["global"]["requests"] == 200
