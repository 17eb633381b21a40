"""Smoke runs of the benchmark scripts, so they cannot rot (figures are not judged here)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_loadgen_smoke_runs_every_generator() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "loadgen"), "--smoke"],
                       capture_output=True, text=True, timeout=300, check=False)
    if shutil.which("nginx") is None or shutil.which("wrk") is None:
        pytest.skip(f"nginx/wrk could not be installed here: {r.stdout[-500:]}")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    table = r.stdout
    for row in ("wrk", "intperf", "intperf-multistep"):
        assert f"│ {row} " in table, table
    assert "open model at 2000/s: achieved" in table  # judged in full runs, not here


def test_service_benchmark_smoke_measures_both_endpoints() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "service"), "--smoke"],
                       capture_output=True, text=True, timeout=240, check=False)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    table = r.stdout
    for row in ("runs list", "run status"):
        assert f"│ {row} " in table, table
    assert "p99 of every endpoint under 50 ms with 200 clients" in table  # judged in full runs
    assert "background run" in table and ": running" in table, table
