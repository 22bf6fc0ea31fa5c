"""Passkeys' attestation (format, type, verified, provider, certification level) and the stored
FIDO Metadata Service blob.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    with op.batch_alter_table("passkeys") as batch:
        batch.add_column(
            sa.Column("attestation_format", sa.String(32), nullable=False, server_default="none")
        )
        batch.add_column(sa.Column("attestation_type", sa.String(16), nullable=False, server_default="none"))
        batch.add_column(
            sa.Column("attestation_verified", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("attestation_provider", sa.String(256), nullable=True))
        batch.add_column(sa.Column("certification_level", sa.String(32), nullable=True))
    op.create_table(
        "mds_blobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("serial", sa.BigInteger, nullable=False),
        sa.Column("next_update", sa.Date, nullable=False),
        sa.Column("entry_count", sa.Integer, nullable=False),
        sa.Column("blob", sa.Text, nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mds_blobs")
    with op.batch_alter_table("passkeys") as batch:
        for column in (
            "certification_level",
            "attestation_provider",
            "attestation_verified",
            "attestation_type",
            "attestation_format",
        ):
            batch.drop_column(column)
