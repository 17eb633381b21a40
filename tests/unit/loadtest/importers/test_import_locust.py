"""Locust stats history import: deltas of totals, percentile pseudo-samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from intperf.errors import UsageError
from intperf.loadtest.importers import detect, import_file

FIXTURES = Path(__file__).parents[3] / "fixtures" / "imports"


def test_full_history_skips_aggregated_rows() -> None:
    path = FIXTURES / "locust_stats_history.csv"
    assert detect(path) == "locust-csv"
    r = import_file(path)
    assert (r.rows, r.skipped) == (3, 0)
    assert r.started_at.timestamp() == 1_700_000_001
    s = r.series.seconds
    got = {i: {n: (w.ok, w.errors) for n, w in s[i].requests.items()} for i in sorted(s)}
    assert got == {
        0: {"GET /home": (10, {})},
        1: {"GET /home": (18, {"other": 2}), "POST /login, form": (3, {"other": 1})},
    }
    assert (s[0].active_users, s[1].active_users) == (5, 10)
    # 10 requests from 50%..100% = 100,110,120,130,200,250,300,400,500,500,500:
    # weights round(10q) steps -> 100 x5, 110 x2, 120 x1, 200 x1, 250 x1.
    h = s[0].requests["GET /home"].latency
    assert h.count == 10
    assert h.quantile(0.5) == pytest.approx(100, rel=0.01)
    assert h.quantile(0.7) == pytest.approx(110, rel=0.01)
    assert h.max == 250
    assert s[1].requests["POST /login, form"].latency.quantile(0.5) == pytest.approx(40, rel=0.01)


def test_aggregated_only_history() -> None:
    r = import_file(FIXTURES / "locust_aggregated_stats_history.csv")
    assert any("--csv-full-history" in w for w in r.warnings)
    agg = r.series.aggregate(["Aggregated"])
    assert (agg.ok, agg.errors, agg.latency.count) == (11, {"other": 1}, 12)
    assert r.series.seconds[2].active_users == 4


def test_header_only_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "x_stats_history.csv"
    p.write_text("Timestamp,User Count,Type,Name,Total Request Count,Total Failure Count\n")
    with pytest.raises(UsageError, match="no data rows"):
        import_file(p, "locust-csv")
