"""Timeouts honoured: a target that sleeps ends with TargetDatabaseError naming the timeout; a
table locked by someone else is left out of the analysis (or costs a step lock_timeout), never
a hang."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from intperf.dbopt.analyze import AnalysisOptions, analyze
from intperf.dbopt.connection import connect_target
from intperf.errors import TargetDatabaseError

from . import analysis_schema
from .conftest import PgTarget

pytestmark = pytest.mark.integration

SLEEPY = """
CREATE FUNCTION slow_total() RETURNS bigint LANGUAGE sql AS
  'SELECT count(*) FROM pg_sleep(30), generate_series(1, 10)';
CREATE VIEW slow_report AS SELECT slow_total() AS total;
"""


def test_a_target_that_sleeps_hits_statement_timeout(pg_target: PgTarget) -> None:
    with pg_target.connect() as conn:
        conn.execute(SLEEPY)
    dsn = pg_target.dsn_for(pg_target.user, "hunter2-secret")
    started = time.monotonic()
    with pytest.raises(TargetDatabaseError) as info, \
            connect_target(dsn, statement_timeout_ms=300) as conn:
        conn.execute("SELECT * FROM slow_report").fetchall()
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert elapsed < 10, elapsed  # 300 ms, not the view's 30 s
    assert message.startswith(dsn.replace("hunter2-secret", "***") + ": statement_timeout "
                              "(300 ms) expired: canceling statement due to statement timeout")
    assert "hunter2-secret" not in message
    assert info.value.retriable is False and info.value.exit_code == 3


def test_a_locked_table_is_left_out_within_lock_timeout(pg_target: PgTarget) -> None:
    analysis_schema.build(pg_target.dsn)
    locked = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:
        with psycopg.connect(pg_target.dsn) as conn:  # a migration holding orders
            conn.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
            locked.set()
            release.wait(60)
            conn.rollback()

    holder = threading.Thread(target=hold_lock, daemon=True)
    holder.start()
    try:
        assert locked.wait(30)
        started = time.monotonic()
        report = analyze(pg_target.dsn, AnalysisOptions(lock_timeout_ms=200,
                                                        statement_timeout_ms=5000))
        elapsed = time.monotonic() - started
    finally:
        release.set()
        holder.join(30)
    tables = [s["reason"] for s in report.skipped if s["step"] == "tables"]
    assert len(tables) == 1 and tables[0].startswith("public.orders (pid "), report.skipped
    assert "ACCESS EXCLUSIVE" in tables[0]
    assert elapsed < 30, elapsed
    # Everything but the locked table was analyzed.
    assert "public.orders" not in {t.schema + "." + t.name for t in report.tables}
    assert {"public.customers", "public.events"} <= {f"{t.schema}.{t.name}" for t in report.tables}
    assert report.category("foreign-key.unindexed")
    assert report.category("index.duplicate")
    # A step that needs the lock anyway waits lock_timeout, then is skipped.
    partitioning = [s["reason"] for s in report.skipped if s["step"] == "partitioning advice"]
    assert all(r.startswith("lock_timeout (200 ms) expired") for r in partitioning)
