"""The JSON run summary: compact statistics, criteria, verdict and time series of one run.

Built from a :class:`~intperf.loadtest.results.TimeSeries`; the schema is
``summary.schema.json`` next to this module (see docs/reports.md for the versioning policy).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Literal, Protocol, cast, get_args
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt

from intperf import __version__
from intperf.loadtest.results import ErrorClass, RequestWindow, SeriesIndex, TimeSeries
from intperf.stats.histogram import LogHistogram

SCHEMA_VERSION = 1

#: Quantiles reported for response and service times, as (key, q).
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 0.50), ("p75", 0.75), ("p90", 0.90), ("p95", 0.95), ("p99", 0.99), ("p99_9", 0.999),
)
#: Distinct failure messages kept per request name (and globally), most frequent first.
TOP_MESSAGES = 10
#: The time series hold at most this many points; longer runs are bucketed by a coarser step.
MAX_POINTS = 1200
#: (bucket, request name) latencies merged at once for the per-request time series.
_CELLS_AT_ONCE = 4096
_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)

RunModel = Literal["open", "closed", "mixed"]
RunStatus = Literal["passed", "failed", "aborted", "interrupted", "error"]

REDACTED = "[redacted]"
# Option keys and header names whose values are credentials (matched as substrings, lower case).
_SECRET_WORDS = ("authorization", "cookie", "password", "passwd", "secret", "token", "api-key",
                 "api_key", "apikey", "credential", "private-key", "private_key")
_HEADER_LINE = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*([:=])(.*)$", re.DOTALL)
_ERROR_ORDER = {c.value: i for i, c in enumerate(ErrorClass)}


def _is_secret_name(name: str) -> bool:
    low = name.lower()
    return any(w in low for w in _SECRET_WORDS)


def redact_url(url: str) -> str:
    """``url`` with the password of its user-info part replaced by ``[redacted]``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{REDACTED}@{host}"))


def redact(value: Any) -> Any:
    """A deep copy of ``value`` with credential-looking values replaced by ``[redacted]``.

    Dict keys such as ``Authorization``, ``Cookie``, ``password`` or ``api_key`` lose their
    values; strings such as ``"Authorization: Bearer x"`` (a header given on the command line)
    keep the name only; URLs lose the password of their user-info part.
    """
    if isinstance(value, Mapping):
        return {
            str(k): (REDACTED if _is_secret_name(str(k)) and v is not None else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v) for v in value]
    if isinstance(value, str):
        m = _HEADER_LINE.match(value)
        if m is not None and _is_secret_name(m.group(1)):
            return f"{m.group(1)}{m.group(2)} {REDACTED}"
        if "://" in value:
            return redact_url(value)
        return value
    if value is None or isinstance(value, bool | int | float):
        return value
    return str(value)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What a report says about the run itself (who, what, when, how it ended)."""

    run_id: str
    scenario: str
    scenario_source: str
    base_url: str
    model: RunModel
    started_at: datetime
    """Timezone-aware; stored in UTC."""
    ended_at: datetime
    duration_s: float
    """Seconds of load actually run (the denominator of every rate)."""
    processes: int
    status: RunStatus
    abort_reason: str | None = None
    intperf_version: str = __version__
    options: dict[str, Any] = field(default_factory=dict)
    """Command-line options; credential values are redacted on construction."""

    def __post_init__(self) -> None:
        if self.model not in get_args(RunModel):
            raise ValueError(f"model must be one of {get_args(RunModel)}, got {self.model!r}")
        if self.status not in get_args(RunStatus):
            raise ValueError(f"status must be one of {get_args(RunStatus)}, got {self.status!r}")
        for name in ("started_at", "ended_at"):
            ts: datetime = getattr(self, name)
            if ts.tzinfo is None or ts.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware, got {ts.isoformat()}")
            object.__setattr__(self, name, ts.astimezone(UTC))
        if not math.isfinite(self.duration_s) or self.duration_s < 0:
            raise ValueError(f"duration_s must be a finite number >= 0, got {self.duration_s}")
        # Reports are shared widely: never let a credential reach one.
        object.__setattr__(self, "options", redact(self.options))
        object.__setattr__(self, "base_url", redact_url(self.base_url))

    def to_dict(self) -> dict[str, Any]:
        """The ``run`` object of the summary."""
        return {
            "run_id": self.run_id,
            "scenario": self.scenario,
            "scenario_source": self.scenario_source,
            "base_url": self.base_url,
            "model": self.model,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "duration_s": _round(self.duration_s),
            "processes": self.processes,
            "status": self.status,
            "abort_reason": self.abort_reason,
            "intperf_version": self.intperf_version,
            "options": json.loads(json.dumps(self.options, default=str)),
        }


class CriterionLike(Protocol):
    """What the report reads of a parsed criterion."""

    @property
    def text(self) -> str: ...
    @property
    def scope(self) -> str | None: ...
    @property
    def abort(self) -> bool: ...


class CriterionResultLike(Protocol):
    """What the report reads of a criterion's evaluation (``intperf.loadtest.criteria``)."""

    @property
    def criterion(self) -> CriterionLike: ...
    @property
    def passed(self) -> bool: ...
    @property
    def observed(self) -> float | None: ...
    @property
    def message(self) -> str: ...
    @property
    def window(self) -> tuple[int, int] | None: ...


