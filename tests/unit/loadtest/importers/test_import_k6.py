"""k6 import: NDJSON points and the end-of-test summary (pseudo-sample percentiles)."""

from __future__ import annotations

from pathlib import Path

import pytest

from intperf.loadtest.importers import detect, import_file
from intperf.loadtest.importers.k6 import pseudo_samples

FIXTURES = Path(__file__).parents[3] / "fixtures" / "imports"


def test_ndjson_points() -> None:
    path = FIXTURES / "k6.ndjson"
    assert detect(path) == "k6-json"
    r = import_file(path)
    assert (r.rows, r.skipped, r.scenario) == (3, 1, "default")
    assert r.extra == {"checks": 1}
    s = r.series.seconds
    home = s[0].requests["http://x/home"]
    assert (home.ok, home.errors) == (1, {"http_5xx": 1})
    assert home.latency.quantiles([0.0, 1.0]) == [80, 120.5]
    login = s[1].requests["login"]  # stamped 23:13:21+01:00, i.e. second 1
    assert login.errors == {"connection_refused": 1}
    assert login.messages == {"dial tcp 127.0.0.1:1: connect: connection refused": 1}
    assert (s[0].active_users, s[1].active_users, s[0].iterations) == (5, 7, 1)


@pytest.mark.parametrize("name", ["k6_summary_export.json", "k6_handle_summary.json"])
def test_summary_json(name: str) -> None:
    path = FIXTURES / name
    assert detect(path) == "k6-summary"
    r = import_file(path)
    assert (r.rows, r.duration_s, list(r.series.seconds)) == (200, 10.0, [0])
    assert any("approximate" in w for w in r.warnings)
    w = r.series.seconds[0].requests["http_reqs"]
    assert (w.ok, w.errors, w.latency.count) == (190, {"other": 10}, 200)
    h = w.latency
    assert h.min == 10
    assert h.max == 900
    assert h.quantile(0.5) == pytest.approx(100, rel=0.01)
    assert h.quantile(0.9) == pytest.approx(300, rel=0.01)
    assert h.quantile(0.95) == pytest.approx(500, rel=0.01)
    assert r.series.seconds[0].active_users == 10
    assert r.extra == {"checks_passed": 180, "checks_failed": 20}


def test_pseudo_samples_method() -> None:
    assert pseudo_samples(0, {0.5: 1.0}, None, None) == []
    assert pseudo_samples(10, {0.5: 100.0, 0.9: 200.0}, 5.0, 300.0) == [
        (5.0, 1), (100.0, 4), (200.0, 4), (300.0, 1)]
    assert pseudo_samples(10, {0.5: 100.0, 0.9: 200.0}, None, None) == [(100.0, 5), (200.0, 5)]
    assert sum(w for _, w in pseudo_samples(7, {0.33: 1.0, 0.66: 2.0}, None, 9.0)) == 7
