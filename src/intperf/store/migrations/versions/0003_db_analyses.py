"""Database analyses (``POST /api/v1/db/analyses``): who asked, the target with its password
redacted, the status and the report.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create db_analyses."""
    op.create_table(
        "db_analyses",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("requested_by", sa.String(200), nullable=True),
        sa.Column("dsn_redacted", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("options", _json(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("summary", _json(), nullable=True),
        sa.Column("report", _json(), nullable=True),
        sa.CheckConstraint("status IN ('running', 'done', 'failed', 'interrupted')",
                           name=op.f("ck_db_analyses_status")),
    )
    op.create_index(op.f("ix_db_analyses_created_at"), "db_analyses", ["created_at"])


def downgrade() -> None:
    """Drop db_analyses."""
    op.drop_table("db_analyses")
