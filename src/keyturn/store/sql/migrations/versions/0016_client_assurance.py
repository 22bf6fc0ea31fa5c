"""Per-client passkey policy (issue 12): which passkeys may sign in to each OIDC client.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"


def upgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.add_column(
            sa.Column("allowed_credential_types", sa.String(16), nullable=False, server_default="any")
        )


def downgrade() -> None:
    with op.batch_alter_table("oidc_clients") as batch:
        batch.drop_column("allowed_credential_types")
