"""Users and their credentials."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from keyturn.errors import KeyturnError
from keyturn.ids import new_id

CredentialDeviceType = Literal["single_device", "multi_device"]
USER_HANDLE_BYTES = 64  # WebAuthn user.id: random, never the email or a row id (L3 §14.6.1)
MAX_PASSKEY_NAME_LENGTH = 64
PasskeyShape = tuple[int, tuple[str, ...]]  # (credential id length, transports): what a passkey looks like


def clean_passkey_name(name: object) -> str:
    """Whitespace folded; 1 to 64 characters; no control characters."""
    cleaned = " ".join(name.split()) if isinstance(name, str) else ""
    if (
        not cleaned
        or len(cleaned) > MAX_PASSKEY_NAME_LENGTH
        or any(ord(c) < 32 or ord(c) == 127 for c in cleaned)
    ):
        raise KeyturnError(code="invalid_name", max=MAX_PASSKEY_NAME_LENGTH)
    return cleaned


@dataclass(frozen=True)
class User:
    id: str
    email: str
    user_handle: bytes  # WebAuthn user.id: 64 random bytes, never the email or row id
    password_hash: str | None
    created_at: datetime
    updated_at: datetime
    name: str | None = None  # the OIDC `name` claim, when the user or an operator set one
    email_verified: bool = False  # set by operators until Keyturn verifies emails itself
    traits: dict[str, Any] = field(default_factory=dict)  # the identity schema's, but the email
    user_metadata: dict[str, Any] = field(default_factory=dict)  # Auth0's: the user may edit it
    app_metadata: dict[str, Any] = field(default_factory=dict)  # Auth0's: operators only

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None


def new_user(
    email: str,
    *,
    now: datetime,
    password_hash: str | None = None,
    user_handle: bytes | None = None,
    name: str | None = None,
    email_verified: bool = False,
    traits: dict[str, Any] | None = None,
    user_metadata: dict[str, Any] | None = None,
    app_metadata: dict[str, Any] | None = None,
) -> User:
    """A new account: a fresh id and, unless a ceremony already chose one, a random user handle."""
    return User(
        id=new_id(),
        email=email,
        user_handle=user_handle if user_handle is not None else secrets.token_bytes(USER_HANDLE_BYTES),
        password_hash=password_hash,
        created_at=now,
        updated_at=now,
        name=name,
        email_verified=email_verified,
        traits=dict(traits or {}),
        user_metadata=dict(user_metadata or {}),
        app_metadata=dict(app_metadata or {}),
    )


@dataclass(frozen=True)
class PasskeyAttestation:
    """What a passkey's attestation statement said and what Keyturn could prove of it.

    `verified` means the statement's signature and certificate chain verified against roots
    the FIDO Metadata Service lists for that authenticator; only then are `provider` (the MDS
    description) and `certification_level` (its latest FIDO_CERTIFIED* status) known.
    """

    format: str  # "none", "packed", "tpm", "android-key", "android-safetynet", "apple", "fido-u2f"
    type: str  # "none", "self", "basic", "attca" or "anonca" (WebAuthn L3 §6.5.4)
    verified: bool = False
    provider: str | None = None
    certification_level: str | None = None


NO_ATTESTATION = PasskeyAttestation(format="none", type="none")


@dataclass(frozen=True)
class Passkey:
    id: str
    user_id: str
    credential_id: bytes
    public_key: bytes  # COSE_Key as registered
    sign_count: int
    aaguid: str
    transports: tuple[str, ...]
    backup_eligible: bool
    backup_state: bool
    user_handle: bytes
    rp_id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    user_agent: str
    attestation: PasskeyAttestation = NO_ATTESTATION

    @property
    def attested_device_bound(self) -> bool:
        """Verified attestation of a key that can never leave its authenticator (BE=0): the one
        proof of a device-bound, attested key (acr "phrh")."""
        return self.attestation.verified and not self.backup_eligible

    @property
    def device_type(self) -> CredentialDeviceType:
        """WebAuthn L3 §6.1.3: backup-eligible credentials are multi-device (synced)."""
        return "multi_device" if self.backup_eligible else "single_device"
