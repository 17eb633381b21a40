"""Gatling simulation.log import: 3.x text variants and the refused binary log."""

from __future__ import annotations

from pathlib import Path

import pytest

from intperf.errors import UsageError
from intperf.loadtest.importers import detect, import_file

FIXTURES = Path(__file__).parents[3] / "fixtures" / "imports"


def test_gatling_3_9_log() -> None:
    path = FIXTURES / "gatling_3.9_simulation.log"
    assert detect(path) == "gatling-log"
    r = import_file(path)
    assert (r.rows, r.skipped) == (4, 0)
    assert r.scenario == "computerdatabase.BasicSimulation"
    assert r.extra == {"groups": 1, "errors": 1}
    assert any("NullPointerException" in w for w in r.warnings)
    s = r.series.seconds
    got = {i: {n: (w.ok, w.errors) for n, w in s[i].requests.items()} for i in sorted(s)}
    assert got == {
        0: {"Home": (1, {"check_failed": 1})},
        1: {"Pay": (1, {})},
        2: {"Home": (0, {"connection_refused": 1})},
    }
    assert [s[i].active_users for i in range(3)] == [2, 2, 1]
    assert s[0].started_users == 2
    assert s[1].requests["Pay"].latency.quantile(0.5) == pytest.approx(400, rel=0.01)
    assert s[0].requests["Home"].latency.max == 300


def test_gatling_3_0_log_with_user_ids() -> None:
    r = import_file(FIXTURES / "gatling_3.0_simulation.log")
    assert (r.rows, r.skipped, r.scenario) == (2, 0, "simulations.Old")
    home = r.series.seconds[0].requests["Home"]
    assert (home.ok, home.errors) == (1, {"read_timeout": 1})
    assert sorted(home.latency.quantiles([0.0, 1.0])) == [100, 200]
    assert r.series.seconds[0].active_users == 1


def test_binary_log_is_refused_with_the_reason() -> None:
    path = FIXTURES / "gatling_binary_simulation.log"
    for call in (lambda: detect(path), lambda: import_file(path, "gatling-log")):
        with pytest.raises(UsageError, match=r"binary.*3\.13.*3\.12"):
            call()


def test_unknown_records_are_skipped(tmp_path: Path) -> None:
    p = tmp_path / "simulation.log"
    p.write_text("RUN\tS\ts\t1700000000000\t \t3.9\nREQUEST\tbroken\nWHAT\tx\n")
    r = import_file(p)
    assert (r.rows, r.skipped) == (0, 2)
