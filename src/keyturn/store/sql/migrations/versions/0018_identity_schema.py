"""users.traits (the identity schema's, all but the email), user_metadata and app_metadata.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"

_COLUMNS = ("traits", "user_metadata", "app_metadata")


def upgrade() -> None:
    """Existing users get `{}`; the default then goes (every insert names all three, and
    PostgreSQL's json type has no equality to compare a default with)."""
    with op.batch_alter_table("users") as batch:
        for name in _COLUMNS:
            batch.add_column(sa.Column(name, sa.JSON, nullable=False, server_default="{}"))
    with op.batch_alter_table("users") as batch:
        for name in _COLUMNS:
            batch.alter_column(name, existing_type=sa.JSON, existing_nullable=False, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
