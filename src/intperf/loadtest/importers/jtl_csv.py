"""JMeter JTL results in CSV: any subset and order of columns, with or without a header.

A file without a header is read in JMeter's default column order (``DEFAULT_COLUMNS``,
what ``jmeter.save.saveservice.*`` writes out of the box); when its first row has N fields
they are the first N columns of that order. Every row must have as many fields as the header
(or first row): a shorter one, such as a truncated last line, is skipped and counted.
Quoted fields may hold commas, quotes and newlines.

Two readers give the same result: every count, histogram (sum included), message, window
order and warning (``tests/unit/loadtest/importers/test_import_jtl_fast.py`` compares them
on generated awkward files). The choice is made per file:

* ``jtl_fast`` (pyarrow's streaming CSV reader, then NumPy a record batch at a time; about
  1.6 M rows/s on 2 cores) reads every file it can read exactly as the csv module does:
  quoted commas, quotes and newlines, non-UTF-8 bytes, blank, short, long and truncated
  rows, date-time or otherwise unusual values (read by the same functions as below).
* The ``csv`` module, one row at a time (:func:`import_jtl_csv_rows`, ~200 k rows/s), reads
  the rest: a header spanning lines, a byte-order mark before a headerless first row, a
  first row not within the first MiB, a field over ``csv.field_size_limit()``, byte or
  thread counts too large to sum in 64 bits, a damaged row the two parsers could split
  differently, and any file whose reading raises an error (which is then this reader's).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
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
from intperf.loadtest.importers.jtl_columns import (
    DEFAULT_COLUMNS,
    FORMAT,
    REPLACED_WARNING,
    is_blank,
    layout_of,
    parse_timestamp_ms,
)
from intperf.loadtest.importers.jtl_fast import import_jtl_fast

__all__ = ["DEFAULT_COLUMNS", "FORMAT", "import_jtl_csv", "import_jtl_csv_rows",
           "parse_timestamp_ms"]

def import_jtl_csv(path: Path, scenario: str | None = None) -> ImportResult:
    """Stream a CSV JTL into a time series (see module docstring for the column rules)."""
    require_nonempty(path)
    result = import_jtl_fast(path, scenario)
    return result if result is not None else import_jtl_csv_rows(path, scenario)


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


def import_jtl_csv_rows(path: Path, scenario: str | None = None) -> ImportResult:
    """:func:`import_jtl_csv` with the csv module, one row at a time (the reference reader)."""
    require_nonempty(path)
    watches: list[ReplacementWatch] = []
    rows_iter = _rows(path, watches)
    first = next(rows_iter, None)
    while first is not None and is_blank(first):
        first = next(rows_iter, None)
    if first is None:
        raise UsageError(f"{path}: the file is empty")
    layout = layout_of(path, first)
    warnings = layout.warnings
    pending = [] if layout.header else [first]
    index = {c: i for i, c in enumerate(layout.columns)}
    width = layout.width
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
        warnings.append(REPLACED_WARNING)
    return result_from(builder, fmt=FORMAT, scenario=scenario or path.stem,
                       fallback_start=datetime.fromtimestamp(path.stat().st_mtime, UTC),
                       warnings=warnings, rows=n_rows, skipped=skipped)
