"""Smoke run of benchmarks/events so the benchmark cannot rot (figures are not judged here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[3] / "benchmarks" / "events"


def test_events_benchmark_smoke_prints_every_row() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCHMARK), "--smoke"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    for row in (
        "| JSON: NDJSON decode + validate -> events |",
        "| binary: frame decode (validated) -> EventBatch |",
        "| topology: frame decode + API filter + windows |",
    ):
        assert row in out, out
