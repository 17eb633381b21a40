"""JMeter JTL results in CSV: any subset and order of columns, with or without a header.

A file without a header is read in JMeter's default column order (``DEFAULT_COLUMNS``,
what ``jmeter.save.saveservice.*`` writes out of the box); when its first row has N fields
they are the first N columns of that order. Every row must have as many fields as the header
(or first row): a shorter one, such as a truncated last line, is skipped and counted.
Rows are read with the ``csv`` module one at a time, so quoted fields may hold commas,
quotes and newlines.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from intperf.errors import UsageError
from intperf.loadtest.importers._common import (
    ImportResult,
    ReplacementWatch,
    SeriesBuilder,
    classify,
    open_text,
    parse_bool,
    require_nonempty,
    result_from,
    to_int,
)

FORMAT = "jtl-csv"

#: JMeter's default CSV columns, in the order it writes them.
DEFAULT_COLUMNS: tuple[str, ...] = (
    "timeStamp", "elapsed", "label", "responseCode", "responseMessage", "threadName",
    "dataType", "success", "failureMessage", "bytes", "sentBytes", "grpThreads",
    "allThreads", "URL", "Latency", "IdleTime", "Connect",
)
_KNOWN = {c.lower(): c for c in DEFAULT_COLUMNS}
_TIME_FORMATS = ("%Y/%m/%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S",
                 "%Y-%m-%d %H:%M:%S")


def _is_header(row: Sequence[str]) -> bool:
    """A first row is a header when it names timeStamp or elapsed (any case)."""
    names = {c.strip().lower() for c in row}
    return "timestamp" in names or "elapsed" in names


def parse_timestamp_ms(text: str) -> float:
    """A JTL ``timeStamp``: epoch milliseconds, or a date-time (UTC assumed when naive)."""
    text = text.strip()
    try:
        return float(int(text))
    except ValueError:
        pass
    for fmt in _TIME_FORMATS:
        try:
            ts = datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        return ts.timestamp() * 1000.0
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a timestamp: {text!r}") from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.timestamp() * 1000.0


#: Marks a row the csv module refused (a NUL byte, a field over its size limit).
BAD_ROW: list[str] = []


def _rows(path: Path, watch_holder: list[ReplacementWatch]) -> Iterator[list[str]]:
    with open_text(path) as f:
        watch = ReplacementWatch(f)
        watch_holder.append(watch)
        reader = csv.reader(watch)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error:
                yield BAD_ROW  # the reader resumes at the next record
                continue
            yield row


def import_jtl_csv(path: Path, scenario: str | None = None) -> ImportResult:
    """Stream a CSV JTL into a time series (see module docstring for the column rules)."""
    require_nonempty(path)
    watches: list[ReplacementWatch] = []
    rows_iter = _rows(path, watches)
    first = next(rows_iter, None)
    while first is not None and not any(c.strip() for c in first):
        first = next(rows_iter, None)
    if first is None:
        raise UsageError(f"{path}: the file is empty")
    warnings: list[str] = []
    pending: list[list[str]] = []
    if _is_header(first):
        columns = [_KNOWN.get(c.strip().lower(), c.strip()) for c in first]
        missing = [c for c in ("timeStamp", "elapsed") if c not in columns]
        if missing:
            raise UsageError(f"{path}: the JTL header lacks the column(s) {', '.join(missing)}")
    else:
        if len(first) < 2:
            raise UsageError(f"{path}: not a JTL: a headerless row needs timeStamp and elapsed")
        columns = list(DEFAULT_COLUMNS[: len(first)])
        columns += [f"column{i + 1}" for i in range(len(columns), len(first))]
        warnings.append(
            "no header line: columns read in JMeter's default order "
            "(timeStamp,elapsed,label,responseCode,...)"
        )
        pending.append(first)
    index = {c: i for i, c in enumerate(columns)}
    width = len(columns)
    i_ts, i_el = index["timeStamp"], index["elapsed"]
    i_label, i_code = index.get("label"), index.get("responseCode")
    i_msg, i_fail = index.get("responseMessage"), index.get("failureMessage")
    i_ok, i_in, i_out = index.get("success"), index.get("bytes"), index.get("sentBytes")
    i_grp = index.get("allThreads")
    builder = SeriesBuilder()
    n_rows = skipped = 0
    active: dict[int, int] = {}

    def field(row: list[str], i: int | None) -> str:
        return row[i] if i is not None and i < len(row) else ""

    def source() -> Iterator[list[str]]:
        yield from pending
        yield from rows_iter

    for row in source():
        if row is BAD_ROW:
            skipped += 1
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != width:  # a truncated (or damaged) line
            skipped += 1
            continue
        try:
            ts_ms = parse_timestamp_ms(row[i_ts])
            elapsed = float(row[i_el])
        except ValueError:
            skipped += 1
            continue
        if elapsed < 0:
            skipped += 1
            continue
        ok_text = field(row, i_ok)
        ok = parse_bool(ok_text) if ok_text else None
        code = field(row, i_code)
        fail_msg, resp_msg = field(row, i_fail), field(row, i_msg)
        err = classify(code, ok, fail_msg, resp_msg)
        message = (fail_msg or resp_msg or code) if err is not None else None
        sec = int(ts_ms // 1000)
        builder.sample(sec, field(row, i_label) or "(unnamed)", elapsed, err, message,
                       to_int(field(row, i_in) or None), to_int(field(row, i_out) or None))
        if i_grp is not None:
            users = to_int(field(row, i_grp) or None)
            if users > active.get(sec, 0):
                active[sec] = users
        n_rows += 1
    for sec, users in active.items():
        builder.second(sec).active_users = users
    if watches and watches[0].seen:
        warnings.append("the file is not valid UTF-8: undecodable bytes were replaced by U+FFFD")
    return result_from(builder, fmt=FORMAT, scenario=scenario or path.stem,
                       fallback_start=datetime.fromtimestamp(path.stat().st_mtime, UTC),
                       warnings=warnings, rows=n_rows, skipped=skipped)
