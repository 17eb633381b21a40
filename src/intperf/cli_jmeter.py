"""``intperf jmeter PLAN.jmx``: translate a JMeter plan and run it on the intperf engine."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from intperf.errors import UsageError

NOT_INSTALLED = ("JMeter is not installed (looked for `jmeter` on PATH); use the native engine "
                 "(default) or --jmeter-bin")


class Engine(StrEnum):
    native = "native"
    jmeter = "jmeter"


#: JMeter properties that make its JTL a CSV with field names (users' -J values win).
JTL_FORMAT = {
    "jmeter.save.saveservice.output_format": "csv",
    "jmeter.save.saveservice.print_field_names": "true",
}


def _properties(values: list[str] | None) -> dict[str, str]:
    props: dict[str, str] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"-J: expected name=value, got {item!r}")
        props[name.strip()] = value
    return props


def jmeter_command(
    plan: Annotated[Path, typer.Argument(metavar="PLAN.jmx", help="A JMeter test plan.")],
    prop: Annotated[list[str] | None, typer.Option(
        "-J", "--property", help="JMeter property name=value (read by __P/__property); "
        "repeatable.")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Fail (exit 2) when the plan has unsupported elements.")] = False,
    base_url: Annotated[str | None, typer.Option(help="Target base URL (overrides the "
                                                 "plan's).")] = None,
    criterion: Annotated[list[str] | None, typer.Option(
        help="Success criterion, repeatable.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Report directory.")] = None,
    processes: Annotated[int | None, typer.Option(help="Worker processes (default: cores).")]
    = None,
    seed: Annotated[int | None, typer.Option(help="Seed for reproducible randomness.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress.")] = False,
    translate_only: Annotated[bool, typer.Option(
        "--translate-only", help="Print the translated scenario as YAML and exit.")] = False,
    engine: Annotated[Engine, typer.Option(
        help="native: translate and run on intperf; jmeter: run JMeter itself (non-GUI) and "
        "import its results.")] = Engine.native,
    jmeter_bin: Annotated[Path | None, typer.Option(
        help="The jmeter executable for --engine jmeter (default: `jmeter` on PATH).")] = None,
) -> None:
    """Run a JMeter .jmx plan natively (translated into an intperf scenario)."""
    import yaml

    from intperf.cli import apply_overrides, err, execute, out
    from intperf.loadtest.jmeter import parse_jmx, translate_plan
    from intperf.loadtest.scenario import validate_scenario

    props = _properties(prop)
    if engine is Engine.jmeter and not translate_only:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        target = out_dir or Path("results") / f"{plan.stem}-{stamp}"
        if base_url is not None:
            props.setdefault("base_url", base_url)
        raise typer.Exit(run_with_jmeter(plan, props, jmeter_bin=jmeter_bin,
                                         criteria_texts=criterion, out_dir=target))
    parsed = parse_jmx(plan, props)
    procs = processes if processes is not None else (os.cpu_count() or 1)
    if procs < 1:
        raise UsageError(f"--processes: must be at least 1, got {procs}")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target_dir = out_dir or Path("results") / f"{plan.stem}-{stamp}"
    result = translate_plan(parsed, data_dir=target_dir / "jmeter-data")
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    if strict and result.unsupported:
        raise UsageError(f"{plan}: {len(result.unsupported)} unsupported element(s) "
                         "(--strict)")
    if translate_only:
        out.print(escape(yaml.safe_dump(result.scenario, sort_keys=False)), highlight=False)
        raise typer.Exit(0)
    sc = validate_scenario(result.scenario, source=str(plan), base_dir=parsed.base_dir)
    sc = apply_overrides(sc, base_url=base_url, users=None, duration=None, rate=None)
    options = {"jmeter_plan": str(plan), "properties": props, "processes": procs}
    code = execute(sc, criteria_texts=criterion, processes=procs, out_dir=target_dir,
                   quiet=quiet, seed=seed, options=options)
    raise typer.Exit(code)


def find_jmeter(jmeter_bin: Path | None) -> str:
    """The jmeter executable: ``jmeter_bin`` or ``jmeter`` on PATH (UsageError if neither)."""
    if jmeter_bin is not None:
        found = shutil.which(str(jmeter_bin))
        if found is None:
            raise UsageError(f"--jmeter-bin: {jmeter_bin} is not an executable file")
        return found
    found = shutil.which("jmeter")
    if found is None:
        raise UsageError(NOT_INSTALLED)
    return found


def run_with_jmeter(plan: Path, props: dict[str, str], *, jmeter_bin: Path | None,
                    criteria_texts: list[str] | None, out_dir: Path) -> int:
    """Run ``plan`` with JMeter in non-GUI mode, import its JTL, report like a native run."""
    from intperf import __version__
    from intperf.cli import err, report_run
    from intperf.loadtest.criteria import DEFAULT_CRITERIA, evaluate_all, parse_all
    from intperf.loadtest.importers import import_file
    from intperf.reports import criteria_dicts
    from intperf.reports.summary import RunInfo, RunStatus, build_summary

    exe = find_jmeter(jmeter_bin)
    if not plan.is_file():
        raise UsageError(f"{plan}: no such file")
    criteria = parse_all(criteria_texts or list(DEFAULT_CRITERIA))  # refuse bad ones early
    out_dir.mkdir(parents=True, exist_ok=True)
    jtl = out_dir / "results.jtl"
    jtl.unlink(missing_ok=True)  # JMeter appends to an existing file
    # A CSV JTL with a header line: the default columns differ between JMeter versions.
    fixed = {k: v for k, v in JTL_FORMAT.items() if k not in props}
    cmd = [exe, "-n", "-t", str(plan), "-l", str(jtl), "-j", str(out_dir / "jmeter.log"),
           *(f"-J{name}={value}" for name, value in {**fixed, **props}.items())]
    interrupted = False
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,  # noqa: S603
                          errors="replace") as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                sys.stderr.write(f"jmeter: {line}")
            code = proc.wait()
        except KeyboardInterrupt:
            interrupted = True
            proc.send_signal(signal.SIGINT)
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
    if not jtl.is_file() or jtl.stat().st_size == 0:
        raise UsageError(f"JMeter exited with code {code} and wrote no results ({jtl})")
    if code != 0 and not interrupted:
        err.print(f"[yellow]warning:[/] JMeter exited with code {code}")
    result = import_file(jtl, None, plan.stem)
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    duration = result.run_duration_s
    crit = criteria_dicts(evaluate_all(criteria, result.series, run_seconds=duration))
    status: RunStatus = ("interrupted" if interrupted else
                         "passed" if all(c["passed"] for c in crit) else "failed")
    info = RunInfo(
        run_id=uuid.uuid4().hex[:12], scenario=plan.stem, scenario_source=str(plan),
        base_url=props.get("base_url", ""), model="closed", started_at=result.started_at,
        ended_at=result.started_at + timedelta(seconds=duration), duration_s=duration,
        processes=1, status=status, intperf_version=__version__,
        options={"engine": "jmeter", "jmeter_plan": str(plan), "properties": props,
                 "jmeter_exit_code": code})
    summary = build_summary(result.series, crit, info)
    return report_run(summary, result.series, out_dir, status)
