"""Stored Redis analyses (intperf cache analyze through the API).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create cache_analyses."""
    op.create_table(
        "cache_analyses",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=True),
        sa.Column("url_redacted", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("options", _json(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("summary", _json(), nullable=True),
        sa.Column("report", _json(), nullable=True),
        sa.CheckConstraint("status IN ('done', 'failed')", name=op.f("ck_cache_analyses_status")),
    )
    op.create_index(op.f("ix_cache_analyses_created_at"), "cache_analyses", ["created_at"])


def downgrade() -> None:
    """Drop cache_analyses."""
    op.drop_table("cache_analyses")
