"""Alerting: alerts (with their history), their notification deliveries, and silences.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _big_id() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create alerts, alert_deliveries and silences."""
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("labels", _json(), nullable=False),
        sa.Column("details", _json(), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("group_key", sa.String(500), nullable=False),
        sa.Column("started_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
        sa.Column("fired_at", ts, nullable=True),
        sa.Column("resolved_at", ts, nullable=True),
        sa.Column("acknowledged_by", sa.String(200), nullable=True),
        sa.Column("acknowledged_at", ts, nullable=True),
        sa.Column("ack_comment", sa.Text(), nullable=True),
        sa.Column("silenced_by", sa.String(32), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.CheckConstraint("state IN ('pending', 'firing', 'resolved')",
                           name=op.f("ck_alerts_state")),
    )
    op.create_index(op.f("ix_alerts_fingerprint"), "alerts", ["fingerprint"])
    op.create_index("ix_alerts_state_started_at", "alerts", ["state", "started_at"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", _big_id(), primary_key=True, autoincrement=True),
        sa.Column("dispatch_id", sa.String(32), nullable=False),
        sa.Column("alert_id", sa.String(32),
                  sa.ForeignKey("alerts.id", ondelete="CASCADE",
                                name=op.f("fk_alert_deliveries_alert_id")),
                  nullable=False),
        sa.Column("group_key", sa.String(500), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("at", ts, nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index(op.f("ix_alert_deliveries_alert_id"), "alert_deliveries", ["alert_id"])
    op.create_table(
        "silences",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("matchers", _json(), nullable=False),
        sa.Column("starts_at", ts, nullable=False),
        sa.Column("ends_at", ts, nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", ts, nullable=False),
    )
    op.create_index(op.f("ix_silences_ends_at"), "silences", ["ends_at"])


def downgrade() -> None:
    """Drop silences, alert_deliveries and alerts."""
    op.drop_table("silences")
    op.drop_table("alert_deliveries")
    op.drop_table("alerts")
