"""samples_from_series and compare_runs on hand-built time series."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping

import numpy as np
import pytest

from intperf.loadtest.comparison import GLOBAL, RunComparison, compare_runs, samples_from_series
from intperf.loadtest.results import ErrorClass, TimeSeries
from intperf.stats import Verdict, bootstrap_median_diff


def make_series(
    requests: Mapping[str, float],
    *,
    seconds: int = 60,
    per_second: int = 100,
    error_rate: Mapping[str, float] | None = None,
    seed: int = 0,
) -> TimeSeries:
    """``per_second`` lognormal latencies (median ``requests[name]`` ms) per name and second."""
    rng = np.random.default_rng(seed)
    ts = TimeSeries()
    for second in range(seconds):
        window = ts.at(second)
        for name, median in requests.items():
            w = window.window(name)
            w.latency.record_many(rng.lognormal(math.log(median), 0.3, per_second))
            failed = int(rng.binomial(per_second, (error_rate or {}).get(name, 0.0)))
            w.ok = per_second - failed
            if failed:
                w.add_error(ErrorClass.HTTP_5XX, "HTTP 503", failed)
    return ts


# -- samples_from_series -------------------------------------------------------------------------
def test_per_second_values_come_from_each_seconds_merged_histogram() -> None:
    ts = make_series({"home": 20.0, "search": 80.0}, seconds=5, error_rate={"search": 0.5})
    s = samples_from_series(ts)
    for i, second in enumerate(range(5)):
        merged = ts.aggregate(start=second, end=second)
        assert s.per_second["p50"][i] == merged.latency.quantile(0.5)
        assert s.per_second["p95"][i] == merged.latency.quantile(0.95)
        assert s.per_second["p99"][i] == merged.latency.quantile(0.99)
        assert s.per_second["throughput"][i] == 200
        assert s.per_second["error_rate"][i] == merged.failed / 200
    whole = ts.aggregate()
    assert s.overall["p95"] == whole.latency.quantile(0.95)
    assert s.overall["throughput"] == 200.0
    assert s.overall["error_rate"] == pytest.approx(whole.failed / 1000)


def test_names_select_the_requests() -> None:
    ts = make_series({"home": 20.0, "search": 80.0}, seconds=4)
    s = samples_from_series(ts, ["search"])
    assert s.overall["p50"] == ts.aggregate(["search"]).latency.quantile(0.5)
    assert s.per_second["throughput"].tolist() == [100.0] * 4
    assert s.per_second["p50"][0] == ts.seconds[0].requests["search"].latency.quantile(0.5)


def test_seconds_without_requests_have_zero_throughput_and_no_latency() -> None:
    ts = make_series({"home": 20.0}, seconds=5)
    del ts.seconds[2]  # nothing happened in second 2
    del ts.seconds[3].requests["home"]
    ts.at(3).window("other").ok = 7  # second 3 has only another request name
    s = samples_from_series(ts, ["home"])
    assert s.per_second["throughput"].tolist() == [100.0, 100.0, 0.0, 0.0, 100.0]
    assert np.isnan(s.per_second["p50"][[2, 3]]).all()
    assert np.isnan(s.per_second["error_rate"][[2, 3]]).all()
    assert s.overall["throughput"] == 300 / 5
    assert samples_from_series(ts).per_second["throughput"][3] == 7


def test_empty_series_gives_empty_samples() -> None:
    s = samples_from_series(TimeSeries())
    assert all(v.size == 0 for v in s.per_second.values())
    assert all(math.isnan(v) for v in s.overall.values())


# -- compare_runs --------------------------------------------------------------------------------
def test_a_slower_request_regresses_alone() -> None:
    base = make_series({"home": 20.0, "checkout": 100.0}, seed=1)
    cand = make_series({"home": 20.0, "checkout": 150.0}, seed=2)
    rc = compare_runs(base, cand)
    assert isinstance(rc, RunComparison)
    assert list(rc.requests) == ["home", "checkout"]
    assert rc.requests["checkout"].regressions == ["p50", "p95", "p99"]
    assert rc.requests["home"].regressions == []
    assert rc.requests["home"].verdict is Verdict.UNCHANGED
    assert {("checkout", m) for m in ("p50", "p95", "p99")} <= set(rc.regressions)
    assert not [r for r in rc.regressions if r[0] == "home"]
    # Half of all requests are checkouts: the upper quantiles of the whole run move too.
    assert (GLOBAL, "p99") in rc.regressions
    assert rc.global_["throughput"].verdict is Verdict.UNCHANGED


def test_faster_run_improves_with_the_bootstrap() -> None:
    base = make_series({"home": 60.0}, seed=3)
    cand = make_series({"home": 30.0}, seed=4)
    test = functools.partial(bootstrap_median_diff, n_resamples=500, seed=1)
    rc = compare_runs(base, cand, test=test)
    assert rc.requests["home"].improvements == ["p50", "p95", "p99"]
    assert rc.global_["p50"].test == "bootstrap_median_diff"
    assert rc.regressions == []


def test_errors_and_lower_throughput_regress() -> None:
    base = make_series({"login": 40.0}, seed=5)
    cand = make_series({"login": 40.0}, per_second=50, error_rate={"login": 0.1}, seed=6)
    rc = compare_runs(base, cand)
    err = rc.requests["login"]["error_rate"]
    assert err.verdict is Verdict.REGRESSED
    assert err.baseline == 0.0
    assert err.relative is None
    assert rc.requests["login"]["throughput"].verdict is Verdict.REGRESSED
    assert rc.requests["login"]["throughput"].relative == pytest.approx(-0.5)
    assert ("login", "error_rate") in rc.regressions
    assert (GLOBAL, "throughput") in rc.regressions


def test_names_only_in_one_run_are_listed_not_compared() -> None:
    base = make_series({"home": 20.0, "legacy": 30.0}, seconds=10)
    cand = make_series({"home": 20.0, "new": 30.0, "newer": 10.0}, seconds=10)
    rc = compare_runs(base, cand)
    assert list(rc.requests) == ["home"]
    assert rc.only_in_baseline == ("legacy",)
    assert rc.only_in_candidate == ("new", "newer")


def test_short_runs_are_insufficient_data() -> None:
    rc = compare_runs(make_series({"home": 20.0}, seconds=2), make_series({"home": 90.0}))
    assert rc.global_.verdict is Verdict.INSUFFICIENT_DATA
    assert rc.requests["home"]["p99"].verdict is Verdict.INSUFFICIENT_DATA
    assert rc.regressions == []


def test_identical_runs_are_unchanged() -> None:
    ts = make_series({"home": 20.0, "search": 50.0}, seconds=20, error_rate={"search": 0.05})
    rc = compare_runs(ts, ts)
    assert rc.regressions == []
    assert rc.global_.verdict is Verdict.UNCHANGED
    assert all(m.delta == 0.0 for m in rc.global_.metrics)
    assert rc.requests["home"]["error_rate"].reason == "both runs are constant at 0"


def test_to_dict_is_strict_json_and_survives_storage() -> None:
    base = make_series({"home": 20.0, "checkout": 100.0, "gone": 5.0}, seconds=30, seed=7)
    cand = make_series({"home": 20.0, "checkout": 150.0}, seconds=30, seed=8)
    d = compare_runs(base, cand).to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert set(d) == {
        "verdict",
        "global",
        "requests",
        "only_in_baseline",
        "only_in_candidate",
        "regressions",
    }
    assert d["verdict"] == "regressed"
    assert d["only_in_baseline"] == ["gone"]
    assert {"scope": "checkout", "metric": "p95"} in d["regressions"]
    assert d["requests"]["checkout"]["metrics"]["p95"]["verdict"] == "regressed"
    # The store keeps series as to_dict JSON; comparing the restored series gives the same.
    restored = compare_runs(
        TimeSeries.from_dict(json.loads(json.dumps(base.to_dict()))),
        TimeSeries.from_dict(json.loads(json.dumps(cand.to_dict()))),
    )
    assert restored.to_dict() == d
