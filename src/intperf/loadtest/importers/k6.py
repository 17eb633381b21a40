"""k6 results: the ``--out json`` NDJSON stream and the end-of-test summary JSON.

NDJSON: every ``http_req_duration`` Point is one request (``tags.name`` labels it; the
``expected_response`` tag, which is what k6's ``http_req_failed`` is computed from, says
whether it failed, ``status`` and ``error_code`` say why); ``vus`` Points give the active
users and ``iterations`` Points the iterations of each second. ``http_req_failed`` Points
carry no request name, so the tag on the duration Point is used instead.

Summary (``--summary-export`` or a ``handleSummary`` JSON dump): it has no per-second
data, so the run becomes one window at second 0 whose histogram is rebuilt from the
reported percentiles as weighted pseudo-samples (:func:`pseudo_samples`); quantiles read
back at the reported points are exact to the histogram's 1 %, everything between them is
approximate, and a warning says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from intperf.errors import UsageError
from intperf.loadtest.importers._common import (
    ImportResult,
    ReplacementWatch,
    SeriesBuilder,
    http_error_class,
    open_text,
    require_nonempty,
    result_from,
)
from intperf.loadtest.results import ErrorClass

FORMAT_JSON = "k6-json"
FORMAT_SUMMARY = "k6-summary"
SUMMARY_LABEL = "http_reqs"

# https://grafana.com/docs/k6/latest/javascript-api/error-codes/
_K6_CODES: dict[int, ErrorClass] = {
    1050: ErrorClass.READ_TIMEOUT, 1201: ErrorClass.RESET, 1211: ErrorClass.CONNECT_TIMEOUT,
    1212: ErrorClass.CONNECTION_REFUSED, 1220: ErrorClass.RESET,
}


def _k6_error(tags: Mapping[str, Any]) -> ErrorClass | None:
    """The error class of an http_req_duration Point from its tags (None: success)."""
    status_text = str(tags.get("status", "")).strip()
    status = int(status_text) if status_text.isdigit() else 0
    expected = tags.get("expected_response")
    failed = (str(expected).lower() == "false") if expected is not None else (
        status == 0 or status >= 400)
    if not failed:
        return None
    code_text = str(tags.get("error_code", "")).strip()
    if code_text.isdigit():
        code = int(code_text)
        if code in _K6_CODES:
            return _K6_CODES[code]
        if 1300 <= code < 1400:
            return ErrorClass.TLS
    return http_error_class(status) or (ErrorClass.OTHER if status == 0
                                        else ErrorClass.CHECK_FAILED)


def _epoch_s(text: str) -> int:
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return math.floor(ts.timestamp())


def import_k6_json(path: Path, scenario: str | None = None) -> ImportResult:
    """Stream a k6 ``--out json`` NDJSON file into a time series."""
    require_nonempty(path)
    builder = SeriesBuilder()
    warnings: list[str] = []
    rows = skipped = checks = 0
    vus: dict[int, int] = {}
    iterations: dict[int, int] = {}
    scenario_tag: str | None = None
    with open_text(path) as f:
        watch = ReplacementWatch(f)
        for line in watch:
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                if doc.get("type") != "Point":
                    continue
                metric = doc.get("metric")
                data = doc["data"]
                if metric == "http_req_duration":
                    tags = data.get("tags") or {}
                    sec = _epoch_s(data["time"])
                    value = float(data["value"])
                    err = _k6_error(tags)
                    message = None
                    if err is not None:
                        message = str(tags.get("error") or f"status {tags.get('status', '?')}")
                    label = str(tags.get("name") or tags.get("url") or "(unnamed)")
                    scenario_tag = scenario_tag or tags.get("scenario")
                    builder.sample(sec, label, value, err, message)
                    rows += 1
                elif metric == "vus":
                    sec = _epoch_s(data["time"])
                    vus[sec] = max(vus.get(sec, 0), int(data["value"]))
                elif metric == "iterations":
                    sec = _epoch_s(data["time"])
                    iterations[sec] = iterations.get(sec, 0) + int(data["value"])
                elif metric == "checks":
                    checks += 1
            except (ValueError, KeyError, TypeError, AttributeError):
                skipped += 1
    for sec, n in vus.items():
        builder.second(sec).active_users = n
    for sec, n in iterations.items():
        builder.second(sec).iterations = n
    if watch.seen:
        warnings.append("the file is not valid UTF-8: undecodable bytes were replaced by U+FFFD")
    return result_from(builder, fmt=FORMAT_JSON, scenario=scenario or scenario_tag or path.stem,
                       fallback_start=datetime.fromtimestamp(path.stat().st_mtime, UTC),
                       warnings=warnings, rows=rows, skipped=skipped, extra={"checks": checks})


def _quantile_key(key: str) -> float | None:
    """The quantile of a k6 trend key: ``med`` 0.5, ``p(95)`` 0.95, ``p(99.9)`` 0.999."""
    if key == "med":
        return 0.5
    if key.startswith("p(") and key.endswith(")"):
        try:
            q = float(key[2:-1]) / 100.0
        except ValueError:
            return None
        return q if 0.0 < q < 1.0 else None
    return None


def pseudo_samples(count: int, points: Mapping[float, float], lo: float | None,
                   hi: float | None) -> list[tuple[float, int]]:
    """Weighted pseudo-samples reproducing reported quantiles of ``count`` values.

    ``points`` maps quantile q to its value v. Sorted by q, point k gets weight
    ``round(count*q_k) - round(count*q_{k-1})`` (``q_0 = 0``), so a quantile read at q_k
    lands on v_k; the weight above the last point goes to ``hi`` (the max) when given, else
    to the last point. ``lo`` (the min), when given, takes one sample out of the first
    point's weight. Empty when ``count`` is 0.
    """
    if count <= 0:
        return []
    out: list[tuple[float, int]] = []
    prev = 0
    for q, v in sorted(points.items()):
        cum = min(round(count * q), count)
        if cum > prev:
            out.append((v, cum - prev))
            prev = cum
    if prev < count:
        if hi is not None or not out:
            out.append((hi if hi is not None else 0.0, count - prev))
        else:
            v, w = out[-1]
            out[-1] = (v, w + count - prev)
    if lo is not None and out and out[0][1] > 1 and lo < out[0][0]:
        v, w = out[0]
        out[0] = (v, w - 1)
        out.insert(0, (lo, 1))
    return out


def _values(metrics: Mapping[str, Any], name: str) -> dict[str, Any]:
    m = metrics.get(name)
    if not isinstance(m, Mapping):
        return {}
    inner = m.get("values")  # handleSummary nests the values; --summary-export does not
    return dict(inner) if isinstance(inner, Mapping) else dict(m)


def import_k6_summary(path: Path, scenario: str | None = None) -> ImportResult:
    """Read a k6 end-of-test summary JSON (one window, approximate percentiles)."""
    require_nonempty(path)
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            doc = json.load(f)
        metrics = doc["metrics"]
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: not a k6 summary JSON: {exc}") from exc
    if not isinstance(metrics, Mapping):
        raise UsageError(f"{path}: not a k6 summary JSON: 'metrics' is not an object")
    dur = _values(metrics, "http_req_duration")
    reqs = _values(metrics, "http_reqs")
    failed_v = _values(metrics, "http_req_failed")
    count = int(reqs.get("count", 0))
    # http_req_failed is a Rate: its "passes" are the failed requests.
    failed = int(failed_v.get("passes", 0)) if failed_v else 0
    failed = min(failed, count)
    state = doc.get("state") if isinstance(doc.get("state"), Mapping) else {}
    duration_ms = state.get("testRunDurationMs") if state else None
    rate = float(reqs.get("rate", 0) or 0)
    duration_s: float | None
    if isinstance(duration_ms, int | float) and duration_ms > 0:
        duration_s = float(duration_ms) / 1000.0
    elif rate > 0:
        duration_s = count / rate
    else:
        duration_s = None
    points = {q: float(v) for k, v in dur.items() if (q := _quantile_key(k)) is not None
              and isinstance(v, int | float)}
    lo = dur.get("min")
    hi = dur.get("max")
    builder = SeriesBuilder()
    mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    started = mtime - timedelta(seconds=duration_s or 0.0)
    sec = math.floor(started.timestamp())
    sw = builder.window(sec, SUMMARY_LABEL)
    w = sw.requests[SUMMARY_LABEL]
    w.ok = count - failed
    if failed:
        w.add_error(ErrorClass.OTHER, "failed requests (the k6 summary does not say why)", failed)
    builder.weighted(sec, SUMMARY_LABEL, pseudo_samples(
        count, points, float(lo) if isinstance(lo, int | float) else None,
        float(hi) if isinstance(hi, int | float) else None))
    w.bytes_in = int(_values(metrics, "data_received").get("count", 0))
    w.bytes_out = int(_values(metrics, "data_sent").get("count", 0))
    vus_max = _values(metrics, "vus_max").get("max", _values(metrics, "vus_max").get("value"))
    if isinstance(vus_max, int | float):
        sw.active_users = int(vus_max)
    sw.iterations = int(_values(metrics, "iterations").get("count", 0))
    checks = _values(metrics, "checks")
    warnings = [
        "a k6 summary has no per-second data: the whole run is one window, and its "
        "percentiles are approximate (rebuilt from the reported ones: "
        + ", ".join(k for k in dur if _quantile_key(k) is not None or k in ("min", "max"))
        + "); the mean is not preserved",
        "the start time is the file's modification time minus the test duration",
    ]
    extra = {"checks_passed": int(checks.get("passes", 0)),
             "checks_failed": int(checks.get("fails", 0))}
    return result_from(builder, fmt=FORMAT_SUMMARY, scenario=scenario or path.stem,
                       fallback_start=started, warnings=warnings, rows=count, skipped=0,
                       duration_s=duration_s, extra=extra)
