"""Exports of a run for other tools: a JMeter JTL (CSV) and a k6 ``--summary-export`` JSON.

We keep histograms, not samples, so the JTL is a reconstruction; docs/reports.md
("Exports") states exactly what it preserves.
"""

from __future__ import annotations

import csv
import heapq
import io
import math
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, TextIO

from intperf.loadtest.results import ErrorClass, RequestWindow, TimeSeries
from intperf.stats.histogram import LogHistogram

#: JMeter's default CSV columns (``jmeter.save.saveservice.*`` defaults), in its order.
JTL_COLUMNS: tuple[str, ...] = (
    "timeStamp", "elapsed", "label", "responseCode", "responseMessage", "threadName",
    "dataType", "success", "failureMessage", "bytes", "sentBytes", "grpThreads",
    "allThreads", "URL", "Latency", "IdleTime", "Connect",
)

#: responseCode and responseMessage written for each error class. No exact status is kept:
#: 4xx/5xx become 400/500; a failed check keeps a 200; transport errors get JMeter's own
#: "Non HTTP response code: <exception>" form, whose text the JTL importer classifies back.
_FAILURE_CODES: dict[str, tuple[str, str]] = {
    ErrorClass.CONNECTION_REFUSED.value: (
        "Non HTTP response code: java.net.ConnectException",
        "connection_refused: Connection refused"),
    ErrorClass.CONNECT_TIMEOUT.value: (
        "Non HTTP response code: org.apache.http.conn.ConnectTimeoutException",
        "connect_timeout: Connect timed out"),
    ErrorClass.READ_TIMEOUT.value: (
        "Non HTTP response code: java.net.SocketTimeoutException",
        "read_timeout: Read timed out"),
    ErrorClass.RESET.value: (
        "Non HTTP response code: java.net.SocketException", "reset: Connection reset"),
    ErrorClass.TLS.value: (
        "Non HTTP response code: javax.net.ssl.SSLException", "tls: TLS handshake failed"),
    ErrorClass.HTTP_4XX.value: ("400", "http_4xx"),
    ErrorClass.HTTP_5XX.value: ("500", "http_5xx"),
    ErrorClass.CHECK_FAILED.value: ("200", "check_failed"),
    ErrorClass.OTHER.value: ("Non HTTP response code: java.io.IOException", "other"),
}
_ERROR_ORDER = {c.value: i for i, c in enumerate(ErrorClass)}
#: Rows per chunk of :func:`jtl_chunks` (about 100 KB of text).
CHUNK_ROWS = 1000

# A row before formatting: (timestamp ms, label order, elapsed, latency, label, failure class
# or None, bytes in, bytes out, users, message).
_Row = tuple[int, int, int, int, str, str | None, int, int, int, str]


def _values(h: LogHistogram) -> Iterator[float]:
    """The histogram's values in ascending order, one per count, as bucket representatives.

    Representatives are clamped to [min, max] (as :meth:`LogHistogram.quantile` does) and
    the first and last values are the exact min and max.
    """
    n = h.count
    if n == 0:
        return
    lo, hi = h.min, h.max
    i = 0
    for _ in range(h.zero):
        yield hi if i == n - 1 else lo
        i += 1
    for key, count in sorted(h.bins.items()):
        v = min(max(h.value_of(key), lo), hi)
        for _ in range(count):
            yield lo if i == 0 else hi if i == n - 1 else v
            i += 1


def _failures(w: RequestWindow) -> Iterator[str]:
    """The failure classes of ``w``, one per failed request, transport errors first."""
    for cls in sorted((k for k, v in w.errors.items() if v > 0),
                      key=lambda k: (_ERROR_ORDER.get(k, 99), k)):
        for _ in range(w.errors[cls]):
            yield cls


def _top_message(w: RequestWindow) -> str:
    if not w.messages:
        return ""
    return min(w.messages.items(), key=lambda mc: (-mc[1], mc[0]))[0]


