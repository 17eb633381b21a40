"""``intperf jmeter PLAN.jmx``: translate a JMeter plan and run it on the intperf engine."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from intperf.errors import UsageError


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
) -> None:
    """Run a JMeter .jmx plan natively (translated into an intperf scenario)."""
    import yaml

    from intperf.cli import apply_overrides, err, execute, out
    from intperf.loadtest.jmeter import parse_jmx, translate_plan
    from intperf.loadtest.scenario import validate_scenario

    props = _properties(prop)
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
