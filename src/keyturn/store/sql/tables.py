"""The schema, as SQLAlchemy Core tables. Migrations in `migrations/versions` create it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import false
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("user_handle", LargeBinary(64), nullable=False, unique=True),
    Column("password_hash", Text, nullable=True),
    Column("name", String(255), nullable=True),
    Column("email_verified", Boolean, nullable=False, server_default=false()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # The identity schema's traits (all but the email), and Auth0's two metadata objects.
    Column("traits", JSON, nullable=False),
    Column("user_metadata", JSON, nullable=False),
    Column("app_metadata", JSON, nullable=False),
)

passkeys = Table(
    "passkeys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("credential_id", LargeBinary(1023), nullable=False, unique=True),
    Column("public_key", LargeBinary, nullable=False),
    Column("sign_count", BigInteger, nullable=False),  # WebAuthn: unsigned 32-bit
    Column("aaguid", String(36), nullable=False),
    Column("transports", JSON, nullable=False),
    Column("backup_eligible", Boolean, nullable=False),
    Column("backup_state", Boolean, nullable=False),
    Column("user_handle", LargeBinary(64), nullable=False),
    Column("rp_id", String(253), nullable=False),
    Column("name", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_used_at", UtcDateTime(), nullable=True),
    Column("user_agent", String(512), nullable=False),
    # Its attestation (issue 12): the format and type sent, whether it verified against the
    # FIDO Metadata Service, and then the provider and certification level MDS gave.
    Column("attestation_format", String(32), nullable=False, server_default="none"),
    Column("attestation_type", String(16), nullable=False, server_default="none"),
    Column("attestation_verified", Boolean, nullable=False, server_default=false()),
    Column("attestation_provider", String(256), nullable=True),
    Column("certification_level", String(32), nullable=True),
    Index("ix_passkeys_user_id", "user_id"),
)

# The FIDO Metadata Service blob an operator stored (`keyturn mds update`): one row, so every
# worker and instance verifies registrations against the same one.
mds_blobs = Table(
    "mds_blobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("serial", BigInteger, nullable=False),
    Column("next_update", Date, nullable=False),
    Column("entry_count", Integer, nullable=False),
    Column("blob", Text, nullable=False),
    Column("stored_at", UtcDateTime(), nullable=False),
)

spent_challenges = Table(
    "spent_challenges",
    metadata,
    Column("id", LargeBinary(32), primary_key=True),  # SHA-256 of a sealed challenge
    Column("expires_at", UtcDateTime(), nullable=False),  # after this the challenge is dead anyway
    Index("ix_spent_challenges_expires_at", "expires_at"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("authenticated", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("user_agent", String(512), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("last_active_at", UtcDateTime(), nullable=True),  # moved at most once a minute
    Index("ix_sessions_user_id", "user_id"),
    Index("ix_sessions_expires_at", "expires_at"),
)

tenant_settings = Table(
    "tenant_settings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("settings", JSON, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("version", BigInteger, nullable=False, server_default="1"),  # new at any config change
)

secrets = Table(
    "secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

instance_facts = Table(
    "instance_facts",  # what every process of the instance must agree on (the public URL it serves)
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

oidc_clients = Table(
    "oidc_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("secret_hash", String(64), nullable=True),
    Column("redirect_uris", JSON, nullable=False),
    Column("post_logout_redirect_uris", JSON, nullable=False),
    Column("grant_types", JSON, nullable=False),
    Column("token_endpoint_auth_method", String(32), nullable=False),
    Column("first_party", Boolean, nullable=False),
    Column("id_token_signed_response_alg", String(8), nullable=False),
    Column("jwks", JSON, nullable=True),
    Column("scopes", JSON, nullable=False),
    Column("audiences", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # any | device_bound | synced: which passkeys may sign in to this client (issue 12)
    Column("allowed_credential_types", String(16), nullable=False, server_default="any"),
    Column("mfa", String(16), nullable=True),  # overrides the tenant's mfa.policy for this client
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(8), nullable=False),
    Column("private_jwk_encrypted", LargeBinary, nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("retired_at", UtcDateTime(), nullable=True),
)

authorization_requests = Table(
    "authorization_requests",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("client_id", String(64), ForeignKey("oidc_clients.client_id", ondelete="CASCADE"), nullable=False),
    Column("params", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Index("ix_authorization_requests_expires_at", "expires_at"),
)

oauth_grants = Table(
    "oauth_grants",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("client_id", String(64), ForeignKey("oidc_clients.client_id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("session_id", String(36), nullable=True),
    Column("scope", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Index("ix_oauth_grants_user_id", "user_id"),
)

authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("grant_id", String(36), ForeignKey("oauth_grants.id", ondelete="CASCADE"), nullable=False),
    Column("data", JSON, nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("consumed_at", UtcDateTime(), nullable=True),
    Index("ix_authorization_codes_expires_at", "expires_at"),
)

oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("grant_id", String(36), ForeignKey("oauth_grants.id", ondelete="CASCADE"), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("user_id", String(36), nullable=True),
    Column("scope", JSON, nullable=False),
    Column("audience", String(512), nullable=True),
    Column("claims", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("consumed_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Index("ix_oauth_tokens_grant_id", "grant_id"),
    Index("ix_oauth_tokens_expires_at", "expires_at"),
)

consents = Table(
    "consents",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "client_id", String(64), ForeignKey("oidc_clients.client_id", ondelete="CASCADE"), primary_key=True
    ),
    Column("scope", JSON, nullable=False),
    Column("granted_at", UtcDateTime(), nullable=False),
)

client_assertions = Table(
    "client_assertions",
    metadata,
    Column("jti", String(255), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("log_id", String(32), primary_key=True),
    Column("date", UtcDateTime(), nullable=False),
    Column("type", String(48), nullable=False),
    Column("description", String(255), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("user_agent", String(512), nullable=False),
    Column("user_id", String(36), nullable=True),
    Column("user_name", String(320), nullable=True),
    Column("client_id", String(64), nullable=True),
    Column("details", JSON, nullable=False),
    Index("ix_events_date", "date"),
    Index("ix_events_user_id", "user_id"),
    Index("ix_events_type", "type"),
)

hooks = Table(
    "hooks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("trigger", String(32), nullable=False),
    Column("url", Text, nullable=False),
    Column("secret_sealed", LargeBinary, nullable=False),
    Column("timeout_ms", Integer, nullable=False),
    Column("failure_policy", String(8), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

outbox = Table(
    "outbox",  # email waiting to be sent, written in the transaction of what caused it
    metadata,
    Column("id", String(36), primary_key=True),
    Column("template", String(64), nullable=False),
    Column("to_address", String(320), nullable=False),
    Column("user_id", String(36), nullable=True),
    Column(
        "sealed", LargeBinary, nullable=False
    ),  # subject and bodies, sealed under the KEK (links hold tokens)
    Column("state", String(8), nullable=False),  # queued | sending | sent | failed
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("last_error", String(500), nullable=True),
    Index("ix_outbox_due", "state", "next_attempt_at"),
)

rate_limits = Table(
    "rate_limits",  # window counters of the throttles when Redis is not configured
    metadata,
    Column("key", String(255), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Index("ix_rate_limits_expires_at", "expires_at"),
)


user_blocks = Table(
    "user_blocks",  # brute-force blocks: an identifier from one address, until expires_at or unblocked
    metadata,
    Column("identifier", String(320), primary_key=True),
    Column("ip", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("blocked_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=True),
    Index("ix_user_blocks_user_id", "user_id"),
    Index("ix_user_blocks_expires_at", "expires_at"),
)


email_codes = Table(
    "email_codes",  # recovery, verification and change-of-email codes and links (their hashes)
    metadata,
    Column("id", String(36), primary_key=True),
    Column("purpose", String(16), nullable=False),  # recovery | verify | signup | change_email
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("email", String(320), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("link_hash", String(64), nullable=True, unique=True),
    Column("binding_hash", String(32), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime(), nullable=True),
    Column("completed_at", UtcDateTime(), nullable=True),
    Index("ix_email_codes_expires_at", "expires_at"),
    Index("ix_email_codes_user_id", "user_id"),
)


operators = Table(
    "operators",  # dashboard operators: not end users (no password, their own credentials)
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("role", String(16), nullable=False),  # owner | viewer
    Column("user_handle", LargeBinary(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
)

operator_credentials = Table(
    "operator_credentials",  # operators' WebAuthn credentials (the passkeys table's columns)
    metadata,
    Column("id", String(36), primary_key=True),
    Column("operator_id", String(36), ForeignKey("operators.id", ondelete="CASCADE"), nullable=False),
    Column("credential_id", LargeBinary(1023), nullable=False, unique=True),
    Column("public_key", LargeBinary, nullable=False),
    Column("sign_count", BigInteger, nullable=False),
    Column("aaguid", String(36), nullable=False),
    Column("transports", JSON, nullable=False),
    Column("backup_eligible", Boolean, nullable=False),
    Column("backup_state", Boolean, nullable=False),
    Column("user_handle", LargeBinary(64), nullable=False),
    Column("rp_id", String(253), nullable=False),
    Column("name", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_used_at", UtcDateTime(), nullable=True),
    Column("user_agent", String(512), nullable=False),
    Index("ix_operator_credentials_operator_id", "operator_id"),
)

operator_enrollments = Table(
    "operator_enrollments",  # one-time links to register an operator's credential
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("operator_id", String(36), ForeignKey("operators.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime(), nullable=True),  # set once, by a conditional update
    Index("ix_operator_enrollments_expires_at", "expires_at"),
)

operator_sessions = Table(
    "operator_sessions",  # dashboard sessions (cookie scoped to /admin), by SHA-256 of the cookie
    metadata,
    Column("id", String(36), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("operator_id", String(36), ForeignKey("operators.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),  # absolute limit
    Column("last_active_at", UtcDateTime(), nullable=False),  # idle limit counts from here
    Column("ip", String(64), nullable=False),
    Column("user_agent", String(512), nullable=False),
    Index("ix_operator_sessions_expires_at", "expires_at"),
)

enrollment_choices = Table(
    "enrollment_choices",  # a user's answer to the passkey offered after a password sign-in
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("snoozed_until", UtcDateTime(), nullable=True),  # Not now
    Column("declined_at", UtcDateTime(), nullable=True),  # Don't ask again
    Column("updated_at", UtcDateTime(), nullable=False),
)

totp_credentials = Table(
    "totp_credentials",  # an authenticator app (one per user): a second factor
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("secret_sealed", LargeBinary, nullable=False),  # AES-256-GCM under the KEK, bound to id
    Column("last_used_step", BigInteger, nullable=True),  # a code's time step is accepted once
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_used_at", UtcDateTime(), nullable=True),
)

recovery_codes = Table(
    "recovery_codes",  # single-use codes: one row per code left, deleted when used
    metadata,
    Column("code_hash", LargeBinary(32), primary_key=True),  # SHA-256 of the normalised code
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_recovery_codes_user_id", "user_id"),
)

security_keys = Table(
    "security_keys",  # non-discoverable WebAuthn credentials, a second factor only
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("credential_id", LargeBinary(1023), nullable=False, unique=True),
    Column("public_key", LargeBinary, nullable=False),
    Column("sign_count", BigInteger, nullable=False),
    Column("aaguid", String(36), nullable=False),
    Column("transports", JSON, nullable=False),
    Column("backup_eligible", Boolean, nullable=False),
    Column("backup_state", Boolean, nullable=False),
    Column("user_handle", LargeBinary(64), nullable=False),
    Column("rp_id", String(253), nullable=False),
    Column("name", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_used_at", UtcDateTime(), nullable=True),
    Column("user_agent", String(512), nullable=False),
    Index("ix_security_keys_user_id", "user_id"),
)
