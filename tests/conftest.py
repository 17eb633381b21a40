"""Servers shared by the whole test session: a private PostgreSQL 15 on loopback."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
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


def _install_pg() -> str:
    """Try the project's way to get the binaries (Debian's package); returns why it failed."""
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        return "apt-get is missing or we are not root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "--no-install-recommends", f"postgresql-{PG_MAJOR}"]
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
