"""``intperf serve``, ``intperf keys …``, ``intperf runs …`` and ``intperf run --server``."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from intperf.config import Settings, load_settings
from intperf.errors import UsageError

# Off a terminal (CI logs, pipes, scripts) keep lines whole, as cli.py does: an 80-column
# default cut run and key ids to "c56a1ebaa…", which made them unusable from a script.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

keys_app = typer.Typer(help="Manage API keys (directly in the service's database).",
                       no_args_is_help=True)
runs_app = typer.Typer(help="Runs on a service: list, show, compare, baseline.",
                       no_args_is_help=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="application.yml")]
ServerOpt = Annotated[str, typer.Option("--server", envvar="INTPERF_SERVER",
                                        help="Service URL.")]
KeyOpt = Annotated[str | None, typer.Option("--api-key", envvar="INTPERF_API_KEY",
                                            help="API key (or INTPERF_API_KEY).")]
DEFAULT_SERVER = "http://127.0.0.1:8105"


def settings_from(config: Path | None, port: int | None = None) -> Settings:
    """Settings from ``--config`` and INTPERF_* variables, with an optional port override."""
    settings = load_settings(config)
    if port is not None:
        settings = settings.model_copy(update={
            "server": settings.server.model_copy(update={"port": port})})
    return settings


def serve_command(config: ConfigOpt = None,
                  port: Annotated[int | None, typer.Option(help="Port (default 8105).")] = None,
                  ) -> None:
    """Start the service (REST API on port 8105)."""
    from intperf.service.app import serve

    settings = settings_from(config, port)
    err.print(f"intperf service on http://{settings.server.host}:{settings.server.port} "
              f"(storage {settings.intperf.storage_url.split('@')[-1]})")
    serve(settings)


@keys_app.command("create")
def keys_create(role: Annotated[str, typer.Option(help="viewer, operator or admin")],
                name: Annotated[str, typer.Option(help="Who or what the key is for")],
                config: ConfigOpt = None) -> None:
    """Create a key and print it once (how the first admin key is made)."""
    from intperf.store import ApiKeyRepository, Database

    if role not in ("viewer", "operator", "admin"):
        raise UsageError(f"--role: {role!r} is not viewer, operator or admin")
    settings = settings_from(config)
    with Database(settings.intperf.storage_url) as db:
        db.migrate()
        key_id, plaintext = ApiKeyRepository(db).create(name, role)
    err.print(f"created {role} key {key_id} for {name!r}; it is shown once:")
    out.print(plaintext, highlight=False, soft_wrap=True)


@keys_app.command("list")
def keys_list(config: ConfigOpt = None) -> None:
    """List keys (names, roles, prefixes; never the keys)."""
    from intperf.store import ApiKeyRepository, Database

    settings = settings_from(config)
    with Database(settings.intperf.storage_url) as db:
        db.migrate()
        table = Table()
        table.add_column("id", no_wrap=True, min_width=32)  # never cut: revoke takes it
        for col in ("name", "role", "prefix", "created", "revoked"):
            table.add_column(col)
        for k in ApiKeyRepository(db).list():
            table.add_row(k.id, k.name, k.role, k.prefix, str(k.created_at),
                          str(k.revoked_at or ""))
    out.print(table)


def _client(server: str, api_key: str | None) -> Any:
    from intperf.service.client import ServiceClient

    return ServiceClient(server, api_key)


@runs_app.command("list")
def runs_list(server: ServerOpt = DEFAULT_SERVER, api_key: KeyOpt = None,
              scenario: Annotated[str | None, typer.Option()] = None,
              status: Annotated[str | None, typer.Option()] = None,
              limit: Annotated[int, typer.Option()] = 20) -> None:
    """Recent runs."""
    params: dict[str, Any] = {"limit": limit}
    if scenario:
        params["scenario"] = scenario
    if status:
        params["status"] = status
    with _client(server, api_key) as c:
        page = c.request("GET", "/api/v1/performance/runs", params=params)
    table = Table()
    table.add_column("run", no_wrap=True, min_width=12)  # never cut: the other commands take it
    for col in ("scenario", "type", "status", "verdict", "created", "duration"):
        table.add_column(col)
    for r in page["items"]:
        dur = r.get("durationS")
        table.add_row(r["runId"], r["scenario"], r["testType"], r["status"],
                      r.get("verdict") or "", r["createdAt"][:19],
                      f"{dur:.0f}s" if dur else "")
    out.print(table)
    out.print(f"{len(page['items'])} of {page['total']}")


@runs_app.command("show")
def runs_show(run_id: str, server: ServerOpt = DEFAULT_SERVER, api_key: KeyOpt = None) -> None:
    """One run, with live figures while it runs."""
    import json

    with _client(server, api_key) as c:
        out.print_json(json.dumps(c.request("GET", f"/api/v1/performance/runs/{run_id}")))


@runs_app.command("baseline")
def runs_baseline(run_id: str, server: ServerOpt = DEFAULT_SERVER,
                  api_key: KeyOpt = None) -> None:
    """Make a finished run the baseline of its scenario."""
    with _client(server, api_key) as c:
        r = c.request("POST", f"/api/v1/performance/runs/{run_id}/baseline")
    out.print(f"{r['baseline']} is now the baseline of {r['scenario']}")


@runs_app.command("compare")
def runs_compare(run_id: str, with_: Annotated[str, typer.Option("--with")] = "baseline",
                 server: ServerOpt = DEFAULT_SERVER, api_key: KeyOpt = None) -> None:
    """Compare a run with its baseline or another run; exit 1 when something regressed."""
    with _client(server, api_key) as c:
        r = c.request("GET", f"/api/v1/performance/runs/{run_id}/compare",
                      params={"with": with_})
    table = Table("scope", "metric", "baseline", "candidate", "change", "p", "verdict")
    scopes: list[tuple[str, dict[str, Any]]] = [("global", r["global"])]
    scopes += [(name, cmp) for name, cmp in (r.get("requests") or {}).items()]
    for scope, cmp in scopes:
        for m in (cmp.get("metrics") or {}).values():
            rel = m.get("relative")
            p = m.get("p_value")
            table.add_row(scope, m["metric"], _fmt(m.get("baseline")), _fmt(m.get("candidate")),
                          f"{rel:+.1%}" if rel is not None else "",
                          f"{p:.3g}" if p is not None else "", m["verdict"])
    out.print(table)
    if r.get("regressions"):
        raise typer.Exit(1)


@runs_app.command("export")
def runs_export(run_id: str,
                format_: Annotated[str, typer.Option(
                    "--format", help="jtl (JMeter CSV) or k6 (--summary-export JSON)")] = "jtl",
                output: Annotated[Path | None, typer.Option(
                    "-o", "--output", help="File to write (default: standard output)")] = None,
                server: ServerOpt = DEFAULT_SERVER, api_key: KeyOpt = None) -> None:
    """Export a finished run as a JMeter JTL or a k6 summary JSON."""
    if format_ not in ("jtl", "k6"):
        raise UsageError(f"--format: {format_!r} is not jtl or k6")
    path = f"/api/v1/performance/runs/{run_id}/export"
    with contextlib.ExitStack() as stack:
        sink: Any = (stack.enter_context(output.open("w", encoding="utf-8", newline=""))
                     if output is not None else sys.stdout)
        if format_ == "k6":
            import json

            with _client(server, api_key) as c:
                doc = c.request("GET", path, params={"format": "k6"})
            sink.write(json.dumps(doc, indent=2) + "\n")
        else:
            _stream_jtl(server, api_key, path, sink)
    if output is not None:
        err.print(f"wrote {output}")


def _stream_jtl(server: str, api_key: str | None, path: str, sink: Any) -> None:
    """Copy the streamed JTL to ``sink`` chunk by chunk (a long run's JTL is large)."""
    import httpx

    from intperf.errors import TargetUnreachableError
    from intperf.service.client import ServiceClient, ServiceError

    with ServiceClient(server, api_key) as c:  # validates --server
        headers = {"X-API-Key": api_key} if api_key else {}
        try:
            with httpx.stream("GET", c.base_url + path, params={"format": "jtl"},
                              headers=headers, timeout=httpx.Timeout(30.0, read=None)) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    ctype = resp.headers.get("content-type", "")
                    raise ServiceError(resp.status_code,
                                       resp.json() if "json" in ctype else resp.text)
                for chunk in resp.iter_text():
                    sink.write(chunk)
        except httpx.HTTPError as exc:
            raise TargetUnreachableError(f"the service at {c.base_url} failed: {exc}") \
                from None


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, int | float) else ""


