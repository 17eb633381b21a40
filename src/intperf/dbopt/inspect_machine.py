"""How big the database server is (memory, cores), for the tuning and pool advice: given by the
user, else read through the server (``pg_read_file`` of /proc and cgroup files: superuser or
``pg_read_server_files``), else this machine's when the target is on loopback, else unknown."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from intperf.dbopt.tuning import Machine

__all__ = [
    "is_local_host",
    "local_machine",
    "parse_cgroup_cpu",
    "parse_cgroup_memory",
    "parse_cpuinfo",
    "parse_meminfo",
    "read_server_machine",
    "resolve_machine",
]

_MEMTOTAL = re.compile(r"^MemTotal:\s+(\d+)\s*kB", re.MULTILINE)
_PROCESSOR = re.compile(r"^processor\s*:", re.MULTILINE)


def parse_meminfo(text: str) -> int | None:
    """``MemTotal`` of /proc/meminfo in bytes."""
    m = _MEMTOTAL.search(text)
    return int(m.group(1)) * 1024 if m else None


def parse_cpuinfo(text: str) -> int | None:
    """The number of ``processor`` entries of /proc/cpuinfo."""
    n = len(_PROCESSOR.findall(text))
    return n or None


def parse_cgroup_memory(text: str) -> int | None:
    """cgroup v2 ``memory.max``: bytes, or None for ``max`` (no limit)."""
    value = text.strip()
    return int(value) if value.isdigit() else None


def parse_cgroup_cpu(text: str) -> int | None:
    """cgroup v2 ``cpu.max`` (``QUOTA PERIOD``): whole cores, or None for ``max``."""
    parts = text.split()
    if len(parts) != 2 or not parts[0].isdigit() or not parts[1].isdigit() or parts[1] == "0":
        return None
    return max(1, -(-int(parts[0]) // int(parts[1])))


def _smaller(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _from_files(read: Callable[[str], str | None]) -> tuple[int | None, int | None]:
    memory = _smaller(parse_meminfo(read("/proc/meminfo") or ""),
                      parse_cgroup_memory(read("/sys/fs/cgroup/memory.max") or ""))
    cores = _smaller(parse_cpuinfo(read("/proc/cpuinfo") or ""),
                     parse_cgroup_cpu(read("/sys/fs/cgroup/cpu.max") or ""))
    return memory, cores


def read_server_machine(conn: psycopg.Connection[Any]) -> tuple[int | None, int | None]:
    """(memory bytes, cores) read through the server; raises psycopg errors (permission)."""
    def read(path: str) -> str | None:
        row = conn.execute(
            "/* intperf-dbopt */ SELECT pg_catalog.pg_read_file(%s, 0, 1048576, true)",
            (path,)).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    return _from_files(read)


def local_machine() -> tuple[int | None, int | None]:
    """(memory bytes, cores) of this machine (cgroup limits included)."""
    def read(path: str) -> str | None:
        try:
            return Path(path).read_text(errors="replace")
        except OSError:
            return None

    memory, cores = _from_files(read)
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = os.cpu_count() or 0
    return memory, _smaller(cores, affinity or None)


def is_local_host(host: str | None) -> bool:
    """True for a Unix socket (no host, or a path) and loopback names and addresses."""
    if not host:
        return True
    for part in host.split(","):
        h = part.strip()
        if h.startswith("/") or h.startswith("@") or h.lower() == "localhost" or not h:
            continue
        try:
            if not ipaddress.ip_address(h.strip("[]")).is_loopback:
                return False
        except ValueError:
            return False
    return True


def resolve_machine(*, memory_bytes: int | None, cores: int | None, storage: str | None,
                    server: tuple[int | None, int | None] | None, local: bool,
                    local_reader: Callable[[], tuple[int | None, int | None]] = local_machine
                    ) -> Machine:
    """Combine the sources: options first, then the server's files, then this machine's when
    the target is local. The storage type is an option (``ssd`` assumed otherwise)."""
    source = "options"
    mem, cpu = memory_bytes, cores
    if mem is None or cpu is None:
        found = server or (None, None)
        where = "server"
        if found == (None, None) and local:
            found, where = local_reader(), "local"
        if found != (None, None):
            if (mem is None and found[0] is not None) or (cpu is None and found[1] is not None):
                source = where if memory_bytes is None and cores is None else f"options+{where}"
            mem = mem if mem is not None else found[0]
            cpu = cpu if cpu is not None else found[1]
        elif memory_bytes is None and cores is None:
            source = "unknown"
    return Machine(mem, cpu, storage or "ssd", source, storage_assumed=storage is None)
