"""OpenID Connect records: clients, authorization requests and codes, grants, tokens, keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from keyturn.domain.assurance import MfaPolicy

AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
# Where the browser goes to continue a parked authorization after signing in (oidc/routes.py).
RESUME_PATH = "/oauth2/authorize/resume/"
MANAGEMENT_SCOPES = (
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "read:authentication_methods",
    "update:authentication_methods",
    "delete:authentication_methods",
    "read:connections",
    "create:connections",
    "update:connections",
    "read:logs",
    "read:logs_users",
    "read:hooks",
    "create:hooks",
    "delete:hooks",
    "read:sessions",
    "delete:sessions",
    "read:attack_protection",
    "update:attack_protection",
)


def management_audience(issuer: str) -> str:
    """The audience of tokens for /api/v2 (Auth0's `https://<tenant>/api/v2/`)."""
    return f"{issuer}/api/v2/"


def resume_path(request_id: str) -> str:
    return f"{RESUME_PATH}{request_id}"


CredentialTypes = Literal["any", "device_bound", "synced"]
GrantType = Literal["authorization_code", "refresh_token", "client_credentials"]
SigningAlg = Literal["ES256", "RS256"]
TokenKind = Literal["access", "refresh"]


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    secret_hash: str | None  # SHA-256 of a 256-bit random secret; None for public clients
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    grant_types: tuple[GrantType, ...]
    token_endpoint_auth_method: AuthMethod
    first_party: bool
    id_token_signed_response_alg: SigningAlg
    created_at: datetime
    jwks: dict[str, Any] | None = None  # public keys for private_key_jwt
    scopes: tuple[str, ...] = ()  # what client_credentials may ask for
    audiences: tuple[str, ...] = ()  # APIs it may get JWT access tokens for
    # Which passkeys may sign in to this client, beside the tenant's own policy (issue 12).
    allowed_credential_types: CredentialTypes = "any"
    mfa: MfaPolicy | None = None  # overrides the tenant's mfa.policy for sign-ins to this client

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"  # noqa: S105 - a method name, not a secret


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated /authorize request, parked while the user signs in or consents."""

    id: str
    client_id: str
    redirect_uri: str
    scope: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    prompt: tuple[str, ...]
    max_age: int | None
    login_hint: str | None
    acr_values: tuple[str, ...]
    audience: str | None
    browser_binding: str  # hash of the binding cookie: only the browser that asked may resume
    created_at: datetime
    expires_at: datetime
    # Set by the sign-in made for this very request: the post-login hooks already ran for that
    # session (`hooks_passed_session`) and gave these claims, so issuing the code must not run them again.
    hook_claims: dict[str, Any] | None = None
    hooks_passed_session: str | None = None
    # `acr` asked as an essential claim (OIDC Core §5.5.1.1): not met after a step-up, the
    # authorization fails rather than issuing a lower level.
    acr_essential: bool = False
    # The session that stepped up for this request: it is not asked again (one step-up per request).
    stepped_up_session: str | None = None
    ui_locales: str | None = None  # OIDC: the pages of this sign-in in these languages, if enabled


@dataclass(frozen=True)
class AuthorizationCode:
    code_hash: str
    grant_id: str
    client_id: str
    user_id: str
    session_id: str
    redirect_uri: str
    scope: tuple[str, ...]
    nonce: str | None
    code_challenge: str | None
    auth_time: datetime
    amr: tuple[str, ...]
    acr: str | None
    audience: str | None
    expires_at: datetime
    consumed_at: datetime | None = None
    custom_claims: dict[str, Any] = field(default_factory=dict)  # from post-login hooks


@dataclass(frozen=True)
class Grant:
    """What one authorization produced: codes and tokens of a grant are revoked together."""

    id: str
    client_id: str
    user_id: str | None
    session_id: str | None
    scope: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class StoredToken:
    """An opaque token (by its hash) or a JWT access token (by its jti)."""

    id: str
    kind: TokenKind
    grant_id: str
    client_id: str
    user_id: str | None
    scope: tuple[str, ...]
    audience: str | None
    created_at: datetime
    expires_at: datetime
    consumed_at: datetime | None = None
    revoked_at: datetime | None = None
    claims: dict[str, Any] = field(default_factory=dict)  # extra claims to echo (auth_time, amr…)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: SigningAlg
    private_jwk_encrypted: bytes
    public_jwk: dict[str, Any]
    created_at: datetime
    retired_at: datetime | None = None
