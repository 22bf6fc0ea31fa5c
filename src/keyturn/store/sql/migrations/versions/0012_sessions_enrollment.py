"""Sessions know when they were last active; users' answers to the progressive passkey prompt.

Revision ID: 0012
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0009"


def upgrade() -> None:
    op.add_column("sessions", sa.Column("last_active_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "enrollment_prompts",
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("declined", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("enrollment_prompts")
    op.drop_column("sessions", "last_active_at")
