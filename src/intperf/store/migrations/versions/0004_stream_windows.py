"""Live analytics: closed cache and business windows (the response-time windows are live runs).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create stream_windows: one row per (topology, key, window start), replaced on replay."""
    op.create_table(
        "stream_windows",
        sa.Column("topology", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("start_ms", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index(op.f("ix_stream_windows_end_ms"), "stream_windows", ["end_ms"])


def downgrade() -> None:
    """Drop stream_windows."""
    op.drop_table("stream_windows")
