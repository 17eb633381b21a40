"""The initial schema: runs, their seconds and criteria, baselines, schedules, keys, audit log.

On PostgreSQL ``run_seconds`` is range-partitioned by ``ts`` with a DEFAULT partition; daily
partitions are added by ``intperf.store.partitions.ensure_partitions``.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RUN_STATUSES = (
    "'queued', 'running', 'passed', 'failed', 'aborted', 'interrupted', 'cancelled', 'error'"
)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _big_id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create every table; run_seconds is partitioned on PostgreSQL."""
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("cron", sa.String(200), nullable=False),
        sa.Column("suite", _json(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("options", _json(), nullable=False),
        sa.CheckConstraint("source IN ('config', 'api')", name=op.f("ck_schedules_source")),
        sa.UniqueConstraint("name", name=op.f("uq_schedules_name")),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("scenario", sa.String(200), nullable=False),
        sa.Column("test_type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("requested_by", sa.String(200), nullable=True),
        sa.Column("options", _json(), nullable=False),
        sa.Column("scenario_doc", _json(), nullable=False),
        sa.Column("summary", _json(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "schedule_id",
            sa.String(32),
            sa.ForeignKey("schedules.id", ondelete="SET NULL", name=op.f("fk_runs_schedule_id")),
            nullable=True,
        ),
        sa.CheckConstraint(f"status IN ({_RUN_STATUSES})", name=op.f("ck_runs_status")),
    )
    op.create_index(op.f("ix_runs_scenario_created_at"), "runs", ["scenario", "created_at"])
    op.create_index(op.f("ix_runs_status"), "runs", ["status"])

    if op.get_context().dialect.name == "postgresql":
        # A partitioned table's keys must include the partition key, hence ts in the PK.
        # Foreign keys from partitioned tables are supported since PostgreSQL 11.
        op.execute(
            "CREATE TABLE run_seconds ("
            " run_id VARCHAR(32) NOT NULL"
            "  CONSTRAINT fk_run_seconds_run_id REFERENCES runs (id) ON DELETE CASCADE,"
            " second INTEGER NOT NULL,"
            " ts TIMESTAMP WITH TIME ZONE NOT NULL,"
            " data JSON NOT NULL,"
            " CONSTRAINT pk_run_seconds PRIMARY KEY (run_id, second, ts)"
            ") PARTITION BY RANGE (ts)"
        )
        op.execute("CREATE TABLE run_seconds_default PARTITION OF run_seconds DEFAULT")
    else:
        op.create_table(
            "run_seconds",
            sa.Column(
                "run_id",
                sa.String(32),
                sa.ForeignKey("runs.id", ondelete="CASCADE", name=op.f("fk_run_seconds_run_id")),
                nullable=False,
            ),
            sa.Column("second", sa.Integer(), nullable=False, autoincrement=False),
            sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
            sa.Column("data", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("run_id", "second", "ts", name=op.f("pk_run_seconds")),
        )
    op.create_index(op.f("ix_run_seconds_ts"), "run_seconds", ["ts"])

    op.create_table(
        "criteria_results",
        sa.Column("id", _big_id(), primary_key=True, autoincrement=True),
        sa.Column(
            "run_id",
            sa.String(32),
            sa.ForeignKey("runs.id", ondelete="CASCADE", name=op.f("fk_criteria_results_run_id")),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("criterion", sa.Text(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("observed", sa.Float(), nullable=True),
        sa.Column("detail", _json(), nullable=False),
    )
    op.create_index(op.f("ix_criteria_results_run_id"), "criteria_results", ["run_id"])
    op.create_table(
        "baselines",
        sa.Column("scenario", sa.String(200), primary_key=True),
        sa.Column(
            "run_id",
            sa.String(32),
            sa.ForeignKey("runs.id", ondelete="CASCADE", name=op.f("fk_baselines_run_id")),
            nullable=False,
        ),
        sa.Column("set_by", sa.String(200), nullable=True),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('viewer', 'operator', 'admin')", name=op.f("ck_api_keys_role")
        ),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", _big_id(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target", sa.String(200), nullable=True),
        sa.Column("detail", _json(), nullable=True),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])


def downgrade() -> None:
    """Drop every table (on PostgreSQL run_seconds takes its partitions with it)."""
    op.drop_table("audit_log")
    op.drop_table("api_keys")
    op.drop_table("baselines")
    op.drop_table("criteria_results")
    op.drop_table("run_seconds")
    op.drop_table("runs")
    op.drop_table("schedules")