def _label_rows(base_ms: int, second: int, order: int, label: str, w: RequestWindow,
                users: int) -> Iterator[_Row]:
    """The reconstructed rows of one request name in one second, in timestamp order.

    Rows are the window's requests: first those that failed without a timing (elapsed 0),
    then the timed ones in ascending elapsed order; the remaining failures are spread evenly
    over the timed rows.
    """
    n = w.requests
    if n <= 0:
        return
    timed = min(w.latency.count, n)
    untimed = n - timed
    failures = _failures(w)
    timed_failures = max(w.failed - untimed, 0)
    message = _top_message(w)
    lat = _values(w.latency)
    svc = _values(w.service)
    in_q, in_r = divmod(w.bytes_in, n)
    out_q, out_r = divmod(w.bytes_out, n)
    start = base_ms + second * 1000
    for j in range(n):
        if j < untimed:
            elapsed = latency = 0
            cls = next(failures, None)
        else:
            t = j - untimed
            elapsed = round(next(lat, 0.0))
            latency = min(round(next(svc, 0.0)), elapsed)
            # Spread timed failures evenly: row t fails when floor(k*f/timed) steps up.
            steps = (t + 1) * timed_failures // timed - t * timed_failures // timed
            cls = next(failures, None) if steps else None
        yield (start + j * 1000 // n, order, elapsed, latency, label, cls,
               in_q + (j < in_r), out_q + (j < out_r), users, message)


def _merge_key(row: _Row) -> tuple[int, int]:
    return (row[0], row[1])


def iter_jtl_rows(series: TimeSeries, started_at: datetime) -> Iterator[list[str]]:
    """The JTL's data rows (no header), streamed second by second."""
    base_ms = math.floor(started_at.timestamp()) * 1000
    order = {n: i for i, n in enumerate(series.request_names)}
    for s in sorted(series.seconds):
        sw = series.seconds[s]
        users = sw.active_users
        streams = [_label_rows(base_ms, s, order[n], n, w, users)
                   for n, w in sw.requests.items()]
        for (ts, _, elapsed, latency, label, cls, nin, nout, users_, message) in heapq.merge(
                *streams, key=_merge_key):
            if cls is None:
                code, resp, ok, fail = "200", "OK", "true", ""
            else:
                code, resp = _FAILURE_CODES.get(cls, ("Non HTTP response code: " + cls, cls))
                ok, fail = "false", message or resp
            yield [str(ts), str(elapsed), label, code, resp, "intperf 1-1", "text", ok, fail,
                   str(nin), str(nout), str(users_), str(users_), "", str(latency), "0", "0"]


def write_jtl(series: TimeSeries, started_at: datetime, out: TextIO) -> int:
    """Write the run as a JMeter CSV JTL with a header; return the number of data rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(JTL_COLUMNS)
    rows = 0
    for row in iter_jtl_rows(series, started_at):
        writer.writerow(row)
        rows += 1
    return rows


def jtl_chunks(series: TimeSeries, started_at: datetime,
               rows_per_chunk: int = CHUNK_ROWS) -> Iterator[str]:
    """The JTL text (header first) in chunks of ``rows_per_chunk`` rows, for streaming."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(JTL_COLUMNS)
    pending = 0
    for row in iter_jtl_rows(series, started_at):
        writer.writerow(row)
        pending += 1
        if pending >= rows_per_chunk:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
            pending = 0
    yield buf.getvalue()


# -- k6 -----------------------------------------------------------------------------------

_DURATION_WORDS = re.compile(r"response_time|latency|service|duration|\bp\d|\bavg|\bmean"
                             r"|\bmin\b|\bmax\b|\bmedian")
_FAILED_WORDS = re.compile(r"error|fail")
_RATE_WORDS = re.compile(r"rps|throughput|requests")


def _trend(h: LogHistogram) -> dict[str, float]:
    if h.count == 0:
        return {k: 0.0 for k in ("avg", "min", "med", "max", "p(90)", "p(95)", "p(99)")}
    med, p90, p95, p99 = h.quantiles((0.5, 0.9, 0.95, 0.99))
    return {"avg": h.mean, "min": h.min, "med": med, "max": h.max,
            "p(90)": p90, "p(95)": p95, "p(99)": p99}


