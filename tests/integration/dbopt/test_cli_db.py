"""``intperf db analyze`` end to end, through a real subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from . import analysis_schema
from .conftest import PgTarget

pytestmark = pytest.mark.integration


def intperf_db(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "intperf", "db", "analyze", *args], env=env,
                          text=True, capture_output=True, timeout=300, check=False)


@pytest.fixture
def shop(pg_target: PgTarget) -> PgTarget:
    analysis_schema.build(pg_target.dsn)
    pg_target.reset_statements()
    analysis_schema.run_workload(pg_target.dsn)
    return pg_target


def test_json_report(shop: PgTarget) -> None:
    proc = intperf_db("--dsn", shop.dsn, "--json", "--no-index-advice", "--memory", "8GB",
                      "--cores", "4", "--storage", "ssd", "--workload-type", "web")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    categories = {f["category"] for f in data["findings"]}
    assert {"index.duplicate", "index.redundant", "foreign-key.unindexed",
            "table.dead-tuples", "statement.temp-spill"} <= categories
    assert data["tuning"]["machine"] == {"memory_bytes": 8 * 1024**3, "cores": 4,
                                         "storage": "ssd", "source": "options",
                                         "storage_assumed": False}
    tuning = {r["name"]: r["recommended"] for r in data["tuning"]["settings"]}
    assert tuning["shared_buffers"] == "2GB" and tuning["effective_cache_size"] == "6GB"
    assert tuning["random_page_cost"] == "1.1"
    assert data["pool"]["keys"]["spring.datasource.hikari.maximum-pool-size"] >= 8
    assert "… statements" in proc.stderr  # progress on stderr, JSON alone on stdout


def test_rich_report(shop: PgTarget) -> None:
    proc = intperf_db("--dsn", shop.dsn, "--no-index-advice", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    text = proc.stdout
    assert "critical" in text and "warning" in text
    assert "CREATE INDEX CONCURRENTLY ON orders (customer_id);" in text
    assert "top statements by total time" in text
    assert "maximum-pool-size:" in text


def test_unreachable_target_exits_3_with_the_password_redacted() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    proc = intperf_db("--dsn", f"postgresql://app:Sup3rSecret@127.0.0.1:{port}/shop", "-q")
    assert proc.returncode == 3, proc.stderr
    assert "Sup3rSecret" not in proc.stderr + proc.stdout
    assert f"postgresql://app:***@127.0.0.1:{port}/shop" in proc.stderr.replace("\n", "")


@pytest.mark.parametrize("args", [
    ["--workload-type", "nope"], ["--budget", "lots"], ["--storage", "tape"],
    ["--statement-timeout", "0s"],
])
def test_bad_options_exit_2(args: list[str]) -> None:
    proc = intperf_db("--dsn", "postgresql://x@127.0.0.1:1/x", *args)
    assert proc.returncode == 2, proc.stderr
    assert args[0] in proc.stderr


def test_malformed_dsn_exits_2() -> None:
    proc = intperf_db("--dsn", "host=127.0.0.1 password='s3cr3tpw")
    assert proc.returncode == 2, proc.stderr
    assert "s3cr3tpw" not in proc.stderr and "unterminated quoted string" in proc.stderr

