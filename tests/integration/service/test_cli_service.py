"""CLI parity against a real ``intperf serve``: every command through a real subprocess.

``keys create/list`` (the key is shown once, never listed), ``run --server`` (exit codes 0, 1,
2, 3), ``runs list/show/baseline/compare``, and the README's main job, ``intperf quickstart``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from intperf.demo import DemoServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUN_URL = re.compile(r"^run:\s+(http://127\.0\.0\.1:\d+)/api/v1/performance/runs/([0-9a-f]+)$",
                     re.MULTILINE)
REPORT_URL = re.compile(r"^report:\s+http://127\.0\.0\.1:\d+/api/v1/performance/runs/"
                        r"[0-9a-f]+/report\.html$", re.MULTILINE)
# The bundled scenario's own criteria include `rps > 100`, which 3 users cannot reach.
PASSING = ["--criterion", "p99(response_time) < 2000ms", "--criterion", "error_rate < 5%"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def intperf(*args: str, timeout: float = 120.0,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m intperf ARGS`` in its own process group; whatever it started is killed
    when it ends (or times out), so nothing outlives the test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTPERF_")}
    proc = subprocess.Popen([sys.executable, "-m", "intperf", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            env=env, cwd=cwd, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.returncode is None:
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@dataclass(frozen=True)
class Served:
    url: str
    config: Path
    admin_key: str
    created: subprocess.CompletedProcess[str]
    """What ``intperf keys create`` printed for the admin key."""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``intperf serve`` (SQLite in a temporary directory) and an admin key made by the CLI."""
    tmp = tmp_path_factory.mktemp("cli-service")
    port = _free_port()
    config = tmp / "application.yml"
    config.write_text(yaml.safe_dump({
        "server": {"host": "127.0.0.1", "port": port},
        "intperf": {"storage-url": f"sqlite:///{tmp / 'intperf.db'}",
                    "results-dir": str(tmp / "results"),
                    "scenario-dir": str(tmp / "scenarios"),
                    "allowed-targets": ["127.0.0.0/8"]},
    }))
    created = intperf("keys", "create", "--role", "admin", "--name", "cli-admin",
                      "--config", str(config), timeout=60)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1].strip()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTPERF_")}
    log = tmp / "service.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "intperf", "serve", "--config",
                                 str(config)], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/ready", timeout=2, trust_env=False).is_success:
                    break
            assert time.monotonic() < deadline, "the service did not become ready in 60 s"
            time.sleep(0.1)  # the polling interval
        yield Served(url, config, key, created)
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def submit(served: Served, shop: DemoServer, *extra: str) -> tuple[subprocess.CompletedProcess[str],
                                                                   str]:
    r = intperf("run", "social-commerce", "--server", served.url, "--api-key", served.admin_key,
                "--users", "3", "--duration", "2s", "--base-url", shop.url, *extra)
    match = RUN_URL.search(r.stdout)
    assert match is not None, r.stdout + r.stderr
    assert match.group(1) == served.url
    return r, match.group(2)


@pytest.fixture(scope="module")
def passed_run(served: Served,
               demo_shop: DemoServer) -> tuple[subprocess.CompletedProcess[str], str]:
    return submit(served, demo_shop, *PASSING)


@pytest.fixture(scope="module")
def failed_run(served: Served,
               demo_shop: DemoServer) -> tuple[subprocess.CompletedProcess[str], str]:
    return submit(served, demo_shop, "--quiet", "--criterion", "p50(response_time) < 0.001ms")


def runs(served: Served, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    return intperf("runs", *args, "--server", served.url, "--api-key", key or served.admin_key)


def test_keys_create_prints_the_key_once_and_list_never(served: Served) -> None:
    key = served.admin_key
    assert key.startswith("ip_") and len(key) > 20
    assert served.created.stdout.count(key) == 1
    assert key not in served.created.stderr
    assert "shown once" in served.created.stderr
    listed = intperf("keys", "list", "--config", str(served.config), timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "cli-admin" in listed.stdout and "admin" in listed.stdout
    assert key not in listed.stdout + listed.stderr
    assert key[:8] in listed.stdout  # only the display prefix


def test_run_on_server_passes_and_prints_the_urls(
        passed_run: tuple[subprocess.CompletedProcess[str], str]) -> None:
    r, _ = passed_run
    assert r.returncode == 0, r.stdout + r.stderr
    assert REPORT_URL.search(r.stdout), r.stdout
    assert "verdict: PASSED" in r.stdout


def test_a_failing_criterion_exits_1(
        failed_run: tuple[subprocess.CompletedProcess[str], str]) -> None:
    r, _ = failed_run
    assert r.returncode == 1, r.stdout + r.stderr
    assert "p50(response_time)" in r.stdout and "FAILED" in r.stdout
    assert REPORT_URL.search(r.stdout), r.stdout


def test_a_wrong_key_exits_2_with_a_clear_message(served: Served,
                                                  demo_shop: DemoServer) -> None:
    r = intperf("run", "social-commerce", "--server", served.url, "--api-key", "ip_not-a-key",
                "--users", "3", "--duration", "2s", "--base-url", demo_shop.url)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "401" in r.stderr and "API key is not valid" in r.stderr
    assert "Traceback" not in r.stderr
    listed = runs(served, "list", key="ip_not-a-key")
    assert listed.returncode == 2 and "API key is not valid" in listed.stderr


def test_an_unreachable_server_exits_3(served: Served, demo_shop: DemoServer) -> None:
    nobody = f"http://127.0.0.1:{_free_port()}"
    r = intperf("run", "social-commerce", "--server", nobody, "--api-key", served.admin_key,
                "--users", "3", "--duration", "2s", "--base-url", demo_shop.url)
    assert r.returncode == 3, r.stdout + r.stderr
    assert f"cannot reach the service at {nobody}" in r.stderr
    assert "Traceback" not in r.stderr


def test_runs_list_and_show(served: Served,
                            passed_run: tuple[subprocess.CompletedProcess[str], str]) -> None:
    _, run_id = passed_run
    listed = runs(served, "list")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if run_id in line)
    assert "social-commerce" in row and "passed" in row
    shown = runs(served, "show", run_id)
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["runId"] == run_id
    assert doc["status"] == "passed"
    assert [c["passed"] for c in doc["criteria"]] == [True, True]


def test_baseline_then_compare(served: Served,
                               passed_run: tuple[subprocess.CompletedProcess[str], str],
                               failed_run: tuple[subprocess.CompletedProcess[str], str]) -> None:
    _, baseline_id = passed_run
    _, candidate_id = failed_run
    marked = runs(served, "baseline", baseline_id)
    assert marked.returncode == 0, marked.stderr
    assert f"{baseline_id} is now the baseline of social-commerce" in marked.stdout
    compared = runs(served, "compare", candidate_id, "--with", "baseline")
    assert compared.returncode in (0, 1), compared.stdout + compared.stderr
    header = compared.stdout.splitlines()[1]
    for column in ("scope", "metric", "baseline", "candidate", "change", "verdict"):
        assert column in header
    for metric in ("p50", "p95", "p99", "throughput", "error_rate"):
        assert re.search(rf"│ global\s+│ {metric}\s+│", compared.stdout), compared.stdout


def test_quickstart_runs_the_main_job_through_the_service(tmp_path: Path) -> None:
    r = intperf("quickstart", "--out", str(tmp_path / "qs"), "--duration", "2s", "--quiet",
                timeout=240, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert RUN_URL.search(r.stdout), r.stdout
    assert REPORT_URL.search(r.stdout), r.stdout
    assert "verdict: PASSED" in r.stdout