def run_on_server(scenario_ref: str, *, server: str, api_key: str | None, users: int | None,
                  duration: str | None, rate: str | None, criteria: list[str] | None,
                  base_url: str | None, quiet: bool) -> int:
    """Submit a run to a service, follow it live, print the verdict; the exit code."""
    import yaml

    from intperf.units import parse_rate

    path = Path(scenario_ref)
    scenario: Any = scenario_ref
    if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
        scenario = yaml.safe_load(path.read_text(encoding="utf-8"))
    body: dict[str, Any] = {"testType": "NATIVE", "scenario": scenario}
    if users is not None:
        body["users"] = users
    if duration is not None:
        body["duration"] = duration
    if rate is not None:
        try:
            body["rate"] = parse_rate(rate)
        except ValueError as exc:
            raise UsageError(f"--rate: {exc}") from None
    if criteria:
        body["criteria"] = criteria
    if base_url:
        body["baseUrl"] = base_url
    with _client(server, api_key) as c:
        sub = c.request("POST", "/api/v1/performance/load-test", json=body)
        run_id = sub["runId"]
        err.print(f"run {run_id} queued on {server}")
        status = "unknown"
        for event, data in c.stream(f"/api/v1/performance/runs/{run_id}/stream"):
            if event == "progress" and not quiet:
                live = data["live"]
                if live["p99_ms"] is None:  # the last, partial second: nothing new to show
                    continue
                err.print(f"[{live['elapsed_s']:.0f}s] rps={live['rps']} "
                          f"p99={live['p99_ms']}ms requests={live['requests']} "
                          f"errors={live['failed']} users={live['active_users']}")
            elif event == "end":
                status = data["status"]
                break
        run = c.request("GET", f"/api/v1/performance/runs/{run_id}")
    out.print(f"run:    {server}{run['links']['self']}")
    out.print(f"report: {server}{run['links']['report']}")
    for cr in run.get("criteria") or []:
        mark = "[green]✓[/]" if cr["passed"] else "[red]✗[/]"
        out.print(f"  {mark} {cr['message']}")
    out.print(f"verdict: {status.upper()}")
    if run.get("error"):
        err.print(f"[red]error:[/] {run['error']}")
    return {"passed": 0, "failed": 1, "aborted": 1}.get(status, 3)


