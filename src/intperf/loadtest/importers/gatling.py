"""Gatling ``simulation.log`` in the tab-separated text format of Gatling 3.x (up to 3.12).

Records: ``RUN`` (simulation class and start), ``USER`` (START/END of a virtual user),
``REQUEST`` (one request), ``GROUP`` (a group's cumulated time) and ``ERROR`` (a crash
message). The 3.x versions differ in leading columns (user id, scenario) before the fields
we need, so a ``REQUEST`` is read from its status field backwards: ``... group? name start
end OK|KO message?``. The binary log of later Gatling releases is recognised and refused.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from intperf.errors import UsageError
from intperf.loadtest.importers._common import (
    ImportResult,
    ReplacementWatch,
    SeriesBuilder,
    message_error_class,
    open_text,
    require_nonempty,
    result_from,
)
from intperf.loadtest.results import ErrorClass

FORMAT = "gatling-log"

BINARY_LOG_MESSAGE = (
    "{path}: this is a binary Gatling simulation.log. Gatling 3.13 switched simulation.log "
    "to a binary format that only its own report generator reads (its layout is internal "
    "and changes between releases), so intperf cannot import it. Re-run the simulation "
    "with Gatling 3.12 or earlier, or import a text/JSON/CSV export of the results instead."
)
_STATUSES = {"OK", "KO"}


def looks_binary(head: bytes) -> bool:
    """True when ``head`` holds a NUL byte or is more than 10 % other control bytes.

    Text result files never hold NUL (the binary Gatling log is full of them: its integers
    are written big-endian); a stray control character in a label must not trip this.
    """
    if b"\x00" in head:
        return True
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    return control * 10 > len(head)


def check_text_log(path: Path) -> None:
    """Raise UsageError explaining the binary format when ``path`` is a binary log."""
    with path.open("rb") as f:
        head = f.read(4096)
    if looks_binary(head):
        raise UsageError(BINARY_LOG_MESSAGE.format(path=path))


def _is_int(text: str) -> bool:
    return text.strip().lstrip("-").isdigit()


def _request(fields: list[str]) -> tuple[str, str, int, int, bool, str] | None:
    """(group, name, start_ms, end_ms, ok, message) of a REQUEST record, or None."""
    for i in range(len(fields) - 1, 3, -1):
        if fields[i] in _STATUSES and _is_int(fields[i - 1]) and _is_int(fields[i - 2]):
            name = fields[i - 3]
            group = fields[i - 4] if i - 4 >= 1 else ""
            message = fields[i + 1].strip() if i + 1 < len(fields) else ""
            return (group, name, int(fields[i - 2]), int(fields[i - 1]),
                    fields[i] == "OK", message)
    return None


def _user(fields: list[str]) -> tuple[bool, int] | None:
    """(is_start, timestamp_ms) of a USER record, or None."""
    for i, f in enumerate(fields):
        if f in ("START", "END"):
            stamps = [int(x) for x in fields[i + 1 :] if _is_int(x)]
            if not stamps:
                return None
            # 3.0-3.3 write "START start end"/"END start end"; later ones one timestamp.
            return (f == "START", stamps[0] if f == "START" else stamps[-1])
    return None


def import_gatling(path: Path, scenario: str | None = None) -> ImportResult:
    """Stream a text ``simulation.log`` into a time series."""
    require_nonempty(path)
    check_text_log(path)
    builder = SeriesBuilder()
    warnings: list[str] = []
    rows = skipped = 0
    sim_name: str | None = None
    run_start: int | None = None
    starts: Counter[int] = Counter()
    ends: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    groups = 0
    with open_text(path) as f:
        watch = ReplacementWatch(f)
        for raw in watch:
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            kind = fields[0]
            if kind == "REQUEST":
                req = _request(fields)
                if req is None:
                    skipped += 1
                    continue
                _group, name, start, end, ok, message = req
                err = None if ok else message_error_class(message) if message else ErrorClass.OTHER
                if err is ErrorClass.OTHER and message and "status" in message.lower():
                    err = ErrorClass.CHECK_FAILED  # e.g. "status.find.in(200), but found 500"
                builder.sample(start // 1000, name, float(max(end - start, 0)), err,
                               message if err is not None else None)
                rows += 1
            elif kind == "USER":
                user = _user(fields)
                if user is None:
                    skipped += 1
                    continue
                (starts if user[0] else ends)[user[1] // 1000] += 1
            elif kind == "RUN":
                if len(fields) > 1:
                    sim_name = fields[1].strip() or None
                stamps = [int(x) for x in fields[2:] if _is_int(x)]
                if stamps:
                    run_start = stamps[0]
            elif kind == "GROUP":
                groups += 1
            elif kind == "ERROR":
                errors[fields[1].strip() if len(fields) > 1 else ""] += 1
            elif kind == "ASSERTION":
                continue
            else:
                skipped += 1
    _apply_users(builder, starts, ends)
    if watch.seen:
        warnings.append("the file is not valid UTF-8: undecodable bytes were replaced by U+FFFD")
    if errors:
        top = "; ".join(f"{m!r} x{n}" for m, n in errors.most_common(3))
        warnings.append(f"{sum(errors.values())} Gatling ERROR record(s) (crashes in the "
                        f"simulation, not requests): {top}")
    fallback = (datetime.fromtimestamp(run_start / 1000, UTC) if run_start is not None
                else datetime.fromtimestamp(path.stat().st_mtime, UTC))
    return result_from(builder, fmt=FORMAT, scenario=scenario or sim_name or path.stem,
                       fallback_start=fallback, warnings=warnings, rows=rows, skipped=skipped,
                       extra={"groups": groups, "errors": sum(errors.values())})


def _apply_users(builder: SeriesBuilder, starts: Counter[int], ends: Counter[int]) -> None:
    """Active users per second: users started so far (this second included) minus those
    ended before it, for every second holding requests or user events."""
    running = 0
    for sec in sorted(set(starts) | set(ends) | set(builder.epoch_seconds())):
        sw = builder.second(sec)
        sw.started_users = starts[sec]
        sw.active_users = running + starts[sec]
        running += starts[sec] - ends[sec]
