"""Request and response bodies with Auth0's field names (Management API v2), for the OpenAPI
document and for Auth0's SDK types to parse."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from keyturn.domain.tenant import CONNECTION_ID, CONNECTION_NAME

__all__ = ["CONNECTION_ID", "CONNECTION_NAME"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Identity(_Out):
    connection: str = CONNECTION_NAME
    provider: str = "auth0"
    user_id: str
    isSocial: bool = False


class UserOut(_Out):
    user_id: str
    email: str
    email_verified: bool
    name: str | None = None
    created_at: str
    updated_at: str
    identities: list[Identity]
    blocked: bool = False
    traits: dict[str, Any] = {}
    user_metadata: dict[str, Any] = {}
    app_metadata: dict[str, Any] = {}


class UsersPage(_Out):
    start: int
    limit: int
    length: int
    total: int
    users: list[UserOut]


def _printable(value: str | None) -> str | None:
    if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters")
    return value


Printable = Annotated[str, AfterValidator(_printable)]


class UserCreate(_In):
    email: str = Field(max_length=254)
    connection: str = CONNECTION_NAME
    password: str | None = Field(None, description="Omit for a passkey-only account.")
    name: Printable | None = Field(None, max_length=255)
    email_verified: StrictBool = False
    traits: dict[str, Any] | None = Field(
        None, description="Keyturn's: the identity schema's traits but the email, validated against it."
    )
    user_metadata: dict[str, Any] | None = None
    app_metadata: dict[str, Any] | None = None


class UserUpdate(_In):
    email: str | None = Field(None, max_length=254)
    name: Printable | None = Field(None, max_length=255)
    password: str | None = None
    email_verified: StrictBool | None = None
    connection: str | None = None
    traits: dict[str, Any] | None = Field(
        None, description="Merged at the top level (null deletes a trait), then validated as a whole."
    )
    user_metadata: dict[str, Any] | None = Field(
        None, description="Merged at the top level: null deletes a key, {} empties it (Auth0's)."
    )
    app_metadata: dict[str, Any] | None = Field(
        None, description="Merged at the top level: null deletes a key, {} empties it (Auth0's)."
    )


class AttestationOut(_Out):
    """What the passkey's attestation proved (Keyturn's addition: Auth0 reports none of it)."""

    format: str = Field(description="none, packed, tpm, android-key, android-safetynet, apple or fido-u2f.")
    type: str = Field(description="none, self, basic, attca or anonca (WebAuthn §6.5.4).")
    verified: bool = Field(
        description="The statement and its chain verified against the FIDO Metadata Service."
    )
    provider: str | None = Field(
        None, description="The authenticator's description in the FIDO Metadata Service."
    )
    certification_level: str | None = Field(
        None, description="Its latest FIDO certification, e.g. FIDO_CERTIFIED_L1."
    )


class AuthenticationMethodOut(_Out):
    id: str
    type: Literal["passkey", "password", "totp", "webauthn-roaming", "recovery-code"]
    created_at: str
    name: str | None = None
    key_id: str | None = None
    public_key: str | None = None
    credential_device_type: Literal["single_device", "multi_device"] | None = None
    credential_backed_up: bool | None = None
    transports: list[str] | None = None
    user_handle: str | None = None
    identity_user_id: str | None = None
    user_agent: str | None = None
    aaguid: str | None = None
    aaguid_name: str | None = Field(
        None, description="The provider named for the AAGUID by the passkey AAGUID list."
    )
    attestation: AttestationOut | None = None
    relying_party_identifier: str | None = None
    usage: list[str] | None = None
    last_auth_at: str | None = None


class AuthenticationMethodUpdate(_In):
    name: str = Field(min_length=1, max_length=256, description="Folded to single spaces; 1–64 characters.")


class AuthenticationMethodsPage(_Out):
    start: int
    limit: int
    total: int
    authenticators: list[AuthenticationMethodOut]


class ConnectionOut(_Out):
    id: str
    name: str
    strategy: str = "auth0"
    display_name: str
    options: dict[str, Any]
    enabled_clients: list[str] = []
    realms: list[str] = [CONNECTION_NAME]
    is_domain_connection: bool = False


class ConnectionUpdate(_In):
    options: dict[str, Any] | None = None
    display_name: str | None = None


class ConnectionCreate(_In):
    name: str
    strategy: str = "auth0"
    options: dict[str, Any] | None = None


class LogOut(_Out):
    log_id: str
    date: str
    type: str
    description: str
    ip: str
    user_agent: str
    user_id: str | None = None
    user_name: str | None = None
    client_id: str | None = None
    connection: str = CONNECTION_NAME
    connection_id: str = CONNECTION_ID
    details: dict[str, Any] = {}


class LogsPage(_Out):
    start: int
    limit: int
    length: int
    total: int
    logs: list[LogOut]


class SessionDevice(_Out):
    initial_user_agent: str
    initial_ip: str
    last_user_agent: str
    last_ip: str


class SessionAuthenticationMethod(_Out):
    name: str
    timestamp: str


class SessionAuthentication(_Out):
    methods: list[SessionAuthenticationMethod]


class SessionCookie(_Out):
    mode: Literal["persistent", "non-persistent"] = "persistent"


class SessionOut(_Out):
    id: str
    user_id: str
    created_at: str
    updated_at: str
    authenticated_at: str
    expires_at: str
    last_interacted_at: str
    device: SessionDevice
    clients: list[dict[str, str]] = []
    authentication: SessionAuthentication
    cookie: SessionCookie = SessionCookie()
    session_metadata: dict[str, Any] = {}


class RevokeAccess(_In):
    """Auth0's `POST /users/{id}/revoke-access` body."""

    session_id: str | None = Field(None, max_length=64, description="One session; absent: all of them.")
    preserve_refresh_tokens: StrictBool = False


class SessionsPage(_Out):
    sessions: list[SessionOut]
    next: str | None = None


class ErrorOut(_Out):
    statusCode: int
    error: str
    message: str
    errorCode: str
