"""JTL and k6 exports: rows rebuilt from histograms keep counts, failures and percentiles."""

from __future__ import annotations

import csv
import importlib.util
import io
import math
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from intperf.loadtest.results import ErrorClass, TimeSeries
from intperf.reports.exports import JTL_COLUMNS, jtl_chunks, k6_summary, write_jtl

START = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
HEADER = ("timeStamp,elapsed,label,responseCode,responseMessage,threadName,dataType,success,"
          "failureMessage,bytes,sentBytes,grpThreads,allThreads,URL,Latency,IdleTime,Connect")


def build_series(seed: int = 7) -> tuple[TimeSeries, dict[str, list[float]]]:
    """Three seconds, two request names, successes and failures (some without a timing)."""
    rng = random.Random(seed)
    ts = TimeSeries()
    raw: dict[str, list[float]] = {"home": [], "cart": []}
    for s in range(3):
        sw = ts.at(s)
        sw.active_users = 10 + s
        for name, n, scale in (("home", 900, 120.0), ("cart", 300, 400.0)):
            vals = [rng.lognormvariate(math.log(scale), 0.6) for _ in range(n)]
            raw[name].extend(vals)
            w = sw.window(name)
            w.latency.record_many(vals)
            w.service.record_many([v * 0.8 for v in vals])
            w.ok = n - 20
            w.add_error(ErrorClass.HTTP_5XX, "HTTP 503", 20)  # timed failures
            w.bytes_in = 1000 * n + 7
            w.bytes_out = 200 * n
        # Refused connections: failures without a timing.
        sw.window("home").add_error(ErrorClass.CONNECTION_REFUSED, "connection refused", 4)
    return ts, raw


def export(ts: TimeSeries) -> tuple[int, str]:
    buf = io.StringIO()
    n = write_jtl(ts, START, buf)
    return n, buf.getvalue()


def test_header_is_jmeters_default() -> None:
    ts, _ = build_series()
    _, text = export(ts)
    assert text.splitlines()[0] == HEADER
    assert ",".join(JTL_COLUMNS) == HEADER


def test_rows_match_requests_per_label_and_failures() -> None:
    ts, _ = build_series()
    n, text = export(ts)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert n == len(rows) == ts.aggregate().requests == 3 * (1200 + 4)
    assert all(len(r) == len(JTL_COLUMNS) for r in rows)
    by_label = Counter(r["label"] for r in rows)
    assert by_label == {"home": ts.aggregate(["home"]).requests,
                        "cart": ts.aggregate(["cart"]).requests}
    failed = [r for r in rows if r["success"] == "false"]
    assert len(failed) == ts.aggregate().failed
    assert Counter(r["responseCode"] for r in failed) == {
        "500": 3 * 40, "Non HTTP response code: java.net.ConnectException": 12}
    assert all(r["responseCode"] == "200" for r in rows if r["success"] == "true")
    assert {r["responseMessage"] for r in failed if r["responseCode"] == "500"} == {"http_5xx"}


