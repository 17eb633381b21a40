"""The crash test: SIGKILL the service in the middle of a run, its run process goes away too,
and after a restart the run is ``interrupted`` with every second flushed before the kill.

Real processes throughout: ``intperf keys create`` and ``intperf serve`` as subprocesses, the
run as the service's spawned child, the demo shop on 127.0.0.1 as the target.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from intperf.demo import DemoServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T = TypeVar("T")
API = "/api/v1/performance"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    # No INTPERF_* from the developer's shell: the config file alone decides.
    return {k: v for k, v in os.environ.items() if not k.startswith("INTPERF_")}


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)  # the polling interval, not a guess at readiness


def write_config(tmp_path: Path) -> tuple[Path, str]:
    port = _free_port()
    config = tmp_path / "application.yml"
    config.write_text(yaml.safe_dump({
        "server": {"host": "127.0.0.1", "port": port},
        "intperf": {"storage-url": f"sqlite:///{tmp_path / 'intperf.db'}",
                    "results-dir": str(tmp_path / "results"),
                    "scenario-dir": str(tmp_path / "scenarios"),
                    "allowed-targets": ["127.0.0.0/8"]},
    }))
    return config, f"http://127.0.0.1:{port}"


def create_key(config: Path, role: str, name: str) -> str:
    r = subprocess.run([sys.executable, "-m", "intperf", "keys", "create", "--role", role,
                        "--name", name, "--config", str(config)],
                       capture_output=True, text=True, timeout=60, env=_env(), check=False)
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip().splitlines()[-1].strip()
    assert key.startswith("ip_"), r.stdout
    return key


def _proc_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                kids += [int(p) for p in (task / "children").read_text().split()]
    return kids


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def run_processes(service_pid: int, run_id: str) -> list[int]:
    """The service's run processes: named ``intperf-run-<id>`` when the name is visible in
    /proc, else the multiprocessing spawn children (the only ones the service starts; the
    resource tracker is not a ``--multiprocessing-fork`` child)."""
    named = [int(p.name) for p in Path("/proc").iterdir()
             if p.name.isdigit() and f"intperf-run-{run_id}" in _proc_cmdline(int(p.name))]
    if named:
        return named
    return [pid for pid in _children(service_pid)
            if "--multiprocessing-fork" in _proc_cmdline(pid)]


class Service:
    """``python -m intperf serve --config F`` in its own process group, logging to a file."""

    def __init__(self, config: Path, url: str, log: Path) -> None:
        self.url, self.log = url, log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "intperf", "serve", "--config", str(config)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=_env(),
                start_new_session=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"the service exited with {self.proc.returncode}:\n"
                                     f"{self.log.read_text(errors='replace')[-3000:]}")
            try:
                return httpx.get(f"{self.url}/ready", timeout=2, trust_env=False).is_success
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout, f"{self.url}/ready")

    def kill_group(self) -> None:
        """SIGKILL everything the service started (its process group), then reap it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)


@contextlib.contextmanager
def service(config: Path, url: str, log: Path) -> Iterator[Service]:
    svc = Service(config, url, log)
    try:
        svc.wait_ready()
        yield svc
    finally:
        svc.kill_group()


def get_json(client: httpx.Client, path: str) -> Any:
    r = client.get(path)
    assert r.status_code == 200, r.text
    return r.json()


def test_sigkill_of_the_service_interrupts_the_run_and_keeps_flushed_seconds(
        tmp_path: Path, demo_shop: DemoServer) -> None:
    config, url = write_config(tmp_path)
    key = create_key(config, "operator", "crash-test")
    log = tmp_path / "service.log"
    leftovers: list[int] = []
    try:
        with service(config, url, log) as svc, \
                httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=10,
                             trust_env=False) as c:
            r = c.post(f"{API}/load-test", json={
                "testType": "NATIVE", "scenario": "social-commerce", "users": 5,
                "duration": "30s", "baseUrl": demo_shop.url})
            assert r.status_code == 202, r.text
            run_id = r.json()["runId"]

            def flushed() -> int:
                return len(get_json(c, f"{API}/runs/{run_id}/timeseries")["points"])

            wait_for(lambda: flushed() >= 3, 60, "3 flushed seconds")
            leftovers = wait_for(lambda: run_processes(svc.proc.pid, run_id), 10,
                                 f"the run process of {run_id}")
            assert get_json(c, f"{API}/runs/{run_id}")["status"] == "running"
            seen = flushed()

            svc.proc.send_signal(signal.SIGKILL)  # the service only, not its group
            svc.proc.wait(10)
            # PR_SET_PDEATHSIG: the kernel tells the orphaned run to stop.
            wait_for(lambda: not any(alive(p) for p in leftovers), 30,
                     f"the run process(es) {leftovers} to exit after the service died")

        with service(config, url, tmp_path / "service2.log"), \
                httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=10,
                             trust_env=False) as c:
            run = get_json(c, f"{API}/runs/{run_id}")
            assert run["status"] == "interrupted", run
            points = get_json(c, f"{API}/runs/{run_id}/timeseries")["points"]
            assert len(points) >= seen >= 3
            assert sum(p["requests"] for p in points) > 0
    finally:
        for pid in leftovers:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
