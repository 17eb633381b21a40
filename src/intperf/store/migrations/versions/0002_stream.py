"""Live analytics: stream checkpoints, dead letters, late events and slow queries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _big_id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the four stream tables."""
    op.create_table(
        "stream_checkpoints",
        sa.Column("group_id", sa.String(200), primary_key=True),
        sa.Column("topic", sa.String(200), primary_key=True),
        sa.Column("partition", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", _big_id(), primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
    )
    op.create_index(op.f("ix_dead_letters_received_at"), "dead_letters", ["received_at"])
    op.create_table(
        "late_events",
        sa.Column("id", _big_id(), primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topology", sa.String(64), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("event_time_ms", sa.BigInteger(), nullable=False),
        sa.Column("stream_time_ms", sa.BigInteger(), nullable=False),
        sa.Column("event", _json(), nullable=False),
    )
    op.create_index(op.f("ix_late_events_received_at"), "late_events", ["received_at"])
    op.create_table(
        "slow_queries",
        sa.Column("id", _big_id(), primary_key=True, autoincrement=True),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_time_ms", sa.BigInteger(), nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("normalized", sa.Text(), nullable=False),
        sa.Column("execution_time_ms", sa.Float(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("advice", _json(), nullable=False),
    )
    op.create_index(op.f("ix_slow_queries_detected_at"), "slow_queries", ["detected_at"])
    op.create_index(op.f("ix_slow_queries_fingerprint"), "slow_queries", ["fingerprint"])


def downgrade() -> None:
    """Drop the stream tables."""
    op.drop_table("slow_queries")
    op.drop_table("late_events")
    op.drop_table("dead_letters")
    op.drop_table("stream_checkpoints")
