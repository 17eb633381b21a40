"""The run summary as it was built before SeriesIndex: every window merged one by one.

Kept as the reference the bulk path (``intperf.loadtest.results.SeriesIndex``) must match
exactly; copied from ``src/intperf/reports/summary.py`` at commit e08b9a1.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from intperf.loadtest.results import RequestWindow, TimeSeries
from intperf.reports.summary import (
    _ERROR_ORDER,
    SCHEMA_VERSION,
    RunInfo,
    _criterion_entry,
    _round,
    _stats,
    _step,
)


def reference_summary(
    series: TimeSeries, criteria: Sequence[Mapping[str, Any]], info: RunInfo
) -> dict[str, Any]:
    """The JSON-able summary (``schema_version`` 1) of a run; see summary.schema.json."""
    names = series.request_names
    totals = {n: RequestWindow() for n in names}
    # RequestWindow.merge keeps only the first MAX_MESSAGES distinct messages; counting them
    # here instead keeps a frequent late message from being lost in the top list.
    messages: dict[str, Counter[str]] = {n: Counter() for n in names}
    for sw in series.seconds.values():
        for n, w in sw.requests.items():
            totals[n].merge(w)
            messages[n].update(w.messages)
    overall = RequestWindow()
    all_messages: Counter[str] = Counter()
    for n in names:
        overall.merge(totals[n])
        all_messages.update(messages[n])
    duration = info.duration_s
    crit = [_criterion_entry(c) for c in criteria]
    windows = series.seconds.values()
    return {
        "schema_version": SCHEMA_VERSION,
        "run": info.to_dict(),
        "verdict": "passed" if all(c["passed"] for c in crit) else "failed",
        "global": _stats(overall, all_messages, duration),
        "requests": [
            {"name": n, **_stats(totals[n], messages[n], duration)} for n in names
        ],
        "criteria": crit,
        "users": {
            "peak_active": max((w.active_users for w in windows), default=0),
            "started": sum(w.started_users for w in windows),
            "iterations": sum(w.iterations for w in windows),
            "dropped": sum(w.dropped for w in windows),
        },
        "timeseries": _timeseries(series, names),
    }


def _timeseries(series: TimeSeries, names: list[str]) -> dict[str, Any]:
    first, last = series.span()
    first = min(first, 0)  # seconds count from the run start: show the quiet start too
    if last < first:
        return {"step_s": 1, "t": [], "requests": [], "ok": [], "failed": [], "rps": [],
                "p50": [], "p95": [], "p99": [], "service_p99": [], "active_users": [],
                "dropped": [], "bytes_in": [], "errors_by_class": {},
                "by_request": {n: {"t": [], "requests": [], "failed": [], "p95": [], "p99": []}
                               for n in names}}
    step = _step(first, last)
    n = (last - first) // step + 1
    # One bucket at a time, in time order: only the current bucket's histograms are alive,
    # so a long run with many request names does not hold thousands of merged histograms.
    out: dict[str, list[Any]] = {k: [0] * n for k in ("requests", "ok", "failed", "rps",
                                                      "bytes_in", "active_users", "dropped")}
    for k in ("p50", "p95", "p99", "service_p99"):
        out[k] = [None] * n
    errors: dict[str, list[int]] = {}
    by_name: dict[str, dict[str, list[Any]]] = {
        name: {"requests": [0] * n, "failed": [0] * n, "p95": [None] * n, "p99": [None] * n}
        for name in names}
    current = -1
    merged = RequestWindow()
    per_name: dict[str, RequestWindow] = {}

    def flush(i: int) -> None:
        out["requests"][i] = merged.requests
        out["ok"][i] = merged.ok
        out["failed"][i] = merged.failed
        out["rps"][i] = _round(merged.requests / step)
        out["bytes_in"][i] = merged.bytes_in
        p50, p95, p99 = merged.latency.quantiles((0.50, 0.95, 0.99))
        out["p50"][i], out["p95"][i], out["p99"][i] = _round(p50), _round(p95), _round(p99)
        out["service_p99"][i] = _round(merged.service.quantile(0.99))
        for cls, count in merged.errors.items():
            if count:
                errors.setdefault(cls, [0] * n)[i] = count
        for name, w in per_name.items():
            row = by_name[name]
            row["requests"][i] = w.requests
            row["failed"][i] = w.failed
            q95, q99 = w.latency.quantiles((0.95, 0.99))
            row["p95"][i], row["p99"][i] = _round(q95), _round(q99)

    for s in sorted(series.seconds):
        sw = series.seconds[s]
        i = (s - first) // step
        if i != current:
            if current >= 0:
                flush(current)
            current, merged, per_name = i, RequestWindow(), {}
        out["active_users"][i] = max(out["active_users"][i], sw.active_users)
        out["dropped"][i] += sw.dropped
        for name, w in sw.requests.items():
            merged.merge(w)
            pw = per_name.get(name)
            if pw is None:
                pw = per_name[name] = RequestWindow()
            pw.merge(w)
    if current >= 0:
        flush(current)
    classes = sorted((k for k, v in errors.items() if any(v)),
                     key=lambda k: (_ERROR_ORDER.get(k, 99), k))
    t = [first + i * step for i in range(n)]
    return {
        "step_s": step,
        "t": t,
        **out,
        "errors_by_class": {c: errors[c] for c in classes},
        "by_request": {name: {"t": list(t), **by_name[name]} for name in names},
    }


