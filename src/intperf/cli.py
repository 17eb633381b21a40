"""``intperf`` command line: run scenarios, serve the demo shop, the quick start.

Exit codes (docs/cli.md): 0 passed, 1 criteria failed, 2 bad input or usage,
3 the run could not complete (target unreachable, interrupted).
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from intperf import __version__
from intperf.errors import IntperfError, UsageError
from intperf.loadtest.criteria import DEFAULT_CRITERIA, parse_all
from intperf.loadtest.groups import request_specs
from intperf.loadtest.populations import run_model
from intperf.loadtest.results import TimeSeries
from intperf.loadtest.runner import LoadTest, RunOutcome
from intperf.loadtest.scenario import Journey, Scenario, load_scenario
from intperf.loadtest.workload import LoadSpec
from intperf.reports.summary import RunStatus
from intperf.units import parse_duration, parse_rate

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3

app = typer.Typer(
    name="intperf",
    help="Integration Performance Service: load tests, live analytics and optimization advice.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Off a terminal (CI logs, pipes) keep lines whole: wrapped tables and paths are unreadable.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def _version(value: bool) -> None:
    if value:
        out.print(f"intperf {__version__}")
        raise typer.Exit(EXIT_PASSED)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def apply_overrides(scenario: Scenario, *, base_url: str | None, users: int | None,
                    duration: str | None, rate: str | None) -> Scenario:
    """Apply the command-line load options to ``scenario`` (errors are UsageError).

    With several populations (journeys with their own load), ``--duration`` holds every
    population for that long; ``--users`` and ``--rate`` are refused (they would merge the
    populations into one).
    """
    update: dict[str, Any] = {}
    if base_url is not None:
        if not base_url.startswith(("http://", "https://")):
            raise UsageError(f"--base-url: {base_url!r} is not an http:// or https:// URL")
        update["base_url"] = base_url.rstrip("/")
    if users is not None or duration is not None or rate is not None:
        try:
            dur = parse_duration(duration) if duration is not None else None
            per_sec = parse_rate(rate) if rate is not None else None
        except ValueError as exc:
            raise UsageError(f"--duration/--rate: {exc}") from None
        if users is not None and users < 1:
            raise UsageError(f"--users: must be at least 1, got {users}")
        if per_sec is not None and per_sec <= 0:
            raise UsageError(f"--rate: must be above 0, got {rate!r}")
        if any(j.load is not None for j in scenario.journeys):
            update["journeys"] = _populations_overridden(scenario, users=users, dur=dur,
                                                         rate=rate)
        else:
            update["load"] = _validated(_load_overridden(scenario.load, users, dur, per_sec))
    return scenario.model_copy(update=update) if update else scenario


def _load_overridden(spec: LoadSpec, users: int | None, dur: float | None,
                     per_sec: float | None, where: str = "this scenario's load") -> dict[str, Any]:
    load = spec.model_dump(by_alias=True, exclude_none=True)
    if per_sec is not None:
        kept = ("max_users", "max_connections", "graceful_stop", "start_after")
        keep: dict[str, Any] = {k: load[k] for k in kept if k in load}
        hold = dur if dur is not None else (spec.duration or 30.0)
        load = {**keep, "constant_arrival_rate": {"rate": per_sec, "time_unit": 1.0,
                                                  "duration": hold}}
        if users is not None:
            load["max_users"] = users
        return load
    if users is not None:
        for k in ("injection", "constant_arrival_rate", "ramping_arrival_rate", "stages"):
            load.pop(k, None)
        load["users"] = users
        load.setdefault("duration", 30.0)
    if dur is not None:
        if "constant_arrival_rate" in load:
            load["constant_arrival_rate"]["duration"] = dur
        elif "stages" in load or "injection" in load or "ramping_arrival_rate" in load:
            raise UsageError(f"--duration applies to 'users' or a constant rate; {where} is "
                             "shaped by stages/injection steps")
        else:
            load["duration"] = dur
    return load


def _validated(load: dict[str, Any]) -> LoadSpec:
    try:
        return LoadSpec.model_validate(load)
    except ValueError as exc:
        raise UsageError(f"the command-line load options are invalid: {exc}") from None


def _populations_overridden(scenario: Scenario, *, users: int | None, dur: float | None,
                            rate: str | None) -> list[Journey]:
    """``--duration`` applied to every journey's own load; ``--users``/``--rate`` refused."""
    if users is not None or rate is not None:
        names = ", ".join(repr(j.name) for j in scenario.journeys)
        option = "--users" if users is not None else "--rate"
        raise UsageError(f"{option}: {scenario.source} runs {len(scenario.journeys)} "
                         f"populations (journeys {names} each have their own load); set "
                         "their sizes in the journeys' 'load' (--duration applies to every "
                         "population)")
    journeys = []
    for j in scenario.journeys:
        assert j.load is not None  # every journey has one (validated)
        load = _load_overridden(j.load, None, dur, None, f"journey {j.name!r}'s load")
        journeys.append(j.model_copy(update={"load": _validated(load)}))
    return journeys


