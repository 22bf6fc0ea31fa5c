"""Flows and challenges are sealed and carried by the browser: their tables go, and only
spent challenges are stored. The config version lets every worker cache its settings, and
instance facts (the public URL being served) are shared by every process.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.drop_table("challenges")
    op.drop_table("flows")
    op.create_table(
        "spent_challenges",
        sa.Column("id", sa.LargeBinary(32), primary_key=True),
        sa.Column("expires_at", _TS, nullable=False),
    )
    op.create_index("ix_spent_challenges_expires_at", "spent_challenges", ["expires_at"])
    with op.batch_alter_table("tenant_settings") as batch:
        batch.add_column(sa.Column("version", sa.BigInteger, nullable=False, server_default="1"))
    op.create_table(
        "instance_facts",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("instance_facts")
    with op.batch_alter_table("tenant_settings") as batch:
        batch.drop_column("version")
    op.drop_index("ix_spent_challenges_expires_at", "spent_challenges")
    op.drop_table("spent_challenges")
    op.create_table(
        "flows",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("binding_hash", sa.String(64), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
        sa.Column("return_to", sa.Text, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
    )
    op.create_index("ix_flows_expires_at", "flows", ["expires_at"])
    op.create_table(
        "challenges",
        sa.Column("challenge", sa.LargeBinary(32), primary_key=True),
        sa.Column("flow_id", sa.String(36), sa.ForeignKey("flows.id", ondelete="CASCADE"), nullable=False),
        sa.Column("ceremony", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=True),
        sa.Column("allowed_credential_ids", sa.JSON, nullable=False),
        sa.Column("user_verification", sa.String(16), nullable=False),
        sa.Column("pending", sa.JSON, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
    )
    op.create_index("ix_challenges_expires_at", "challenges", ["expires_at"])