def criteria_dicts(results: Iterable[CriterionResultLike]) -> list[dict[str, Any]]:
    """Turn criterion results into the plain dicts :func:`build_summary` takes."""
    return [
        {
            "criterion": r.criterion.text,
            "passed": r.passed,
            "observed": r.observed,
            "message": r.message,
            "window": None if r.window is None else [r.window[0], r.window[1]],
            "abort": r.criterion.abort,
            "scope": r.criterion.scope,
        }
        for r in results
    ]


def build_summary(
    series: TimeSeries,
    criteria: Sequence[Mapping[str, Any]],
    info: RunInfo,
    *,
    index: SeriesIndex | None = None,
) -> dict[str, Any]:
    """The JSON-able summary (``schema_version`` 1) of a run; see summary.schema.json.

    ``index`` is the series' :class:`SeriesIndex` when the caller has one already (criteria
    evaluation shares it); the aggregates are the same as merging window by window.
    """
    if index is None:
        index = SeriesIndex(series)
    names = index.names
    totals = index.totals()
    # RequestWindow.merge keeps only the first MAX_MESSAGES distinct messages; counting them
    # here instead keeps a frequent late message from being lost in the top list.
    messages = {n: Counter(c) for n, c in index.message_counts().items()}
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
        "timeseries": _timeseries(series, index),
    }


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the summary, read from the installed package."""
    text = resources.files("intperf.reports").joinpath("summary.schema.json").read_text("utf-8")
    return cast(dict[str, Any], json.loads(text))


# -- helpers -------------------------------------------------------------------------------


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _round(v: float | None, digits: int = 3) -> float | None:
    """Finite ``v`` rounded (microseconds for ms values), else None: JSON has no NaN."""
    if v is None or not math.isfinite(v):
        return None
    return round(float(v), digits)


def _ratio(num: float, den: float) -> float:
    return round(num / den, 6) if den > 0 else 0.0


def _distribution(h: LogHistogram) -> dict[str, float | None]:
    out: dict[str, float | None] = {"min": _round(h.min if h.count else None),
                                    "mean": _round(h.mean)}
    for key, q in PERCENTILES:
        out[key] = _round(h.quantile(q))
    out["max"] = _round(h.max if h.count else None)
    return out


def _stats(w: RequestWindow, messages: Counter[str], duration_s: float) -> dict[str, Any]:
    requests = w.requests
    return {
        "requests": requests,
        "ok": w.ok,
        "failed": w.failed,
        "error_rate": _ratio(w.failed, requests),
        "rps": _ratio(requests, duration_s),
        "bytes_in": w.bytes_in,
        "bytes_out": w.bytes_out,
        "latency": _distribution(w.latency),
        "service_time": _distribution(w.service),
        "errors_by_class": _errors_by_class(w.errors),
        "top_messages": [
            {"message": m, "count": c}
            for m, c in sorted(messages.items(), key=lambda mc: (-mc[1], mc[0]))[:TOP_MESSAGES]
            if c > 0
        ],
    }


def _errors_by_class(errors: Mapping[str, int]) -> dict[str, int]:
    """Non-zero counts in ErrorClass order (unknown classes last, by name)."""
    keys = sorted((k for k, v in errors.items() if v), key=lambda k: (_ERROR_ORDER.get(k, 99), k))
    return {k: errors[k] for k in keys}


def _step(first: int, last: int) -> int:
    length = last - first + 1
    for step in _STEPS:
        if math.ceil(length / step) <= MAX_POINTS:
            return step
    return math.ceil(length / MAX_POINTS)


def _timeseries(series: TimeSeries, index: SeriesIndex) -> dict[str, Any]:
    names = index.names
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
    out: dict[str, list[Any]] = {k: [0] * n for k in ("requests", "ok", "failed", "rps",
                                                      "bytes_in", "active_users", "dropped")}
    for k in ("p50", "p95", "p99", "service_p99"):
        out[k] = [None] * n
    # A point is filled when a second of its bucket is in the series (rps 0.0, not 0, for a
    # second without requests); the rest stay zero/None.
    present = [False] * n
    for s, sw in series.seconds.items():
        i = (s - first) // step
        present[i] = True
        out["active_users"][i] = max(out["active_users"][i], sw.active_users)
        out["dropped"][i] += sw.dropped
    # Each bucket's windows merged at once, in all and per request name, in window order.
    bucket = (index.second - first) // step
    totals = index.groups(bucket, n, details=True)
    service = index.merged("service", bucket, n).quantiles((0.99,))
    latency = index.merged("latency", bucket, n).quantiles((0.50, 0.95, 0.99))
    width = len(names)
    cells = bucket * width + index.name_id
    per_name = index.groups(cells, n * width)
    quantiles = _cell_quantiles(index, bucket, n, width)
    errors: dict[str, list[int]] = {}
    requests = totals.requests
    assert totals.errors is not None  # details=True
    for i in range(n):
        if not present[i]:
            continue
        out["requests"][i] = requests[i]
        out["ok"][i] = totals.ok[i]
        out["failed"][i] = totals.failed[i]
        out["rps"][i] = _round(requests[i] / step)
        out["bytes_in"][i] = totals.bytes_in[i]
        p50, p95, p99 = latency[i]
        out["p50"][i], out["p95"][i], out["p99"][i] = _round(p50), _round(p95), _round(p99)
        out["service_p99"][i] = _round(service[i][0])
        for cls, count in totals.errors[i].items():
            if count:
                errors.setdefault(cls, [0] * n)[i] = count
    by_name: dict[str, dict[str, list[Any]]] = {
        name: {"requests": [0] * n, "failed": [0] * n, "p95": [None] * n, "p99": [None] * n}
        for name in names}
    name_requests = per_name.requests
    for c, held in enumerate(per_name.windows):
        if held:  # the name has a window in the bucket
            i, row = c // width, by_name[names[c % width]]
            row["requests"][i] = name_requests[c]
            row["failed"][i] = per_name.failed[c]
            q95, q99 = quantiles[c]
            row["p95"][i], row["p99"][i] = _round(q95), _round(q99)
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


def _cell_quantiles(
    index: SeriesIndex, bucket: npt.NDArray[np.int64], n: int, width: int
) -> list[list[float]]:
    """p95 and p99 of each (bucket, request name) latency, ``bucket * width + name`` in order.

    Merged a run of buckets at a time: the merged buckets of every cell at once would take
    tens of MB for a long run with many names.
    """
    out: list[list[float]] = []
    run = max(1, _CELLS_AT_ONCE // max(1, width))
    for b0 in range(0, n, run):
        here = min(run, n - b0)
        inside = (bucket >= b0) & (bucket < b0 + here)
        cells = np.where(inside, (bucket - b0) * width + index.name_id, -1)
        merged = index.merged("latency", cells, here * width, keep=False)
        out += merged.quantiles((0.95, 0.99))
    return out


def _criterion_entry(c: Mapping[str, Any]) -> dict[str, Any]:
    window = c.get("window")
    observed = c.get("observed")
    scope = c.get("scope")
    return {
        "criterion": str(c["criterion"]),
        "passed": bool(c["passed"]),
        "observed": None if observed is None or not math.isfinite(observed) else float(observed),
        "message": str(c.get("message") or ""),
        "window": None if window is None else [int(window[0]), int(window[1])],
        "abort": bool(c.get("abort", False)),
        "scope": None if scope is None else str(scope),
    }
