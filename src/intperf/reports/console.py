"""Rich tables of a run summary for the terminal (the CLI prints them after a run)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table
from rich.text import Text

from intperf.reports.fmt import format_count, format_ms, format_pct, format_rate

__all__ = ["criteria_table", "format_ms", "summary_table"]


def _row(name: str, r: Mapping[str, Any]) -> list[str | Text]:
    failed = format_count(r["failed"])
    if r["failed"]:
        failed_cell: str | Text = Text(f"{failed} ({format_pct(r['error_rate'])})", style="red")
    else:
        failed_cell = failed
    lat = r["latency"]
    return [name, format_count(r["requests"]), failed_cell, format_rate(r["rps"]),
            format_ms(lat["p50"]), format_ms(lat["p95"]), format_ms(lat["p99"]),
            format_ms(lat["max"])]


def summary_table(summary: Mapping[str, Any]) -> Table:
    """Per-request statistics with a total row (response times corrected, in ms or s)."""
    table = Table(title="Requests", title_justify="left", show_footer=False)
    table.add_column("Request", overflow="fold")
    for col in ("Requests", "Failed", "rps", "p50", "p95", "p99", "Max"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in summary["requests"]:
        table.add_row(*_row(r["name"], r))
    table.add_section()
    table.add_row(*_row("Total", summary["global"]), style="bold")
    return table


def criteria_table(summary: Mapping[str, Any]) -> Table:
    """Success criteria with their result, observed value and explanation."""
    verdict = summary["verdict"]
    table = Table(title=f"Criteria: {verdict.upper()}", title_justify="left",
                  title_style="bold green" if verdict == "passed" else "bold red")
    table.add_column("Result", no_wrap=True)
    table.add_column("Criterion", overflow="fold")
    table.add_column("Observed", justify="right", no_wrap=True)
    table.add_column("Details", overflow="fold")
    for c in summary["criteria"]:
        result = Text("✓ passed", style="green") if c["passed"] else Text("✗ failed", style="red")
        observed = "-" if c["observed"] is None else f"{c['observed']:.6g}"
        table.add_row(result, c["criterion"], observed, c["message"])
    if not summary["criteria"]:
        table.add_row("", Text("no criteria given", style="dim"), "", "")
    return table
