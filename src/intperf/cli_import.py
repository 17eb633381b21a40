"""``intperf import``: turn a JMeter, Gatling, k6 or Locust result file into a stored run.

:func:`save_import` is shared with the service's import endpoint: it evaluates criteria
(the default ones unless given) on the imported series, so an imported run is ``passed``
or ``failed`` like a run of our own, and stores it with ``test_type = "IMPORT:<format>"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from intperf import __version__
from intperf.loadtest.importers import FORMATS, ImportResult, import_file

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="application.yml")]
#: Second windows written per statement.
BATCH_SECONDS = 500


def save_import(db: Any, result: ImportResult, *, source: str,
                criteria_texts: Sequence[str] | None = None,
                requested_by: str | None = None) -> tuple[str, str]:
    """Store ``result`` as a finished run in ``db`` (a ``Database``); (run id, status)."""
    from intperf.loadtest.criteria import DEFAULT_CRITERIA, evaluate_all, parse_all
    from intperf.reports.summary import RunInfo, RunStatus, build_summary, criteria_dicts
    from intperf.store import RunRecord, RunRepository
    from intperf.store.records import new_id

    criteria = parse_all(list(criteria_texts) if criteria_texts else list(DEFAULT_CRITERIA))
    duration = result.run_duration_s
    crit = criteria_dicts(evaluate_all(criteria, result.series, run_seconds=duration))
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
    summary = build_summary(result.series, crit, info)
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


def import_command(
    file: Annotated[Path, typer.Argument(help="JTL (CSV/XML), simulation.log, k6 JSON, "
                                             "Locust *_stats_history.csv")],
    fmt: Annotated[str | None, typer.Option(
        "--format", help=f"One of {', '.join(FORMATS)}; detected when omitted.")] = None,
    scenario: Annotated[str | None, typer.Option(
        help="Scenario name to file the run under (default: from the file).")] = None,
    criteria: Annotated[list[str] | None, typer.Option(
        "--criteria", "-c", help="Success criterion (repeatable; default criteria when none).",
    )] = None,
    config: ConfigOpt = None,
) -> None:
    """Import another tool's result file into the run history (exit 0 whatever the verdict)."""
    from intperf.cli import out
    from intperf.cli_service import settings_from
    from intperf.store import Database

    settings = settings_from(config)
    result = import_file(file, fmt, scenario)
    with Database(settings.intperf.storage_url) as db:
        db.migrate()
        run_id, status = save_import(db, result, source=file.name, criteria_texts=criteria)
    out.print(f"imported {result.rows} row(s) from {file} ({result.source_format}), "
              f"skipped {result.skipped}")
    for w in result.warnings:
        out.print(f"[yellow]warning:[/] {w}", highlight=False)
    out.print(f"run {run_id}: {status}")
