"""Community concern reports: a place, a category, a note, the day; nothing about who sent them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "concern_reports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("area_slug", sa.String(64), nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("note", sa.String(200), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=False),
        sa.Column("decided_on", sa.Date, nullable=True),
        sqlite_with_rowid=False,  # rows kept in the order of their random ids, not of their arrival
    )
    op.create_index("ix_concern_reports_area_slug", "concern_reports", ["area_slug"])
    op.create_index("ix_concern_reports_state", "concern_reports", ["state"])


def downgrade() -> None:
    op.drop_table("concern_reports")
