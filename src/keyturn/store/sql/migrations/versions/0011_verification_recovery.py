"""Codes and links sent by email: account recovery, email verification, change of email.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "email_codes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("link_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("binding_hash", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("used_at", _TS, nullable=True),
        sa.Column("completed_at", _TS, nullable=True),
    )
    op.create_index("ix_email_codes_expires_at", "email_codes", ["expires_at"])
    op.create_index("ix_email_codes_user_id", "email_codes", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_email_codes_user_id", "email_codes")
    op.drop_index("ix_email_codes_expires_at", "email_codes")
    op.drop_table("email_codes")