def _default_out(scenario: Scenario) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Path("results") / f"{scenario.name}-{stamp}"


def execute(scenario: Scenario, *, criteria_texts: list[str] | None, processes: int,
            out_dir: Path, quiet: bool, seed: int | None = None,
            options: dict[str, Any] | None = None) -> int:
    """Run ``scenario``, print the summary, write reports; return the exit code."""
    from intperf.progress import ProgressView
    from intperf.reports import criteria_dicts
    from intperf.reports.summary import RunInfo, build_summary

    if scenario.base_url is None and any(
            not r.path.startswith(("http://", "https://"))
            for j in scenario.journeys for r in request_specs(j.steps)):
        raise UsageError(f"{scenario.source}: no base_url: set it in the scenario or pass "
                         "--base-url")
    texts = criteria_texts if criteria_texts else (list(scenario.criteria) or
                                                   list(DEFAULT_CRITERIA))
    criteria = parse_all(texts)
    model = run_model(scenario)
    title = f"{scenario.name} ({model}, {processes} process"\
            f"{'es' if processes > 1 else ''})"
    with ProgressView(title, quiet=quiet) as view:
        test = LoadTest(scenario, criteria, processes=processes, seed=seed,
                        on_progress=view.update)
        outcome = test.run()
    status = _status(outcome)
    info = RunInfo(
        run_id=uuid.uuid4().hex[:12], scenario=scenario.name, scenario_source=scenario.source,
        base_url=scenario.base_url or "", model=model,
        started_at=outcome.started_at, ended_at=outcome.ended_at,
        duration_s=outcome.duration_s, processes=outcome.processes, status=status,
        abort_reason=outcome.abort_reason, intperf_version=__version__,
        options=options or {},
    )
    crit = criteria_dicts(outcome.criteria)
    summary = build_summary(outcome.series, crit, info)
    return report_run(summary, outcome.series, out_dir, status, outcome.abort_reason)


def report_run(summary: dict[str, Any], series: TimeSeries, out_dir: Path, status: RunStatus,
               abort_reason: str | None = None) -> int:
    """Write the reports, print the summary and the verdict; return the exit code."""
    from intperf.reports import write_reports
    from intperf.reports.console import criteria_table, summary_table

    paths = write_reports(summary, out_dir)
    out.print(summary_table(summary))
    out.print(criteria_table(summary))
    for kind, path in paths.items():
        out.print(f"{kind:>8}: {path}")
    if abort_reason:
        err.print(f"[yellow]run aborted:[/] {abort_reason}")
    verdict = {"passed": "[green]PASSED[/]", "failed": "[red]FAILED[/]",
               "aborted": "[red]ABORTED[/]", "interrupted": "[yellow]INTERRUPTED[/]"}
    out.print(f"verdict: {verdict.get(status, status)}")
    if status == "interrupted":
        return EXIT_INCOMPLETE
    if status == "passed":
        requests = sum(w.requests for s in series.seconds.values()
                       for w in s.requests.values())
        return EXIT_PASSED if requests else EXIT_INCOMPLETE
    return EXIT_FAILED


def _status(outcome: RunOutcome) -> RunStatus:
    return outcome.verdict


@app.command()
def run(
    scenario_ref: Annotated[str, typer.Argument(metavar="SCENARIO",
                                                help="A scenario file or a bundled name.")],
    base_url: Annotated[str | None, typer.Option(help="Target base URL (overrides the "
                                                 "scenario's).")] = None,
    users: Annotated[int | None, typer.Option(help="Closed model with N virtual users "
                                              "(with --rate: cap on concurrent users).")] = None,
    duration: Annotated[str | None, typer.Option(help="How long to hold the load, e.g. 30s.")]
    = None,
    rate: Annotated[str | None, typer.Option(help="Open model at a constant arrival rate, "
                                             "e.g. 100/s.")] = None,
    criterion: Annotated[list[str] | None, typer.Option(
        help="Success criterion, repeatable; replaces the scenario's.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Report directory.")] = None,
    processes: Annotated[int | None, typer.Option(help="Worker processes (default: cores).")]
    = None,
    seed: Annotated[int | None, typer.Option(help="Seed for reproducible randomness.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress.")] = False,
    server: Annotated[str | None, typer.Option(
        help="Submit to an intperf service at this URL instead of running locally "
             "(key from --api-key or INTPERF_API_KEY).")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="INTPERF_API_KEY",
                                                help="API key for --server.")] = None,
) -> None:
    """Run a load-test scenario and judge it against its success criteria."""
    if server is not None:
        from intperf.cli_service import run_on_server

        raise typer.Exit(run_on_server(scenario_ref, server=server, api_key=api_key,
                                       users=users, duration=duration, rate=rate,
                                       criteria=criterion, base_url=base_url, quiet=quiet))
    sc = load_scenario(scenario_ref)
    sc = apply_overrides(sc, base_url=base_url, users=users, duration=duration, rate=rate)
    procs = processes if processes is not None else (os.cpu_count() or 1)
    if procs < 1:
        raise UsageError(f"--processes: must be at least 1, got {procs}")
    options = {k: v for k, v in {"base_url": base_url, "users": users, "duration": duration,
                                 "rate": rate, "criterion": criterion, "processes": procs,
                                 "seed": seed}.items() if v is not None}
    code = execute(sc, criteria_texts=criterion, processes=procs,
                   out_dir=out_dir or _default_out(sc), quiet=quiet, seed=seed,
                   options=options)
    raise typer.Exit(code)


