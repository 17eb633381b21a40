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


def test_the_summary_is_built_before_the_store_is_loaded(tmp_path: Path) -> None:
    """``intperf import`` keeps SQLAlchemy out of memory until the summary is built (it adds
    ~30 MB to the peak otherwise); storing the prepared run gives what save_import gives."""
    code = """
import sys
from pathlib import Path
from intperf.loadtest.importers import import_file
from intperf.service.importing import prepare_import, save_import, store_import
path = Path(sys.argv[1])
prepared = prepare_import(import_file(path), source=path.name)
assert "sqlalchemy" not in sys.modules, "prepare_import loaded SQLAlchemy"
from intperf.store import Database, RunRepository
with Database(sys.argv[2]) as db:
    db.migrate()
    run_id, status = store_import(db, prepared)
    other_id, other_status = save_import(db, import_file(path), source=path.name)
    runs = RunRepository(db)
    a, b = runs.get(run_id), runs.get(other_id)
    assert a is not None and b is not None
    assert status == other_status == a.status == b.status == "failed"
    assert a.summary is not None and b.summary is not None
    assert a.summary["global"] == b.summary["global"]
    assert runs.series(run_id).to_dict() == runs.series(other_id).to_dict()
    assert runs.criteria(run_id) == runs.criteria(other_id)
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code, str(FIXTURES / "jtl_default.csv"),
                           f"sqlite:///{tmp_path / 'runs.db'}"], text=True,
                          capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
