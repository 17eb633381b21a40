"""``intperf db analyze``: analyze a PostgreSQL (read-only) and print the findings, the top
statements, index, pool and tuning advice as a Rich report or JSON (docs/dbopt.md).

Exit codes: 0 the analysis ran (whatever it found), 2 bad input, 3 the target is unreachable or
the session was lost (the message names the DSN with its password redacted).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from intperf.errors import UsageError

if TYPE_CHECKING:
    from intperf.dbopt.analyze import AnalysisOptions
    from intperf.dbopt.report import AnalysisReport

db_app = typer.Typer(help="Analyze PostgreSQL databases: findings, index, pool and tuning "
                          "advice.", no_args_is_help=True)

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def build_options(*, budget: str | None, max_indexes: int, workload_type: str,
                  memory: str | None, cores: int | None, storage: str | None, disks: int,
                  app_instances: int, sample: str | None, top: int,
                  statement_timeout: str, lock_timeout: str, index_advice: bool
                  ) -> AnalysisOptions:
    """The analysis options from the command line's texts; UsageError naming the option."""
    from intperf.dbopt.analyze import AnalysisOptions
    from intperf.dbopt.tuning import STORAGE_TYPES, WORKLOAD_TYPES, parse_size
    from intperf.units import parse_duration

    def size(name: str, text: str | None) -> int | None:
        try:
            return None if text is None else parse_size(text)
        except ValueError as exc:
            raise UsageError(f"{name}: {exc}") from None

    def millis(name: str, text: str) -> int:
        try:
            value = parse_duration(text)
        except ValueError as exc:
            raise UsageError(f"{name}: {exc}") from None
        if value <= 0:
            raise UsageError(f"{name}: must be positive")
        return max(1, round(value * 1000))

    if workload_type not in WORKLOAD_TYPES:
        raise UsageError(f"--workload-type: {workload_type!r} is not one of "
                         f"{', '.join(WORKLOAD_TYPES)}")
    if storage is not None and storage not in STORAGE_TYPES:
        raise UsageError(f"--storage: {storage!r} is not one of {', '.join(STORAGE_TYPES)}")
    for name, value, least in (("--max-indexes", max_indexes, 0), ("--cores", cores, 1),
                               ("--disks", disks, 1), ("--app-instances", app_instances, 1),
                               ("--top", top, 1)):
        if value is not None and value < least:
            raise UsageError(f"{name}: must be at least {least}")
    try:
        sample_s = parse_duration(sample) if sample else 0.0
    except ValueError as exc:
        raise UsageError(f"--sample: {exc}") from None
    if sample_s < 0 or sample_s > 3600:
        raise UsageError("--sample: between 0s and 1h")
    return AnalysisOptions(
        budget_bytes=size("--budget", budget), max_indexes=max_indexes,
        workload_type=workload_type, memory_bytes=size("--memory", memory), cores=cores,
        storage=storage, disks=disks, app_instances=app_instances, sample_seconds=sample_s,
        top=top, statement_timeout_ms=millis("--statement-timeout", statement_timeout),
        lock_timeout_ms=millis("--lock-timeout", lock_timeout), advise_indexes=index_advice)


