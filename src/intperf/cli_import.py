"""``intperf import``: turn a JMeter, Gatling, k6 or Locust result file into a stored run.

The storing is :func:`intperf.service.importing.save_import`'s two steps, shared with the
service's import endpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from intperf.loadtest.importers import FORMATS, import_file
from intperf.loadtest.importers._common import gc_paused
from intperf.service.importing import prepare_import, store_import

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="application.yml")]


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

    settings = settings_from(config)
    # No cyclic collection in between either: with the windows in memory (~1 M objects, no
    # cycle) loading SQLAlchemy would set off full passes over them (~0.4 s CPU).
    with gc_paused():
        result = import_file(file, fmt, scenario)
        prepared = prepare_import(result, source=file.name, criteria_texts=criteria)
        # The store is loaded once the summary is built: SQLAlchemy's ~30 MB would add to
        # the peak of reading the file and of building the summary (issue 4's benchmark).
        from intperf.store import Database

        with Database(settings.intperf.storage_url) as db:
            db.migrate()
            run_id, status = store_import(db, prepared)
    out.print(f"imported {result.rows} row(s) from {file} ({result.source_format}), "
              f"skipped {result.skipped}")
    for w in result.warnings:
        out.print(f"[yellow]warning:[/] {w}", highlight=False)
    out.print(f"run {run_id}: {status}")