@app.command("demo-target")
def demo_target(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    host: Annotated[str, typer.Option(help="Loopback address to bind.")] = "127.0.0.1",
    latency_ms: Annotated[float, typer.Option(help="Added mean latency on /api.")] = 0.0,
    error_rate: Annotated[float, typer.Option(help="Fraction of /api answered 500.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Data seed.")] = 42,
) -> None:
    """Serve the demo social-commerce shop (the quick start's target)."""
    from intperf.demo import DemoConfig, serve

    if not 0.0 <= error_rate <= 1.0:
        raise UsageError(f"--error-rate: must be between 0 and 1, got {error_rate}")
    serve(host=host, port=port,
          config=DemoConfig(seed=seed, latency_ms=latency_ms, error_rate=error_rate),
          on_started=lambda url: err.print(f"demo shop listening on {url} (Ctrl-C stops it)"))


@app.command()
def quickstart(
    out_dir: Annotated[Path, typer.Option("--out", help="Working directory.")] =
    Path("results/quickstart"),
    duration: Annotated[str | None, typer.Option(help="Hold duration override.")] = None,
    local: Annotated[bool, typer.Option("--local", help="Run in this process, without the "
                                        "service.")] = False,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the service running afterwards.")]
    = False,
    processes: Annotated[int | None, typer.Option(help="Worker processes with --local.")]
    = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """The main job: the demo shop and the service on embedded defaults, the bundled
    social-commerce scenario submitted through the API (~30 s), the run's URLs."""
    if not local:
        from intperf.cli_service import quickstart_on_service

        raise typer.Exit(quickstart_on_service(out_dir, duration=duration, keep=keep,
                                               quiet=quiet))
    from intperf.demo import run_in_subprocess

    err.print("starting the demo shop on a free loopback port …")
    with run_in_subprocess(0) as shop:
        err.print(f"demo shop listening on {shop.url}")
        sc = load_scenario("social-commerce")
        sc = apply_overrides(sc, base_url=shop.url, users=None, duration=duration, rate=None)
        procs = processes if processes is not None else (os.cpu_count() or 1)
        code = execute(sc, criteria_texts=None, processes=procs, out_dir=out_dir,
                       quiet=quiet, options={"quickstart": True, "processes": procs})
    raise typer.Exit(code)


def _register_service_commands() -> None:
    from intperf.cli_service import keys_app, runs_app, serve_command

    app.command("serve")(serve_command)
    app.add_typer(keys_app, name="keys")
    app.add_typer(runs_app, name="runs")


_register_service_commands()


def _register_jmeter_command() -> None:
    from intperf.cli_jmeter import jmeter_command

    app.command("jmeter")(jmeter_command)


_register_jmeter_command()


def _register_import_command() -> None:
    from intperf.cli_import import import_command

    app.command("import")(import_command)


_register_import_command()


def _register_db_commands() -> None:
    from intperf.cli_db import db_app

    app.add_typer(db_app, name="db")


_register_db_commands()


def _register_cache_commands() -> None:
    from intperf.cli_cache import cache_app

    app.add_typer(cache_app, name="cache")


_register_cache_commands()


def _register_stream_command() -> None:
    from intperf.cli_stream import stream_command

    app.command("stream")(stream_command)


_register_stream_command()


def _register_export_commands() -> None:
    from intperf.cli_export import export_app

    app.add_typer(export_app, name="export")


_register_export_commands()


def _register_reports_commands() -> None:
    from intperf.cli_reports import reports_app

    app.add_typer(reports_app, name="reports")


_register_reports_commands()


def main() -> None:
    """Console entry point: one place that maps errors to exit codes."""
    try:
        # Without standalone mode click returns a command's exit code instead of exiting.
        rc = app(standalone_mode=False)
        sys.exit(rc if isinstance(rc, int) else EXIT_PASSED)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except IntperfError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        sys.exit(EXIT_INCOMPLETE)
    except (typer.BadParameter, typer.Abort) as exc:
        err.print(f"[red]error:[/] {exc}")
        sys.exit(EXIT_USAGE)
    except Exception as exc:
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(EXIT_USAGE)
        raise
