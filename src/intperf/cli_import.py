"""``intperf import``: turn a JMeter, Gatling, k6 or Locust result file into a stored run.

The storing is :func:`intperf.service.importing.save_import`, shared with the service's
import endpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from intperf.loadtest.importers import FORMATS, import_file
from intperf.service.importing import save_import

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
