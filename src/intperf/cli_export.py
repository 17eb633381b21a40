"""``intperf export prometheus-rules`` and ``intperf export grafana``: monitoring files for the
metrics of ``GET /metrics`` (docs/monitoring.md), from the configuration's thresholds and SLOs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from intperf.config import load_settings
from intperf.errors import UsageError

export_app = typer.Typer(help="Write monitoring files: Prometheus rules, Grafana dashboards.",
                         no_args_is_help=True)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="application.yml")]


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror}") from None


@export_app.command("prometheus-rules")
def prometheus_rules_command(
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the rules here (default: standard output).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Recording and alerting rules: thresholds, SLO burn-rate pairs (promtool-checked)."""
    from intperf.monitor.prometheus_rules import rules_yaml

    text = rules_yaml(load_settings(config))
    if out is None:
        sys.stdout.write(text)
        return
    _write(out, text)
    err.print(f"wrote {out}", highlight=False)


@export_app.command("grafana")
def grafana_command(
    out: Annotated[Path, typer.Option(
        "--out", help="Directory for dashboards/ and provisioning/.")] = Path("grafana"),
    prometheus_url: Annotated[str, typer.Option(
        "--prometheus-url", help="The Prometheus the datasource points at.")]
        = "http://127.0.0.1:9090",
    dashboards_path: Annotated[str | None, typer.Option(
        "--dashboards-path", help="Where Grafana will find the dashboard JSON (default: "
                                  "OUT/dashboards, absolute).")] = None,
) -> None:
    """Dashboard JSON and provisioning YAML (datasource and dashboard provider)."""
    from intperf.monitor.grafana import dashboard, dashboard_provider_yaml, datasource_yaml

    if not prometheus_url.startswith(("http://", "https://")):
        raise UsageError("--prometheus-url: expected an http:// or https:// URL")
    board = out / "dashboards" / "intperf-overview.json"
    where = dashboards_path or str((out / "dashboards").resolve())
    files = {
        board: json.dumps(dashboard(), indent=2) + "\n",
        out / "provisioning" / "datasources" / "intperf.yaml": datasource_yaml(prometheus_url),
        out / "provisioning" / "dashboards" / "intperf.yaml": dashboard_provider_yaml(where),
    }
    for path, text in files.items():
        _write(path, text)
        err.print(f"wrote {path}", highlight=False)
