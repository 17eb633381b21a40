"""``intperf import`` into a SQLite run history, through a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from intperf.store import Database, RunRepository

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "fixtures" / "imports"


def intperf_import(*args: str, cwd: Path, db_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INTPERF_INTPERF__STORAGE_URL": db_url}
    return subprocess.run([sys.executable, "-m", "intperf", "import", *args], cwd=cwd,
                          env=env, text=True, capture_output=True, timeout=120, check=False)


def test_import_jtl_into_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    proc = intperf_import(str(FIXTURES / "jtl_default.csv"), "--scenario", "shop",
                          cwd=tmp_path, db_url=url)
    assert proc.returncode == 0, proc.stderr
    assert "imported 8 row(s)" in proc.stdout
    assert "skipped 1" in proc.stdout
    run_id = proc.stdout.strip().splitlines()[-1].split()[1].rstrip(":")
    with Database(url) as db:
        runs = RunRepository(db)
        rec = runs.get(run_id)
        assert rec is not None
        assert (rec.scenario, rec.test_type) == ("shop", "IMPORT:jtl-csv")
        # 6 of 8 failed: the default error-rate criterion fails the import.
        assert rec.status == "failed"
        assert rec.summary is not None
        assert rec.summary["global"]["requests"] == 8
        series = runs.series(run_id)
        assert sorted(series.seconds) == [0, 1, 2]
        assert series.aggregate().failed == 6


def test_bad_input_exits_2(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    proc = intperf_import(str(FIXTURES / "empty.jtl"), cwd=tmp_path, db_url=url)
    assert proc.returncode == 2
    assert "is empty" in proc.stderr
    proc = intperf_import(str(FIXTURES / "gatling_binary_simulation.log"), cwd=tmp_path,
                          db_url=url)
    assert proc.returncode == 2
    assert "3.13" in proc.stderr
