"""Smoke run of benchmarks/bus, so it cannot rot (figures are not judged here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bus_benchmark_smoke_measures_every_library() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bus"), "--smoke"],
                       capture_output=True, text=True, timeout=300, check=False)
    if "TansuBinaryNotFound" in r.stdout:
        pytest.skip(f"no Tansu broker binary here: {r.stdout[-500:]}")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    table = r.stdout
    for library in ("aiokafka", "confluent-kafka", "intperf kafka", "intperf memory"):
        assert f"│ {library}" in table, table
    for phase in ("produce, one call", "consume (group)", "end to end"):
        assert phase in table, table
    for library in ("aiokafka", "confluent-kafka", "intperf kafka bus"):  # judged in full runs
        assert f"{library}: end to end" in table, table
