"""Second factors (issue 12): authenticator apps, recovery codes, security keys; a client's MFA policy.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"

_TS = sa.DateTime(timezone=True)


def _user_id() -> sa.Column[str]:
    return sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.add_column("oidc_clients", sa.Column("mfa", sa.String(16), nullable=True))
    op.create_table(
        "totp_credentials",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(36),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("secret_sealed", sa.LargeBinary, nullable=False),
        sa.Column("last_used_step", sa.BigInteger, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_used_at", _TS, nullable=True),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("code_hash", sa.LargeBinary(32), primary_key=True),
        _user_id(),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index("ix_recovery_codes_user_id", "recovery_codes", ["user_id"])
    op.create_table(
        "security_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        _user_id(),
        sa.Column("credential_id", sa.LargeBinary(1023), nullable=False, unique=True),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("sign_count", sa.BigInteger, nullable=False),
        sa.Column("aaguid", sa.String(36), nullable=False),
        sa.Column("transports", sa.JSON, nullable=False),
        sa.Column("backup_eligible", sa.Boolean, nullable=False),
        sa.Column("backup_state", sa.Boolean, nullable=False),
        sa.Column("user_handle", sa.LargeBinary(64), nullable=False),
        sa.Column("rp_id", sa.String(253), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_used_at", _TS, nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=False),
    )
    op.create_index("ix_security_keys_user_id", "security_keys", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_security_keys_user_id", "security_keys")
    op.drop_table("security_keys")
    op.drop_index("ix_recovery_codes_user_id", "recovery_codes")
    op.drop_table("recovery_codes")
    op.drop_table("totp_credentials")
    with op.batch_alter_table("oidc_clients") as batch:
        batch.drop_column("mfa")