def test_timestamps_ascend_inside_their_second() -> None:
    ts, _ = build_series()
    _, text = export(ts)
    stamps = [int(r["timeStamp"]) for r in csv.DictReader(io.StringIO(text))]
    assert stamps == sorted(stamps)
    base = 1772366400000  # START truncated to its second
    assert stamps[0] == base
    assert stamps[-1] < base + 3000
    per_second = Counter((t - base) // 1000 for t in stamps)
    assert per_second == {s: ts.seconds[s].requests["home"].requests
                          + ts.seconds[s].requests["cart"].requests for s in range(3)}


def test_bytes_are_split_exactly() -> None:
    ts, _ = build_series()
    _, text = export(ts)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sum(int(r["bytes"]) for r in rows) == ts.aggregate().bytes_in
    assert sum(int(r["sentBytes"]) for r in rows) == ts.aggregate().bytes_out


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99])
def test_percentiles_of_elapsed_within_one_percent(q: float) -> None:
    ts, _ = build_series()
    _, text = export(ts)
    rows = list(csv.DictReader(io.StringIO(text)))
    for label in ("home", "cart"):
        # Rows of requests that failed without a response carry elapsed 0: leave them out.
        elapsed = np.array([float(r["elapsed"]) for r in rows
                            if r["label"] == label and not r["responseCode"].startswith("Non")])
        hist = ts.aggregate([label]).latency
        assert elapsed.size == hist.count
        expected = hist.quantile(q)
        got = float(np.quantile(elapsed, q, method="inverted_cdf"))
        assert abs(got - expected) <= max(0.01 * expected, 0.5), (label, q, got, expected)
        # Per second too.
        for s in range(3):
            h = ts.seconds[s].requests[label].latency
            col = np.array([float(r["elapsed"]) for r in rows
                            if r["label"] == label and not r["responseCode"].startswith("Non")
                            and (int(r["timeStamp"]) - 1772366400000) // 1000 == s])
            exp_s = h.quantile(q)
            got_s = float(np.quantile(col, q, method="inverted_cdf"))
            assert abs(got_s - exp_s) <= max(0.01 * exp_s, 0.5)


def test_latency_column_never_exceeds_elapsed() -> None:
    ts, _ = build_series()
    _, text = export(ts)
    for r in csv.DictReader(io.StringIO(text)):
        assert 0 <= int(r["Latency"]) <= int(r["elapsed"])


def test_chunks_equal_write_jtl() -> None:
    ts, _ = build_series()
    _, text = export(ts)
    chunks = list(jtl_chunks(ts, START, rows_per_chunk=100))
    assert len(chunks) > 10
    assert "".join(chunks) == text


def test_empty_series_has_only_the_header() -> None:
    n, text = export(TimeSeries())
    assert n == 0
    assert text == HEADER + "\n"


def test_messages_with_commas_and_quotes_survive_csv() -> None:
    ts = TimeSeries()
    w = ts.at(0).window('a,"b"')
    w.latency.record_many([10.0, 20.0])
    w.service.record_many([10.0, 20.0])
    w.add_error(ErrorClass.HTTP_4XX, 'bad, "very"\nbad', 2)
    n, text = export(ts)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert n == 2
    assert {r["label"] for r in rows} == {'a,"b"'}
    assert {r["failureMessage"] for r in rows} == {'bad, "very"\nbad'}
    assert [r["responseCode"] for r in rows] == ["400", "400"]


def test_k6_summary_shape_and_counts() -> None:
    ts, _ = build_series()
    summary = {"run": {"duration_s": 3.0},
               "criteria": [
                   {"criterion": "p99(response_time) < 2000ms", "passed": True, "scope": None},
                   {"criterion": "error_rate < 1%", "passed": False, "scope": None},
                   {"criterion": "p95(response_time) < 300ms", "passed": False,
                    "scope": "cart"}]}
    out = k6_summary(ts, summary)
    m = out["metrics"]
    total = ts.aggregate()
    assert m["http_reqs"] == {"count": total.requests, "rate": total.requests / 3.0}
    assert m["http_req_failed"]["passes"] == total.failed
    assert m["http_req_failed"]["fails"] == total.ok
    assert m["http_req_failed"]["value"] == pytest.approx(total.failed / total.requests)
    d = m["http_req_duration"]
    assert set(d) >= {"avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"}
    assert d["p(95)"] == total.latency.quantile(0.95)
    assert d["thresholds"] == {"p99(response_time) < 2000ms": {"ok": True}}
    assert m["http_req_failed"]["thresholds"] == {"error_rate < 1%": {"ok": False}}
    assert m["http_req_duration{name:cart}"]["thresholds"] == {
        "p95(response_time) < 300ms": {"ok": False}}
    assert m["http_req_duration{name:home}"]["med"] == ts.aggregate(["home"]).latency.quantile(
        0.5)
    assert m["vus_max"]["value"] == 12
    assert "checks" not in m
    assert out["state"]["testRunDurationMs"] == 3000.0


@pytest.mark.skipif(importlib.util.find_spec("intperf.loadtest.importers") is None,
                    reason="the JTL importer is not available")
def test_round_trip_through_the_jtl_importer(tmp_path: Path) -> None:
    from intperf.loadtest.importers.jtl_csv import import_jtl_csv

    ts, _ = build_series()
    path = tmp_path / "run.jtl"
    with path.open("w", encoding="utf-8", newline="") as f:
        write_jtl(ts, START, f)
    back = import_jtl_csv(path).series
    assert sorted(back.seconds) == sorted(ts.seconds)
    for label in ("home", "cart"):
        a, b = ts.aggregate([label]), back.aggregate([label])
        assert b.requests == a.requests
        assert b.ok == a.ok
        assert b.errors == a.errors
        assert b.bytes_in == a.bytes_in
        for q in (0.5, 0.9, 0.99):
            exp = a.latency.quantile(q)
            assert abs(b.latency.quantile(q) - exp) <= max(0.02 * exp, 1.0)
