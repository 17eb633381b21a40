"""The JSON summary: schema, numbers against NumPy, time series, criteria, redaction."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import jsonschema
import numpy as np
import pytest

from intperf.loadtest.results import ErrorClass, TimeSeries
from intperf.reports import RunInfo, build_summary, criteria_dicts, load_schema
from intperf.reports.summary import MAX_POINTS, REDACTED, redact

from ._data import (
    CHECK_MSG,
    CRITERIA,
    ORDERS,
    PRODUCTS,
    STATUS_MSG,
    TIMEOUT_MSG,
    Recorded,
    make_info,
)

QS = {"p50": 50, "p75": 75, "p90": 90, "p95": 95, "p99": 99, "p99_9": 99.9}


def validate(summary: dict[str, Any]) -> None:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(summary)


def assert_distribution(dist: dict[str, Any], values: list[float]) -> None:
    arr = np.asarray(values)
    assert dist["min"] == pytest.approx(arr.min(), abs=1e-3)
    assert dist["max"] == pytest.approx(arr.max(), abs=1e-3)
    assert dist["mean"] == pytest.approx(arr.mean(), rel=1e-6, abs=1e-3)
    for key, q in QS.items():
        expected = float(np.percentile(arr, q, method="inverted_cdf"))
        assert dist[key] == pytest.approx(expected, rel=0.01), key


def test_summary_validates_against_schema_and_is_strict_json(summary: dict[str, Any]) -> None:
    validate(summary)
    text = json.dumps(summary, allow_nan=False)
    assert json.loads(text) == summary
    assert summary["schema_version"] == 1


def test_schema_rejects_unknown_fields(summary: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(load_schema())
    for path in ((), ("global",), ("run",), ("users",), ("timeseries",)):
        broken = json.loads(json.dumps(summary))
        target = broken
        for key in path:
            target = target[key]
        target["surprise"] = 1
        assert not validator.is_valid(broken), path
    broken = json.loads(json.dumps(summary))
    broken["requests"][0]["surprise"] = 1
    assert not validator.is_valid(broken)


def test_global_counts_rates_and_percentiles(summary: dict[str, Any], recorded: Recorded) -> None:
    g = summary["global"]
    failed = sum(sum(e.values()) for e in recorded.errors.values())
    ok = sum(recorded.ok.values())
    assert g["requests"] == ok + failed == 6 * 260
    assert g["ok"] == ok
    assert g["failed"] == failed
    assert g["error_rate"] == pytest.approx(failed / (ok + failed), abs=1e-6)
    assert g["rps"] == pytest.approx((ok + failed) / 7.0, abs=1e-6)
    assert g["bytes_in"] == 1000 * 6 * 260
    assert g["bytes_out"] == 100 * 6 * 260
    all_latency = recorded.latency[PRODUCTS] + recorded.latency[ORDERS]
    all_service = recorded.service[PRODUCTS] + recorded.service[ORDERS]
    assert_distribution(g["latency"], all_latency)
    assert_distribution(g["service_time"], all_service)
    assert g["errors_by_class"] == {"read_timeout": 4, "http_5xx": 22, "check_failed": 12}


def test_per_request_statistics(summary: dict[str, Any], recorded: Recorded) -> None:
    by_name = {r["name"]: r for r in summary["requests"]}
    assert list(by_name) == [PRODUCTS, ORDERS]
    for name in (PRODUCTS, ORDERS):
        r = by_name[name]
        failed = sum(recorded.errors[name].values())
        assert r["requests"] == recorded.ok[name] + failed
        assert r["failed"] == failed
        assert r["error_rate"] == pytest.approx(failed / r["requests"], abs=1e-6)
        assert r["rps"] == pytest.approx(r["requests"] / 7.0, abs=1e-6)
        assert_distribution(r["latency"], recorded.latency[name])
        assert_distribution(r["service_time"], recorded.service[name])
    orders = by_name[ORDERS]
    assert orders["errors_by_class"] == {"http_5xx": 22, "check_failed": 12}
    assert orders["top_messages"] == [{"message": STATUS_MSG, "count": 22},
                                      {"message": CHECK_MSG, "count": 12}]
    assert by_name[PRODUCTS]["top_messages"] == [{"message": TIMEOUT_MSG, "count": 4}]
    assert [m["message"] for m in summary["global"]["top_messages"]] == [
        STATUS_MSG, CHECK_MSG, TIMEOUT_MSG]


def test_top_messages_keep_the_ten_most_frequent_across_seconds() -> None:
    series = TimeSeries()
    # 20 distinct rare messages fill every window's message table first...
    for s in range(3):
        w = series.at(s).window("r")
        for i in range(20):
            w.add_error(ErrorClass.OTHER, f"rare {i:02d}")
    # ...then a frequent message arrives late; it must still top the list.
    series.at(3).window("r").add_error(ErrorClass.HTTP_5XX, "late and frequent", 50)
    summary = build_summary(series, [], make_info())
    top = summary["requests"][0]["top_messages"]
    assert len(top) == 10
    assert top[0] == {"message": "late and frequent", "count": 50}
    assert [m["count"] for m in top] == sorted((m["count"] for m in top), reverse=True)
    validate(summary)


def test_timeseries_is_dense_with_gaps(summary: dict[str, Any], recorded: Recorded) -> None:
    ts = summary["timeseries"]
    assert ts["step_s"] == 1
    assert ts["t"] == [0, 1, 2, 3, 4, 5, 6]
    assert ts["requests"] == [260, 260, 260, 260, 260, 0, 260]
    assert ts["rps"][5] == 0 and ts["rps"][0] == 260
    assert ts["p99"][5] is None and ts["service_p99"][5] is None
    assert [o + f for o, f in zip(ts["ok"], ts["failed"], strict=True)] == ts["requests"]
    assert ts["active_users"] == [5, 7, 9, 11, 13, 0, 17]
    assert ts["dropped"] == [0, 0, 0, 0, 1, 0, 0]
    assert ts["errors_by_class"]["read_timeout"] == [0, 0, 0, 4, 0, 0, 0]
    assert ts["errors_by_class"]["http_5xx"] == [1, 2, 3, 4, 5, 0, 7]
    for s in (0, 3, 6):
        values = recorded.per_second[s][PRODUCTS] + recorded.per_second[s][ORDERS]
        expected = float(np.percentile(values, 95, method="inverted_cdf"))
        assert ts["p95"][s] == pytest.approx(expected, rel=0.01)
    orders = ts["by_request"][ORDERS]
    assert orders["t"] == ts["t"]
    assert orders["requests"] == [60, 60, 60, 60, 60, 0, 60]
    assert orders["failed"] == [3, 4, 5, 6, 7, 0, 9]
    expected99 = float(np.percentile(recorded.per_second[2][ORDERS], 99, method="inverted_cdf"))
    assert orders["p99"][2] == pytest.approx(expected99, rel=0.01)
    assert orders["p95"][5] is None


def test_users(summary: dict[str, Any]) -> None:
    assert summary["users"] == {"peak_active": 17, "started": 15, "iterations": 6 * 10 + 16,
                                "dropped": 1}


def test_long_runs_are_bucketed() -> None:
    series = TimeSeries()
    for s in range(0, 3001, 7):
        w = series.at(s).window("r")
        w.ok = 3
        w.latency.record(float(s % 100 + 1))
        series.at(s).active_users = s
    summary = build_summary(series, [], make_info(duration_s=3001.0))
    ts = summary["timeseries"]
    assert ts["step_s"] == 5
    assert len(ts["t"]) <= MAX_POINTS
    assert ts["t"][:3] == [0, 5, 10]
    assert sum(ts["requests"]) == summary["global"]["requests"] == 3 * len(range(0, 3001, 7))
    assert ts["rps"][1] == pytest.approx(ts["requests"][1] / 5)
    assert max(ts["active_users"]) == 2996
    validate(summary)


def test_criteria_and_verdict(summary: dict[str, Any]) -> None:
    assert summary["verdict"] == "failed"
    assert [c["criterion"] for c in summary["criteria"]] == [c["criterion"] for c in CRITERIA]
    last = summary["criteria"][2]
    assert last["window"] == [2, 4] and last["abort"] is True and last["scope"] == ORDERS
    passing = [dict(c, passed=True) for c in CRITERIA]
    assert build_summary(TimeSeries(), passing, make_info())["verdict"] == "passed"
    assert build_summary(TimeSeries(), [], make_info())["verdict"] == "passed"


def test_non_finite_observed_becomes_null() -> None:
    crit = [{"criterion": "rps > 1", "passed": False, "observed": float("nan"), "message": "x"}]
    s = build_summary(TimeSeries(), crit, make_info())
    assert s["criteria"][0] == {"criterion": "rps > 1", "passed": False, "observed": None,
                                "message": "x", "window": None, "abort": False, "scope": None}
    validate(s)


def test_criteria_dicts_reads_criterion_results_by_duck_typing() -> None:
    result = SimpleNamespace(
        criterion=SimpleNamespace(text="errors < 10", scope="login", abort=True),
        passed=False, observed=12.0, message="12 errors", window=(3, 5))
    assert criteria_dicts([result]) == [{
        "criterion": "errors < 10", "passed": False, "observed": 12.0, "message": "12 errors",
        "window": [3, 5], "abort": True, "scope": "login"}]


def test_empty_run(empty_summary: dict[str, Any]) -> None:
    validate(empty_summary)
    g = empty_summary["global"]
    assert g["requests"] == 0 and g["error_rate"] == 0.0 and g["rps"] == 0.0
    assert all(v is None for v in g["latency"].values())
    assert empty_summary["requests"] == []
    assert empty_summary["timeseries"]["t"] == []
    assert empty_summary["users"] == {"peak_active": 0, "started": 0, "iterations": 0,
                                      "dropped": 0}


def test_run_info_serialises_utc() -> None:
    cet = timezone(timedelta(hours=1))
    info = make_info(started_at=datetime(2025, 1, 2, 4, 4, 5, 250000, tzinfo=cet))
    run = build_summary(TimeSeries(), [], info)["run"]
    assert run["started_at"] == "2025-01-02T03:04:05.250Z"
    assert run["ended_at"] == "2025-01-02T03:04:13.000Z"
    assert run["model"] == "closed" and run["processes"] == 2


@pytest.mark.parametrize(("field", "value"), [
    ("started_at", datetime(2025, 1, 1)),  # naive
    ("model", "hybrid"),
    ("status", "great"),
    ("duration_s", -1.0),
])
def test_run_info_rejects_invalid_values(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        make_info(**{field: value})


def test_run_info_never_carries_secrets() -> None:
    info = make_info(
        base_url="https://alice:hunter2@shop.example:8443/api",
        options={
            "header": ["Authorization: Bearer abc.def", "Accept: application/json",
                       "cookie=session=xyz"],
            "headers": {"Cookie": "session=xyz", "X-Trace": "1", "X-Api-Key": "k-123"},
            "kafka": {"password": "p4ss", "bootstrap": "localhost:9092"},
            "users": 10,
            "target": "http://bob:pw0rd@10.0.0.1/",
        },
    )
    assert isinstance(info, RunInfo)
    text = json.dumps(build_summary(TimeSeries(), [], info))
    for secret in ("hunter2", "abc.def", "session=xyz", "k-123", "p4ss", "pw0rd"):
        assert secret not in text
    opts = info.options
    assert opts["header"] == [f"Authorization: {REDACTED}", "Accept: application/json",
                              f"cookie= {REDACTED}"]
    assert opts["headers"] == {"Cookie": REDACTED, "X-Trace": "1", "X-Api-Key": REDACTED}
    assert opts["kafka"] == {"password": REDACTED, "bootstrap": "localhost:9092"}
    assert opts["users"] == 10
    assert info.base_url == f"https://alice:{REDACTED}@shop.example:8443/api"


def test_redact_leaves_plain_values_alone() -> None:
    value = {"users": 5, "ratio": 0.5, "flag": True, "none": None, "list": [1, "a: b"]}
    assert redact(value) == value
