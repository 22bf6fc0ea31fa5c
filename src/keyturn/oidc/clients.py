"""The client registry: registration rules and exact redirect-URI matching."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from keyturn.domain.assurance import MfaPolicy
from keyturn.domain.oidc import AuthMethod, Client, GrantType, SigningAlg
from keyturn.errors import KeyturnError

_LOOPBACK = frozenset({"127.0.0.1", "[::1]", "::1", "localhost"})


def hash_secret(secret: str) -> str:
    """Client secrets are 256-bit random values, so one SHA-256 is as strong as a slow hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _is_loopback(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK


def check_redirect_uri(uri: str, *, public: bool) -> None:
    """Registration rules: absolute, no fragment; https, loopback http, or (native apps) a
    private-use reverse-domain scheme such as com.example.app:/callback (RFC 8252 §7)."""
    parts = urlsplit(uri)
    problem = None
    if parts.fragment or "#" in uri:
        problem = "must not contain a fragment"
    elif (parts.scheme == "https" and parts.hostname) or _is_loopback(uri):
        problem = None
    elif parts.scheme and "." in parts.scheme and not parts.netloc:
        problem = None if public else "private-use schemes are for native (public) clients"
    else:
        problem = (
            "must be https, http on a loopback address, or a private-use scheme like com.example.app:/cb"
        )
    if problem:
        raise KeyturnError(code="invalid_redirect_uri", uri=uri, problem=problem)


def redirect_uri_matches(registered: tuple[str, ...], requested: str) -> bool:
    """Exact string match, except that a loopback URI may use any port (RFC 8252 §7.3)."""
    if requested in registered:
        return True
    if not _is_loopback(requested):
        return False
    asked = urlsplit(requested)
    for uri in registered:
        known = urlsplit(uri)
        if _is_loopback(uri) and (known.scheme, known.hostname, known.path, known.query) == (
            asked.scheme,
            asked.hostname,
            asked.path,
            asked.query,
        ):
            return True
    return False


@dataclass(frozen=True)
class NewClient:
    client: Client
    secret: str | None  # shown once, never stored


def build_client(
    *,
    name: str,
    redirect_uris: list[str],
    public: bool,
    first_party: bool,
    grant_types: list[GrantType],
    post_logout_redirect_uris: list[str],
    auth_method: AuthMethod | None,
    jwks: dict[str, object] | None,
    scopes: list[str],
    audiences: list[str],
    id_token_alg: SigningAlg,
    now: datetime,
    mfa: MfaPolicy | None = None,
) -> NewClient:
    method: AuthMethod = "none" if public else (auth_method or "client_secret_basic")
    if public and "client_credentials" in grant_types:
        raise KeyturnError(
            code="invalid_client_metadata", reason="public clients cannot use client_credentials"
        )
    if method == "private_key_jwt" and not jwks:
        raise KeyturnError(
            code="invalid_client_metadata", reason="private_key_jwt needs the client's public keys (jwks)"
        )
    if "authorization_code" in grant_types and not redirect_uris:
        raise KeyturnError(
            code="invalid_client_metadata", reason="authorization_code needs at least one redirect URI"
        )
    for uri in [*redirect_uris, *post_logout_redirect_uris]:
        check_redirect_uri(uri, public=public)
    secret = None if method in ("none", "private_key_jwt") else secrets.token_urlsafe(32)
    client = Client(
        client_id=secrets.token_hex(16),  # 32 alphanumerics: never read as a CLI option
        name=name,
        secret_hash=hash_secret(secret) if secret else None,
        redirect_uris=tuple(redirect_uris),
        post_logout_redirect_uris=tuple(post_logout_redirect_uris),
        grant_types=tuple(grant_types),
        token_endpoint_auth_method=method,
        first_party=first_party,
        id_token_signed_response_alg=id_token_alg,
        created_at=now,
        jwks=dict(jwks) if jwks else None,
        scopes=tuple(scopes),
        audiences=tuple(audiences),
        mfa=mfa,
    )
    return NewClient(client=client, secret=secret)
