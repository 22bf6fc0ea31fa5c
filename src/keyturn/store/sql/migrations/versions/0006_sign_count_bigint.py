"""passkeys.sign_count holds WebAuthn's unsigned 32-bit counter: PostgreSQL needs BIGINT.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("passkeys") as batch:
        batch.alter_column(
            "sign_count", type_=sa.BigInteger, existing_type=sa.Integer, existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("passkeys") as batch:
        batch.alter_column(
            "sign_count", type_=sa.Integer, existing_type=sa.BigInteger, existing_nullable=False
        )
