"""Apply mode (intperf.dbopt.apply): create, verify, measure, keep or drop; dry run; the
maintenance window; cleanup of a failed build. Against the private PostgreSQL 15."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta
from typing import Any

import psycopg
import pytest

from intperf.dbopt.apply import (
    AppliedIndex,
    ApplySettings,
    AuditEntry,
    _judge,
    apply_indexes,
    create_statement,
)
from intperf.dbopt.connection import connect_target
from intperf.dbopt.index_advisor import IndexAdvice, QueryGain, advise_indexes
from intperf.dbopt.maintenance import MaintenanceWindow
from intperf.dbopt.workload import read_workload
from intperf.errors import UsageError

from .conftest import PgTarget
from .test_advisor import ORDERS, setup

pytestmark = pytest.mark.integration

LOOKUP = "SELECT id, total FROM orders WHERE customer_id = %s"


def indexes(target: PgTarget) -> dict[str, bool]:
    with psycopg.connect(target.dsn) as conn:
        rows = conn.execute("SELECT c.relname, i.indisvalid FROM pg_index i"
                            " JOIN pg_class c ON c.oid = i.indexrelid"
                            " WHERE i.indrelid = 'orders'::regclass").fetchall()
    return {str(name): bool(valid) for name, valid in rows}


class Workload:
    """Stands in for time.sleep: while apply 'waits' to measure, the application runs."""

    def __init__(self, target: PgTarget, runs: int = 30) -> None:
        self.target, self.runs, self.slept = target, runs, []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        with psycopg.connect(self.target.dsn, autocommit=True) as conn:
            for i in range(self.runs):
                conn.execute(LOOKUP, (i % 1000,)).fetchall()


@pytest.fixture
def shop(pg_target: PgTarget) -> tuple[PgTarget, list[IndexAdvice]]:
    setup(pg_target, ORDERS, [(LOOKUP, (7,), 20)])
    with connect_target(pg_target.dsn) as conn:
        advice = advise_indexes(conn, read_workload(conn), budget_bytes=None)
    assert advice
    return pg_target, advice


def test_dry_run_writes_nothing(shop: tuple[PgTarget, list[IndexAdvice]]) -> None:
    target, advice = shop
    audit: list[AuditEntry] = []
    report = apply_indexes(target.dsn, advice, audit=audit.append)  # dry run is the default
    assert report.dry_run
    assert [i.status for i in report.indexes] == ["planned"] * len(advice)
    assert [e.action for e in audit] == ["plan"] * len(advice)
    assert audit[0].detail["sql"].startswith("CREATE INDEX CONCURRENTLY")
    assert indexes(target) == {"orders_pkey": True}


def test_apply_creates_verifies_measures_and_keeps(shop: tuple[PgTarget,
                                                                list[IndexAdvice]]) -> None:
    target, advice = shop
    audit: list[AuditEntry] = []
    workload = Workload(target)
    report = apply_indexes(target.dsn, advice, dry_run=False, measure_for_s=30,
                           audit=audit.append, sleep=workload)
    assert workload.slept == [30, 30]  # before and after
    (item,) = report.indexes
    assert item.status == "kept", item.reason
    assert item.used_by == [advice[0].helps[0].queryid]
    assert item.mean_before_ms is not None and item.mean_after_ms is not None
    assert item.mean_after_ms < item.mean_before_ms
    name = item.index.split(".", 1)[1]
    assert indexes(target) == {"orders_pkey": True, name: True}
    assert [e.action for e in audit] == ["create", "created", "verify", "measure", "keep"]
    assert all(e.target == item.index for e in audit)


def test_an_index_that_does_not_help_is_dropped(shop: tuple[PgTarget,
                                                            list[IndexAdvice]]) -> None:
    target, _ = shop
    with psycopg.connect(target.dsn) as conn:
        qid = conn.execute("SELECT queryid FROM pg_stat_statements WHERE query LIKE %s",
                           ("SELECT id, total FROM orders WHERE customer_id%",)).fetchone()
    assert qid is not None
    # An index on a column the statement does not filter on: no plan will use it.
    useless = IndexAdvice("public.orders", ("total",), name="orders_total_idx",
                          helps=(QueryGain(int(qid[0]), LOOKUP.replace("%s", "$1"), 20, 1.0,
                                           0.5),))
    audit: list[AuditEntry] = []
    report = apply_indexes(target.dsn, [useless], dry_run=False, measure_for_s=5,
                           audit=audit.append, sleep=Workload(target, runs=5))
    (item,) = report.indexes
    assert item.status == "dropped" and "no plan" in item.reason
    assert indexes(target) == {"orders_pkey": True}
    assert [e.action for e in audit] == ["create", "created", "verify", "measure", "drop"]


def test_outside_the_maintenance_window_apply_refuses(
        shop: tuple[PgTarget, list[IndexAdvice]]) -> None:
    target, advice = shop
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    audit: list[AuditEntry] = []
    report = apply_indexes(target.dsn, advice, dry_run=False, maintenance_window="02:00-04:00",
                           audit=audit.append, now=lambda: now, sleep=pytest.fail)
    assert report.refused is not None and "02:00-04:00 UTC" in report.refused
    assert [i.status for i in report.indexes] == ["refused"]
    assert [e.action for e in audit] == ["refuse"]
    assert indexes(target) == {"orders_pkey": True}


def test_apply_can_wait_for_the_window(shop: tuple[PgTarget, list[IndexAdvice]]) -> None:
    target, advice = shop
    clock = [datetime(2026, 6, 1, 1, 30, tzinfo=UTC)]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += timedelta(seconds=seconds)

    report = apply_indexes(target.dsn, advice, dry_run=False, maintenance_window="02:00-04:00",
                           measure_for_s=0, settings=ApplySettings(wait_for_window=True),
                           now=lambda: clock[0], sleep=sleep)
    assert waits[0] == 1800
    assert report.indexes[0].status == "kept"


def test_a_failed_build_leaves_no_invalid_index(shop: tuple[PgTarget,
                                                            list[IndexAdvice]]) -> None:
    target, advice = shop
    with psycopg.connect(target.dsn, autocommit=True) as conn:  # make the build slow
        conn.execute("INSERT INTO orders SELECT i, i % 1000, 's', 1, NULL, now()"
                     " FROM generate_series(200001, 1500000) i")
    audit: list[AuditEntry] = []
    report = apply_indexes(target.dsn, advice, dry_run=False, measure_for_s=0,
                           audit=audit.append, settings=ApplySettings(build_timeout_ms=20))
    (item,) = report.indexes
    assert item.status == "failed" and "timeout" in item.reason
    actions = [e.action for e in audit]
    assert actions[:2] == ["create", "create-failed"]
    assert indexes(target) == {"orders_pkey": True}  # the invalid leftover was dropped


def test_an_existing_index_of_the_same_name_is_left_alone(
        shop: tuple[PgTarget, list[IndexAdvice]]) -> None:
    target, advice = shop
    name = advice[0].name
    with psycopg.connect(target.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE INDEX {name} ON orders (status)")
    report = apply_indexes(target.dsn, advice, dry_run=False, measure_for_s=0)
    assert report.indexes[0].status == "exists"
    assert name in indexes(target)


def test_advice_is_rebuilt_and_checked_before_anything_runs() -> None:
    evil = IndexAdvice("public.orders", ("a",), where="true; DROP TABLE orders", name="x")
    with pytest.raises(UsageError):
        create_statement(evil, "x")
    ok = IndexAdvice("public.orders", ("a", "b"), ("c",), "d IS NULL", name="ix",
                     create_sql="DROP TABLE orders")  # the text is never used
    assert create_statement(ok, "ix") == (
        "CREATE INDEX CONCURRENTLY ix ON public.orders (a, b) INCLUDE (c) WHERE d IS NULL")


# --- pure parts -------------------------------------------------------------------------------
def _item(used: bool) -> AppliedIndex:
    a = IndexAdvice("public.t", ("a",), name="ix", helps=(QueryGain(1, "q", 1, 2.0, 1.0),))
    return AppliedIndex(a, "public.ix", used_by=[1] if used else [])


@pytest.mark.parametrize(("before", "after", "used", "status"), [
    ({1: (10.0, 5.0)}, {1: (10.0, 1.0)}, True, "kept"),
    ({1: (10.0, 5.0)}, {1: (10.0, 4.9)}, True, "dropped"),  # less than 5% better
    ({1: (10.0, 5.0)}, {1: (10.0, 1.0)}, False, "dropped"),  # plans do not use it
    ({}, {}, True, "kept"),  # nothing ran: plans use it, keep
])
def test_judge(before: dict[int, Any], after: dict[int, Any], used: bool, status: str) -> None:
    item = _item(used)
    _judge(item, before, after, ApplySettings())
    assert item.status == status


@pytest.mark.parametrize(("text", "inside", "outside"), [
    ("02:00-04:00", time(3, 0), time(5, 0)),
    ("22:00-04:00", time(23, 30), time(12, 0)),  # across midnight
    ("22:00-04:00", time(1, 0), time(4, 0)),
])
def test_window(text: str, inside: time, outside: time) -> None:
    w = MaintenanceWindow.parse(text)
    day = datetime(2026, 6, 1, tzinfo=UTC)
    assert w.contains(datetime.combine(day, inside, UTC))
    assert not w.contains(datetime.combine(day, outside, UTC))


def test_window_zone_and_next_start() -> None:
    w = MaintenanceWindow.parse("02:00-04:00 Europe/Berlin")  # UTC+2 in June
    assert w.contains(datetime(2026, 6, 1, 0, 30, tzinfo=UTC))
    assert w.next_start(datetime(2026, 6, 1, 12, 0, tzinfo=UTC)) == datetime(
        2026, 6, 2, 0, 0, tzinfo=UTC)
    for bad in ("2-4", "25:00-01:00", "01:00-02:00 Mars/Olympus"):
        with pytest.raises(UsageError):
            MaintenanceWindow.parse(bad)


def test_cli_apply(pg_target: PgTarget) -> None:
    setup(pg_target, ORDERS, [(LOOKUP, (7,), 20)])
    base = [sys.executable, "-m", "intperf", "db", "analyze", "--dsn", pg_target.dsn, "-q"]
    bad = subprocess.run([*base, "--apply", "--maintenance-window", "25:00-26:00"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2, bad.stderr
    r = subprocess.run([*base, "--json", "--apply", "--measure", "0s"], capture_output=True,
                       text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    applied = json.loads(r.stdout)["apply"]
    assert applied["dry_run"] is False
    assert [i["status"] for i in applied["indexes"]] == ["kept"]
    assert applied["indexes"][0]["index"].split(".", 1)[1] in indexes(pg_target)
