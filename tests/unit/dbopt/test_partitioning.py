"""Partitioning rules and DDL (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pglast import parse_sql

from intperf.dbopt.partitioning import (
    PartitioningRules,
    TableProfile,
    TimeColumn,
    choose_interval,
    plan_partitioning,
    rows_per_day,
)

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
DAY = 86400.0


def profile(**kw: object) -> TableProfile:
    base: dict[str, object] = dict(
        table="public.events", rows=50_000_000, bytes=8 << 30, inserted=3_000_000,
        updated=1000, deleted=0, period_s=30 * DAY,
        time_columns=(TimeColumn("created_at", "timestamp with time zone", 0.99,
                                 NOW - timedelta(days=500), NOW),
                      TimeColumn("updated_at", "timestamp with time zone", 0.2,
                                 NOW - timedelta(days=500), NOW)),
        primary_key=("id",))
    base.update(kw)
    return TableProfile(**base)  # type: ignore[arg-type]


def test_big_append_mostly_table_gets_a_monthly_plan() -> None:
    plan = plan_partitioning(profile(), now=NOW)
    assert plan is not None
    assert plan.column == "created_at"  # the column in append order
    assert plan.interval == "month"  # 100k rows/day: 3M a month < 10M
    assert plan.rows_per_day == pytest.approx(100_000)
    ddl = "\n".join(plan.ddl)
    assert "PARTITION BY RANGE (created_at)" in ddl
    assert "ADD PRIMARY KEY (id, created_at)" in ddl
    assert "public.events_partitioned_p202606 PARTITION OF" in ddl
    assert "FOR VALUES FROM ('2026-06-01T00:00:00+00:00') TO ('2026-07-01T00:00:00+00:00')" in ddl
    for statement in plan.ddl:  # every statement is valid SQL for PostgreSQL's parser
        assert len(parse_sql(statement)) == 1
    assert plan.partitions == len(plan.ddl) - 2
    assert any("primary key" in n for n in plan.notes)
    assert plan.retention is not None and "13 months" in plan.retention
    assert plan.retention_sql is not None and "DETACH PARTITION" in plan.retention_sql
    steps = " ".join(plan.migration)
    for word in ("Create", "batches", "RENAME", "ATTACH PARTITION", "LOCK TABLE"):
        assert word in steps


@pytest.mark.parametrize(("per_day", "interval"), [
    (10_000, "month"), (300_000, "month"), (400_000, "week"), (1_428_571, "week"),
    (1_500_000, "day"), (50_000_000, "day")])
def test_interval_from_the_row_rate(per_day: float, interval: str) -> None:
    assert choose_interval(per_day, PartitioningRules()) == interval


def test_daily_plan_for_a_fast_table_and_its_retention() -> None:
    plan = plan_partitioning(profile(inserted=30 * 2_000_000, time_columns=(TimeColumn(
        "created_at", "timestamp without time zone", 1.0, NOW - timedelta(days=120), NOW),)),
        now=NOW)
    assert plan is not None and plan.interval == "day"
    assert plan.retention is not None and "90 days" in plan.retention
    assert "events_partitioned_p20260615" in "\n".join(plan.ddl)


def test_too_many_partitions_widen_the_interval() -> None:
    plan = plan_partitioning(profile(inserted=30 * 2_000_000, time_columns=(TimeColumn(
        "created_at", "date", 1.0, NOW - timedelta(days=3000), NOW),)), now=NOW)
    assert plan is not None
    assert plan.interval in ("week", "month")
    assert plan.partitions <= PartitioningRules().max_partitions


@pytest.mark.parametrize("change", [
    {"bytes": 10 << 20, "rows": 100_000},  # small
    {"updated": 2_000_000},  # update-heavy: not append-mostly
    {"deleted": 1_000_000},
    {"inserted": 0},  # nothing arrives
    {"time_columns": ()},  # no time column
    {"time_columns": (TimeColumn("name", "text"),)},
    {"partitioned": True},
])
def test_no_plan(change: dict[str, object]) -> None:
    assert plan_partitioning(profile(**change), now=NOW) is None


def test_rate_falls_back_to_the_time_span() -> None:
    col = TimeColumn("created_at", "date", 1.0, NOW - timedelta(days=100), NOW)
    p = profile(inserted=0, period_s=0)
    assert rows_per_day(p, col) == pytest.approx(500_000)
    assert rows_per_day(p, None) == 0.0


def test_foreign_keys_pointing_at_the_table_are_noted() -> None:
    plan = plan_partitioning(profile(referenced_by=("public.clicks",)), now=NOW)
    assert plan is not None and any("public.clicks" in n for n in plan.notes)
    assert plan.to_dict()["interval"] == "month"