def _threshold_metric(criterion: Mapping[str, Any]) -> str:
    text = str(criterion.get("criterion", "")).lower()
    if _FAILED_WORDS.search(text):
        metric = "http_req_failed"
    elif _DURATION_WORDS.search(text):
        metric = "http_req_duration"
    elif _RATE_WORDS.search(text):
        metric = "http_reqs"
    else:
        metric = "http_req_duration"
    scope = criterion.get("scope")
    return f"{metric}{{name:{scope}}}" if scope else metric


def k6_summary(series: TimeSeries, summary: Mapping[str, Any]) -> dict[str, Any]:
    """The run in the shape of k6's ``--summary-export`` JSON (metrics, thresholds, state).

    ``summary`` is the run's JSON summary (for the duration and the criteria). Each
    criterion becomes a threshold ``{"<criterion text>": {"ok": passed}}`` on the metric it
    is about (latency -> http_req_duration, errors -> http_req_failed, rate -> http_reqs),
    on the ``{name:X}`` submetric when the criterion is scoped to request X.
    """
    run = summary.get("run") or {}
    duration = float(run.get("duration_s") or 0.0)
    if duration <= 0:
        first, last = series.span()
        duration = float(max(last - first + 1, 0))

    def rate(n: int) -> float:
        return n / duration if duration > 0 else 0.0

    names = series.request_names
    per_name = {n: series.aggregate([n]) for n in names}
    total = RequestWindow()
    for w in per_name.values():
        total.merge(w)
    windows = list(series.seconds.values())
    iterations = sum(w.iterations for w in windows)
    peak = max((w.active_users for w in windows), default=0)
    metrics: dict[str, dict[str, Any]] = {
        "http_reqs": {"count": total.requests, "rate": rate(total.requests)},
        "http_req_duration": _trend(total.latency),
        "http_req_waiting": _trend(total.service),
        "http_req_failed": {"passes": total.failed, "fails": total.ok,
                            "value": total.failed / total.requests if total.requests else 0.0},
        "iterations": {"count": iterations, "rate": rate(iterations)},
        "vus_max": {"value": peak, "min": peak, "max": peak},
        "data_received": {"count": total.bytes_in, "rate": rate(total.bytes_in)},
        "data_sent": {"count": total.bytes_out, "rate": rate(total.bytes_out)},
    }
    checks_failed = total.errors.get(ErrorClass.CHECK_FAILED.value, 0)
    if checks_failed:
        # Each checked response counts once; a failed check is counted, passed ones are not
        # known apart from other successes, so successes are taken as passed checks.
        metrics["checks"] = {"passes": total.ok, "fails": checks_failed,
                             "value": total.ok / (total.ok + checks_failed)}
    for n, w in per_name.items():
        metrics[f"http_req_duration{{name:{n}}}"] = _trend(w.latency)
        metrics[f"http_reqs{{name:{n}}}"] = {"count": w.requests, "rate": rate(w.requests)}
        metrics[f"http_req_failed{{name:{n}}}"] = {
            "passes": w.failed, "fails": w.ok,
            "value": w.failed / w.requests if w.requests else 0.0}
    for c in summary.get("criteria") or []:
        metric = metrics.setdefault(_threshold_metric(c), {})
        metric.setdefault("thresholds", {})[str(c["criterion"])] = {"ok": bool(c["passed"])}
    return {
        "root_group": {"name": "", "path": "", "id": "d41d8cd98f00b204e9800998ecf8427e",
                       "groups": {}, "checks": {}},
        "options": {"summaryTrendStats": ["avg", "min", "med", "max", "p(90)", "p(95)",
                                          "p(99)"],
                    "summaryTimeUnit": "", "noColor": False},
        "state": {"isStdOutTTY": False, "isStdErrTTY": False,
                  "testRunDurationMs": duration * 1000.0},
        "metrics": metrics,
    }