@db_app.command("analyze")
def analyze_command(
    dsn: Annotated[str, typer.Option(
        "--dsn", help="libpq connection string or URL; a role with pg_read_all_stats is "
                      "enough. Leave the password out to have libpq read PGPASSWORD or "
                      "~/.pgpass.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    budget: Annotated[str | None, typer.Option(
        help="Disk budget for recommended indexes, e.g. 500MB.")] = None,
    max_indexes: Annotated[int, typer.Option(help="At most this many new indexes.")] = 10,
    workload_type: Annotated[str, typer.Option(
        help="web, oltp, dw, desktop or mixed (PGTune's workload types).")] = "oltp",
    memory: Annotated[str | None, typer.Option(
        help="The server's memory, e.g. 8GB (default: read through the server or, on "
             "loopback, this machine's).")] = None,
    cores: Annotated[int | None, typer.Option(help="The server's CPU cores.")] = None,
    storage: Annotated[str | None, typer.Option(
        help="ssd, hdd, san or nvme (default: ssd, assumed).")] = None,
    disks: Annotated[int, typer.Option(help="Spinning disks (for the pool formula).")] = 1,
    app_instances: Annotated[int, typer.Option(
        help="Application instances sharing the database (divides the pool).")] = 1,
    sample: Annotated[str | None, typer.Option(
        help="Measure the load for this long, e.g. 30s (default: the mean since "
             "pg_stat_statements was reset).")] = None,
    top: Annotated[int, typer.Option(help="Statements per top list.")] = 10,
    statement_timeout: Annotated[str, typer.Option(
        help="statement_timeout of our session.")] = "5s",
    lock_timeout: Annotated[str, typer.Option(help="lock_timeout of our session.")] = "1s",
    index_advice: Annotated[bool, typer.Option(
        "--index-advice/--no-index-advice", help="Run the HypoPG index advisor.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
    apply: Annotated[bool, typer.Option(
        "--apply", help="Create the recommended indexes (CREATE INDEX CONCURRENTLY), check "
                        "plans use them, measure, drop the ones that did not help.")] = False,
    measure: Annotated[str, typer.Option(
        help="With --apply: how long to measure before and after, e.g. 60s.")] = "60s",
    maintenance_window: Annotated[str | None, typer.Option(
        help="With --apply: only build inside HH:MM-HH:MM [time zone].")] = None,
    wait_for_window: Annotated[bool, typer.Option(
        "--wait-for-window", help="With --apply outside the window: wait for it (default: "
                                  "refuse).")] = False,
) -> None:
    """Analyze a PostgreSQL database (read-only) and report what to fix, with the SQL."""
    from intperf.dbopt.analyze import analyze

    options = build_options(
        budget=budget, max_indexes=max_indexes, workload_type=workload_type, memory=memory,
        cores=cores, storage=storage, disks=disks, app_instances=app_instances, sample=sample,
        top=top, statement_timeout=statement_timeout, lock_timeout=lock_timeout,
        index_advice=index_advice)

    def progress(step: str) -> None:
        if not quiet:
            err.print(f"[dim]… {escape(step)}[/]", highlight=False)

    measure_s = _apply_measure(measure) if apply else 0.0
    if apply and maintenance_window:
        from intperf.dbopt.maintenance import MaintenanceWindow

        MaintenanceWindow.parse(maintenance_window)  # a bad window fails before the analysis
    report = analyze(dsn, options, progress=progress)
    applied = None
    if apply:
        applied = _apply(dsn, report, measure_s, maintenance_window, wait_for_window, progress)
    if as_json:
        data = report.to_dict()
        if applied is not None:
            data["apply"] = applied.to_dict()
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        render(report, out)
        if applied is not None:
            _render_apply(applied, out)


def _apply_measure(text: str) -> float:
    from intperf.units import parse_duration

    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"--measure: {exc}") from None
    if value < 0 or value > 86400:
        raise UsageError("--measure: between 0s and 24h")
    return value


def _apply(dsn: str, report: AnalysisReport, measure_s: float, window: str | None,
           wait: bool, progress: Any) -> Any:
    """Apply mode (intperf.dbopt.apply); each audited action is logged and shown."""
    import logging

    from intperf.dbopt.apply import ApplySettings, AuditEntry, apply_indexes

    log = logging.getLogger("intperf.dbopt.audit")

    def audit(entry: AuditEntry) -> None:
        log.info("%s %s %s", entry.action, entry.target, entry.detail)
        progress(f"{entry.action} {entry.target}")

    return apply_indexes(dsn, list(report.indexes), dry_run=False, measure_for_s=measure_s,
                         maintenance_window=window, audit=audit,
                         settings=ApplySettings(wait_for_window=wait), progress=progress)


def _render_apply(applied: Any, console: Console) -> None:
    console.rule("apply")
    if applied.refused:
        console.print(f"[yellow]refused:[/] {escape(applied.refused)}", highlight=False)
    for item in applied.indexes:
        console.print(f"{escape(item.index)}: [bold]{item.status}[/] {escape(item.reason)}",
                      highlight=False)


def render(report: AnalysisReport, console: Console) -> None:
    """The report for a terminal: findings by severity, then the top statements and advice."""
    server = report.server
    head = f"[bold]{escape(report.dsn)}[/]"
    if server is not None:
        head += f"  PostgreSQL {escape(server.version)}, database {escape(server.database)}"
    console.print(head, highlight=False)
    counts = ", ".join(f"{n} {s}" for s, n in _counts(report).items())
    console.print(f"analyzed in {report.duration_s:.1f} s: {counts}", highlight=False)
    for severity in ("critical", "warning", "info"):
        found = report.by_severity(severity)
        if not found:
            continue
        console.rule(f"[{_STYLE[severity]}]{severity} ({len(found)})[/]")
        for f in found:
            console.print(f"[{_STYLE[severity]}]●[/] {escape(f.title)} "
                          f"[dim]({f.category})[/]", highlight=False)
            if f.detail:
                console.print(f"    {escape(f.detail)}", highlight=False, style="dim")
            if f.fix_sql:
                console.print(f"    [green]{escape(f.fix_sql)}[/]", highlight=False)
    _statements(report, console)
    _indexes(report, console)
    console.rule("connection pool (application.yml)")
    console.print(escape(report.pool.yaml()), highlight=False)
    for key, why in report.pool.reasons.items():
        console.print(f"  [dim]{escape(key.rsplit('.', 1)[-1])}: {escape(why)}[/]",
                      highlight=False)
    _tuning(report, console)
    if report.skipped:
        console.rule("[yellow]skipped[/]")
        for s in report.skipped:
            console.print(f"{escape(s['step'])}: {escape(s['reason'])}", highlight=False)


def _counts(report: AnalysisReport) -> dict[str, int]:
    from intperf.dbopt.findings import count_by_severity

    return count_by_severity(report.findings)


def _statements(report: AnalysisReport, console: Console) -> None:
    for measure, rows in report.top_statements.items():
        if not rows:
            continue
        table = Table(title=f"top statements by {measure.replace('_', ' ')}",
                      title_justify="left")
        for col in ("queryid", "calls", "total ms", "mean ms", "blks read", "temp blks",
                    "query"):
            table.add_column(col, justify="left" if col == "query" else "right",
                             overflow="fold" if col == "query" else "ellipsis")
        for s in rows:
            query = " ".join(s.query.split())
            table.add_row(str(s.queryid), f"{s.calls:,}", f"{s.total_ms:,.1f}",
                          f"{s.mean_ms:,.2f}", f"{s.shared_blks_read:,}",
                          f"{s.temp_blks_written:,}", escape(query[:200]))
        console.print(table)


def _indexes(report: AnalysisReport, console: Console) -> None:
    if not report.indexes:
        return
    table = Table(title="index advice (HypoPG what-if)", title_justify="left")
    for col in ("CREATE INDEX", "size", "workload gain"):
        table.add_column(col, overflow="fold")
    for a in report.indexes:
        data: dict[str, Any] = a.to_dict() if hasattr(a, "to_dict") else {}
        table.add_row(escape(str(data.get("create_sql", ""))),
                      f"{int(data.get('estimated_bytes', 0)):,} B",
                      f"{float(data.get('workload_gain', 0.0)):,.0f}")
    console.print(table)


def _tuning(report: AnalysisReport, console: Console) -> None:
    m = report.machine
    console.rule(f"settings ({report.workload_type}; machine from {m.source})")
    table = Table()
    for col in ("setting", "current", "recommended", "why"):
        table.add_column(col, overflow="fold")
    for r in report.tuning:
        style = _STYLE.get(r.severity or "", "")
        table.add_row(r.name, escape(r.current or "-"),
                      f"[{style}]{escape(r.recommended)}[/]" if style else escape(r.recommended),
                      escape(r.reason + (" (restart)" if r.restart else "")))
    console.print(table)
