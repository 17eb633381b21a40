"""Storing an imported result file as a finished run: shared by ``intperf import`` and the
service's import endpoint.

Criteria (the default ones unless given) are evaluated on the imported series, so an
imported run is ``passed`` or ``failed`` like a run of our own; it is stored with
``test_type = "IMPORT:<format>"``, and a failed import leaves no half-stored run behind.

:func:`save_import` is :func:`prepare_import` (criteria and summary, no database) followed by
:func:`store_import`. ``intperf import`` calls the two itself and opens the database in
between, so that SQLAlchemy (~30 MB once loaded) is not in memory while the summary is built
(issue 4's benchmark: the peak is reached there).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from intperf import __version__
from intperf.loadtest.importers import ImportResult
from intperf.loadtest.importers._common import gc_paused, trim_heap

#: Second windows written per statement (a commit each: 100 took ~0.35 s more CPU for 5,000
#: seconds, with a ~25 MB lower peak while storing, which is not the import's peak).
BATCH_SECONDS = 500


@dataclass(slots=True)
class PreparedImport:
    """An imported run ready to store: its criteria results and summary are computed."""

    result: ImportResult
    run_id: str
    status: str
    """``passed`` or ``failed``: whether every criterion passed."""
    criteria: list[dict[str, Any]]
    summary: dict[str, Any]
    options: dict[str, Any]
    ended_at: datetime
    duration_s: float
    requested_by: str | None


def save_import(db: Any, result: ImportResult, *, source: str,
                criteria_texts: Sequence[str] | None = None,
                requested_by: str | None = None) -> tuple[str, str]:
    """Store ``result`` as a finished run in ``db`` (a ``Database``); (run id, status)."""
    prepared = prepare_import(result, source=source, criteria_texts=criteria_texts,
                              requested_by=requested_by)
    return store_import(db, prepared)


def prepare_import(result: ImportResult, *, source: str,
                   criteria_texts: Sequence[str] | None = None,
                   requested_by: str | None = None) -> PreparedImport:
    """Evaluate the criteria and build the summary of ``result`` (nothing is stored)."""
    with gc_paused():  # the windows hold ~1 M objects per 10 M rows, none in a cycle
        prepared = _prepare(result, source=source, criteria_texts=criteria_texts,
                            requested_by=requested_by)
    trim_heap()  # the index's arrays are gone: give their pages back before storing
    return prepared


def _prepare(result: ImportResult, *, source: str, criteria_texts: Sequence[str] | None,
             requested_by: str | None) -> PreparedImport:
    from intperf.loadtest.criteria import DEFAULT_CRITERIA, evaluate_all, parse_all
    from intperf.loadtest.results import SeriesIndex
    from intperf.reports.summary import RunInfo, RunStatus, build_summary, criteria_dicts

    criteria = parse_all(list(criteria_texts) if criteria_texts else list(DEFAULT_CRITERIA))
    duration = result.run_duration_s
    # One index of the windows serves the criteria and the summary: each aggregate is merged
    # once, in bulk (the same results as merging window by window).
    index = SeriesIndex(result.series)
    crit = criteria_dicts(evaluate_all(criteria, result.series, run_seconds=duration,
                                       index=index))
    status: RunStatus = "passed" if all(c["passed"] for c in crit) else "failed"
    run_id = uuid.uuid4().hex  # intperf.store.records.new_id (the store loads SQLAlchemy)
    result.scenario = result.scenario[:200]  # the runs table's scenario column holds 200
    ended = result.started_at + timedelta(seconds=duration)
    options = {"imported_from": result.source_format, "file": source, "rows": result.rows,
               "skipped": result.skipped, "warnings": list(result.warnings), **{
                   f"extra_{k}": v for k, v in result.extra.items()}}
    info = RunInfo(run_id=run_id, scenario=result.scenario, scenario_source=source,
                   base_url="", model="closed", started_at=result.started_at, ended_at=ended,
                   duration_s=duration, processes=1, status=status,
                   intperf_version=__version__, options=options)
    summary = build_summary(result.series, crit, info, index=index)
    return PreparedImport(result, run_id, status, crit, summary, options, ended, duration,
                          requested_by)


def store_import(db: Any, prepared: PreparedImport) -> tuple[str, str]:
    """Store a prepared import as a finished run in ``db``; (run id, status)."""
    with gc_paused():
        return _store(db, prepared)


def _store(db: Any, p: PreparedImport) -> tuple[str, str]:
    from intperf.store import RunRecord, RunRepository

    result = p.result
    runs = RunRepository(db)
    runs.create(RunRecord(id=p.run_id, scenario=result.scenario,
                          test_type=f"IMPORT:{result.source_format}", status="running",
                          started_at=result.started_at, requested_by=p.requested_by,
                          options=p.options))
    try:
        windows = [result.series.seconds[s] for s in sorted(result.series.seconds)]
        for i in range(0, len(windows), BATCH_SECONDS):
            runs.append_seconds(p.run_id, result.started_at, windows[i : i + BATCH_SECONDS])
        runs.save_result(p.run_id, p.summary, p.criteria)
        runs.set_status(p.run_id, p.status, verdict=p.summary["verdict"], ended_at=p.ended_at,
                        duration_s=p.duration_s)
    except BaseException:
        runs.delete(p.run_id)  # no half-imported run in the history
        raise
    return p.run_id, p.status