def api_key_from_env() -> str | None:
    """The API key from INTPERF_API_KEY, if set."""
    return os.environ.get("INTPERF_API_KEY")


def quickstart_on_service(workdir: Path, *, duration: str | None, keep: bool,
                          quiet: bool) -> int:
    """Start the demo shop and the service on embedded defaults, submit the demo run through
    the API, follow it, print the run's and the report's URLs; the exit code of the verdict."""
    import socket
    import subprocess
    import time

    import httpx
    import yaml

    from intperf.demo import run_in_subprocess
    from intperf.store import ApiKeyRepository, Database

    workdir.mkdir(parents=True, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = workdir / "application.yml"
    db_url = f"sqlite:///{(workdir / 'intperf.db').resolve()}"
    config.write_text(yaml.safe_dump({
        "server": {"port": port, "host": "127.0.0.1"},
        "intperf": {"storage-url": db_url,
                    "results-dir": str((workdir / "runs").resolve()),
                    "allowed-targets": ["127.0.0.0/8", "::1/128", "localhost"]},
    }))
    with Database(db_url) as db:
        db.migrate()
        _, key = ApiKeyRepository(db).create("quickstart", "admin")
    err.print("starting the demo shop …")
    with run_in_subprocess(0) as shop:
        err.print(f"demo shop on {shop.url}; starting the service on port {port} …")
        service = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "intperf", "serve", "--config", str(config)],
            stdin=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if service.poll() is not None:
                    raise UsageError(f"the service exited with code {service.returncode}")
                try:
                    if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise UsageError("the service did not become ready within 60 s")
                time.sleep(0.2)
            err.print(f"service ready at {url} (API docs: {url}/docs)")
            code = run_on_server("social-commerce", server=url, api_key=key, users=None,
                                 duration=duration, rate=None, criteria=None,
                                 base_url=shop.url, quiet=quiet)
            out.print(f"api key (admin, for this quick start only): {key}")
            if keep:
                err.print("the service keeps running; Ctrl-C stops it")
                with contextlib.suppress(KeyboardInterrupt):
                    service.wait()
            return code
        finally:
            service.terminate()
            try:
                service.wait(15)
            except subprocess.TimeoutExpired:
                service.kill()
