"""Storing an imported result file as a finished run: shared by ``intperf import`` and the
service's import endpoint.

Criteria (the default ones unless given) are evaluated on the imported series, so an
imported run is ``passed`` or ``failed`` like a run of our own; it is stored with
``test_type = "IMPORT:<format>"``, and a failed import leaves no half-stored run behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from intperf import __version__
from intperf.loadtest.importers import ImportResult
from intperf.loadtest.importers._common import gc_paused

#: Second windows written per statement.
BATCH_SECONDS = 500


def save_import(db: Any, result: ImportResult, *, source: str,
                criteria_texts: Sequence[str] | None = None,
                requested_by: str | None = None) -> tuple[str, str]:
    """Store ``result`` as a finished run in ``db`` (a ``Database``); (run id, status)."""
    with gc_paused():  # the windows hold ~1 M objects per 10 M rows, none in a cycle
        return _save(db, result, source=source, criteria_texts=criteria_texts,
                     requested_by=requested_by)


def _save(db: Any, result: ImportResult, *, source: str,
          criteria_texts: Sequence[str] | None, requested_by: str | None) -> tuple[str, str]:
    from intperf.loadtest.criteria import DEFAULT_CRITERIA, evaluate_all, parse_all
    from intperf.loadtest.results import SeriesIndex
    from intperf.reports.summary import RunInfo, RunStatus, build_summary, criteria_dicts
    from intperf.store import RunRecord, RunRepository
    from intperf.store.records import new_id

    criteria = parse_all(list(criteria_texts) if criteria_texts else list(DEFAULT_CRITERIA))
    duration = result.run_duration_s
    # One index of the windows serves the criteria and the summary: each aggregate is merged
    # once, in bulk (the same results as merging window by window).
    index = SeriesIndex(result.series)
    crit = criteria_dicts(evaluate_all(criteria, result.series, run_seconds=duration,
                                       index=index))
    status: RunStatus = "passed" if all(c["passed"] for c in crit) else "failed"
    run_id = new_id()
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
    del index  # its arrays are not needed to store the windows
    runs = RunRepository(db)
    runs.create(RunRecord(id=run_id, scenario=result.scenario,
                          test_type=f"IMPORT:{result.source_format}", status="running",
                          started_at=result.started_at, requested_by=requested_by,
                          options=options))
    try:
        windows = [result.series.seconds[s] for s in sorted(result.series.seconds)]
        for i in range(0, len(windows), BATCH_SECONDS):
            runs.append_seconds(run_id, result.started_at, windows[i : i + BATCH_SECONDS])
        runs.save_result(run_id, summary, crit)
        runs.set_status(run_id, status, verdict=summary["verdict"], ended_at=ended,
                        duration_s=duration)
    except BaseException:
        runs.delete(run_id)  # no half-imported run in the history
        raise
    return run_id, status
