"""Smoke run of benchmarks/histogram.py so the benchmark cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[3] / "benchmarks" / "histogram.py"


def test_histogram_benchmark_quick_mode_prints_a_table() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert "| LogHistogram.record_many (NumPy batch) |" in out
    assert "| LogHistogram.record (per value) |" in out
