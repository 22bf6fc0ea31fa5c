"""The event log (Auth0 log event shapes and type codes).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("log_id", sa.String(32), primary_key=True),
        sa.Column("date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("type", sa.String(48), nullable=False),
        sa.Column("description", sa.String(255), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(512), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=True),
        sa.Column("user_name", sa.String(320), nullable=True),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
    )
    op.create_index("ix_events_date", "events", ["date"])
    op.create_index("ix_events_user_id", "events", ["user_id"])
    op.create_index("ix_events_type", "events", ["type"])


def downgrade() -> None:
    op.drop_table("events")
