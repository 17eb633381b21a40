"""A private, throwaway PostgreSQL 15 with pg_stat_statements and HypoPG for benchmarks/dbopt
(the same start logic as the test fixtures in tests/conftest.py)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_MAJOR = "15"


class PostgresUnavailable(Exception):
    """The binaries are missing and cannot be installed, or the server would not start."""


def _bindir() -> Path | None:
    candidates = [Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")]
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    for c in candidates:
        postgres = c / "postgres"
        if postgres.exists() and (c / "initdb").exists():
            out = subprocess.run([postgres, "--version"], capture_output=True, text=True,
                                 check=False)
            if f" {PG_MAJOR}." in out.stdout:
                return c
    return None


def _apt_install(*packages: str) -> str:
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        return "apt-get is missing or we are not root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = [apt, "install", "-y", "--no-install-recommends", *packages]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if res.returncode != 0:
        subprocess.run([apt, "update"], capture_output=True, env=env, check=False)
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    return "" if res.returncode == 0 else res.stderr.strip()[-300:]


def _hypopg_installed(bindir: Path) -> bool:
    out = subprocess.run([bindir / "pg_config", "--sharedir"], capture_output=True, text=True,
                         check=False) if (bindir / "pg_config").exists() else None
    share = Path(out.stdout.strip()) if out and out.returncode == 0 else Path(
        f"/usr/share/postgresql/{PG_MAJOR}")
    return (share / "extension" / "hypopg.control").exists()


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def private_postgres() -> Iterator[str]:
    """Yields a libpq DSN of a fresh database on a private server; stops and removes it after."""
    bindir = _bindir()
    if bindir is None:
        why = _apt_install(f"postgresql-{PG_MAJOR}")
        bindir = _bindir()
        if bindir is None:
            raise PostgresUnavailable(f"PostgreSQL {PG_MAJOR} not installed ({why})")
    if not _hypopg_installed(bindir) and not Path(
            f"/usr/share/postgresql/{PG_MAJOR}/extension/hypopg.control").exists():
        why = _apt_install(f"postgresql-{PG_MAJOR}-hypopg")
        if why:
            raise PostgresUnavailable(f"HypoPG not installed ({why})")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise PostgresUnavailable("running as root without a 'postgres' user") from exc
    base = Path(tempfile.mkdtemp(prefix="intperf-bench-pg-", dir="/tmp"))
    base.chmod(0o755)
    data, sock, logfile = base / "data", base / "sock", base / "postgres.log"
    sock.mkdir()
    if os.geteuid() == 0:
        for p in (base, sock):
            shutil.chown(p, "postgres", "postgres")
    try:
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]
        res = subprocess.run(_as_postgres(initdb), capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {res.stderr[-500:]}")
        pg_ctl = str(bindir / "pg_ctl")
        port = 0
        for _attempt in range(3):
            port = _free_port()
            opts = (f"-p {port} -k {sock} -c listen_addresses=127.0.0.1"
                    " -c shared_preload_libraries=pg_stat_statements"
                    " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                    " -c shared_buffers=256MB -c max_parallel_workers_per_gather=0")
            start = [pg_ctl, "-D", str(data), "-l", str(logfile), "-w", "-t", "60", "-o", opts,
                     "start"]
            res = subprocess.run(_as_postgres(start), capture_output=True, text=True,
                                 check=False)
            if res.returncode == 0:
                break
        else:
            log = logfile.read_text(errors="replace") if logfile.exists() else ""
            raise PostgresUnavailable(f"server did not start: {res.stderr}\n{log[-1000:]}")
        try:
            import psycopg

            with psycopg.connect(host="127.0.0.1", port=port, user="postgres",
                                 dbname="postgres", autocommit=True) as conn:
                conn.execute("CREATE DATABASE bench")
            yield f"host=127.0.0.1 port={port} user=postgres dbname=bench"
        finally:
            subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
                           capture_output=True, check=False)
    finally:
        shutil.rmtree(base, ignore_errors=True)
