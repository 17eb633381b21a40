"""``intperf reports daily``: the daily report as HTML or PDF, from a service or the storage.

With ``--server`` (or INTPERF_SERVER) the service renders it (``GET /api/v1/reports/daily``,
a viewer key); without, it is built here from the storage of ``--config`` (read-only but for
migrating the schema, like ``intperf keys``). docs/cli.md.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from intperf.errors import UsageError

err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

reports_app = typer.Typer(help="Reports on the run history: the daily report.",
                          no_args_is_help=True)

FORMATS = ("html", "pdf")


def _day(text: str | None) -> date:
    if text is None:
        return datetime.now(UTC).date() - timedelta(days=1)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--date: {text!r} is not a date (YYYY-MM-DD)") from None


def fetch_from_server(server: str, api_key: str | None, day: date, fmt: str) -> bytes:
    """The report rendered by the service at ``server``."""
    import httpx

    from intperf.errors import TargetUnreachableError
    from intperf.service.client import ServiceClient, ServiceError

    with ServiceClient(server, api_key) as c:  # validates --server
        base = c.base_url
    headers = {"X-API-Key": api_key} if api_key else {}
    try:
        resp = httpx.get(f"{base}/api/v1/reports/daily", headers=headers, timeout=120.0,
                         params={"date": day.isoformat(), "format": fmt})
    except httpx.HTTPError as exc:
        raise TargetUnreachableError(f"cannot get the report from {base}: {exc}") from None
    if resp.status_code >= 400:
        ctype = resp.headers.get("content-type", "")
        raise ServiceError(resp.status_code, resp.json() if "json" in ctype else resp.text)
    return resp.content


def render_from_storage(config: Path | None, day: date, fmt: str) -> bytes:
    """The report built from the configured storage in this process."""
    from intperf.cli_service import settings_from
    from intperf.reports.daily_render import render_html, render_pdf
    from intperf.reports.daily_source import load_daily_report
    from intperf.store import Database

    settings = settings_from(config)
    with Database(settings.intperf.storage_url) as db:
        db.migrate()
        report = load_daily_report(db, day)
    html = render_html(report)
    return render_pdf(html) if fmt == "pdf" else html.encode("utf-8")


@reports_app.command("daily")
def daily_command(
    day: Annotated[str | None, typer.Option("--date", help="UTC day, YYYY-MM-DD "
                                            "(default: yesterday).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="html or pdf.")] = "html",
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="File to write (default: intperf-daily-DATE.html|pdf; '-' for "
                      "standard output).")] = None,
    server: Annotated[str | None, typer.Option(
        "--server", envvar="INTPERF_SERVER",
        help="Ask this service for the report (else build it from --config's storage).")]
    = None,
    api_key: Annotated[str | None, typer.Option("--api-key", envvar="INTPERF_API_KEY",
                                                help="API key for --server.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="application.yml")] = None,
) -> None:
    """Write the daily report of a UTC day: runs, verdicts, regressions, 30-day trends."""
    if fmt not in FORMATS:
        raise UsageError(f"--format: {fmt!r} is not html or pdf")
    wanted = _day(day)
    data = (fetch_from_server(server, api_key, wanted, fmt) if server is not None
            else render_from_storage(config, wanted, fmt))
    if out_file is not None and str(out_file) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    path = out_file or Path(f"intperf-daily-{wanted.isoformat()}.{fmt}")
    path.write_bytes(data)
    err.print(f"wrote {path} ({len(data):,} bytes)")
