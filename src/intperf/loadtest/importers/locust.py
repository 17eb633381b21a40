"""Locust ``--csv`` stats history (``*_stats_history.csv``) as a time series.

Each row is one report tick of one request (Type, Name). The requests of the tick are the
increase of ``Total Request Count`` since that request's previous row (failures likewise
with ``Total Failure Count``), and their histogram is rebuilt from the row's percentile
columns as weighted pseudo-samples (see ``k6.pseudo_samples``). This is approximate twice:
the percentiles are Locust's "current" ones (a sliding window of about ten seconds), and
only the quantiles in the columns survive. Per-request rows exist only with
``--csv-full-history``; otherwise only the ``Aggregated`` rows are there and are used (with
a warning), else ``Aggregated`` rows are skipped.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from intperf.errors import UsageError
from intperf.loadtest.importers._common import (
    ImportResult,
    ReplacementWatch,
    SeriesBuilder,
    open_text,
    require_nonempty,
    result_from,
)
from intperf.loadtest.importers.k6 import pseudo_samples
from intperf.loadtest.results import ErrorClass

FORMAT = "locust-csv"
AGGREGATED = "Aggregated"


def _pct(column: str) -> float | None:
    """The quantile of a percentile column header such as ``99.9%``."""
    if not column.endswith("%"):
        return None
    try:
        q = float(column[:-1]) / 100.0
    except ValueError:
        return None
    return q if 0.0 < q <= 1.0 else None


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None  # "N/A" before the first response


def import_locust(path: Path, scenario: str | None = None) -> ImportResult:
    """Read a Locust stats history CSV (two passes: the second only when needed)."""
    require_nonempty(path)
    has_named = _has_named_rows(path)
    builder = SeriesBuilder()
    warnings: list[str] = []
    if not has_named:
        warnings.append("only Aggregated rows (Locust ran without --csv-full-history): "
                        "the run has one request name, 'Aggregated'")
    rows = skipped = 0
    last_total: dict[str, tuple[int, int]] = {}
    users: dict[int, int] = {}
    with open_text(path) as f:
        watch = ReplacementWatch(f)
        reader = csv.DictReader(watch)
        pcts = {c: q for c in (reader.fieldnames or []) if (q := _pct(c)) is not None}
        for row in reader:
            name = row.get("Name") or ""
            if (name == AGGREGATED) == has_named:
                continue
            try:
                sec = int(float(row["Timestamp"]))
                total = int(row["Total Request Count"])
                total_failed = int(row["Total Failure Count"])
                user_count = int(row.get("User Count") or 0)
            except (KeyError, TypeError, ValueError):
                skipped += 1
                continue
            label = name if name == AGGREGATED else f"{row.get('Type') or ''} {name}".strip()
            prev_total, prev_failed = last_total.get(label, (0, 0))
            last_total[label] = (total, total_failed)
            n = max(total - prev_total, 0)
            n_failed = min(max(total_failed - prev_failed, 0), n)
            users[sec] = max(users.get(sec, 0), user_count)
            rows += 1
            if n == 0:
                continue
            points = {q: v for c, q in pcts.items() if (v := _num(row.get(c) or "")) is not None}
            w = builder.window(sec, label).requests[label]
            w.ok += n - n_failed
            if n_failed:
                w.add_error(ErrorClass.OTHER, "failed (Locust's history does not say why)",
                            n_failed)
            builder.weighted(sec, label, pseudo_samples(n, points, None, None))
    if rows == 0 and skipped == 0:
        raise UsageError(f"{path}: the Locust stats history has no data rows")
    for sec, n in users.items():
        builder.second(sec).active_users = n
    warnings.append("Locust history holds percentiles, not samples: per-second histograms are "
                    "rebuilt from them and are approximate")
    if watch.seen:
        warnings.append("the file is not valid UTF-8: undecodable bytes were replaced by U+FFFD")
    return result_from(builder, fmt=FORMAT, scenario=scenario or path.stem,
                       fallback_start=datetime.fromtimestamp(path.stat().st_mtime, UTC),
                       warnings=warnings, rows=rows, skipped=skipped)


def _has_named_rows(path: Path) -> bool:
    """Whether the history holds per-request rows (``--csv-full-history``)."""
    with open_text(path) as f:
        for row in csv.DictReader(f):
            name = row.get("Name")
            if name and name != AGGREGATED:
                return True
    return False
