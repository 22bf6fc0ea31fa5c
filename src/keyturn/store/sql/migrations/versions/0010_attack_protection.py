"""Brute-force blocks (attack protection).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.create_table(
        "user_blocks",
        sa.Column("identifier", sa.String(320), primary_key=True),
        sa.Column("ip", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
        sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_user_blocks_user_id", "user_blocks", ["user_id"])
    op.create_index("ix_user_blocks_expires_at", "user_blocks", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_user_blocks_expires_at", "user_blocks")
    op.drop_index("ix_user_blocks_user_id", "user_blocks")
    op.drop_table("user_blocks")
