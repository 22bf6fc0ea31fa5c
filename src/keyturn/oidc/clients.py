"""The client registry: registration rules, exact redirect-URI matching, client authentication."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast
from urllib.parse import unquote, urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization

from keyturn.domain.oidc import AuthMethod, Client, GrantType, SigningAlg
from keyturn.errors import KeyturnError
from keyturn.ids import constant_time_equal
from keyturn.oidc.errors import InvalidClient
from keyturn.store.protocols import OidcStore

_LOOPBACK = frozenset({"127.0.0.1", "[::1]", "::1", "localhost"})
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_MAX_ASSERTION_LIFETIME = timedelta(minutes=10)


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
        raise KeyturnError(f"redirect URI {uri!r} {problem}", code="invalid_redirect_uri")


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
) -> NewClient:
    method: AuthMethod = "none" if public else (auth_method or "client_secret_basic")
    if public and "client_credentials" in grant_types:
        raise KeyturnError("public clients cannot use client_credentials", code="invalid_client_metadata")
    if method == "private_key_jwt" and not jwks:
        raise KeyturnError(
            "private_key_jwt needs the client's public keys (jwks)", code="invalid_client_metadata"
        )
    if "authorization_code" in grant_types and not redirect_uris:
        raise KeyturnError(
            "authorization_code needs at least one redirect URI", code="invalid_client_metadata"
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
    )
    return NewClient(client=client, secret=secret)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidClient(detail="malformed Basic header") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient(detail="Basic header without a colon")
    return unquote(client_id), unquote(secret)  # RFC 6749 §2.3.1: form-urlencoded


async def authenticate_client(
    store: OidcStore,
    form: Mapping[str, str],
    *,
    authorization: str | None,
    token_endpoint: str,
    issuer: str,
    now: datetime,
) -> Client:
    """Who is calling the token (or revocation/introspection) endpoint, by its registered method."""
    basic = _basic_credentials(authorization)
    if form.get("client_assertion_type") == ASSERTION_TYPE:
        return await _private_key_jwt(store, form, endpoints={token_endpoint, issuer}, now=now)
    client_id = basic[0] if basic else form.get("client_id", "")
    client = await store.get_client(client_id) if client_id else None
    if client is None:
        raise InvalidClient(detail=f"unknown client {client_id!r}")
    method = client.token_endpoint_auth_method
    if method == "none":
        if basic or form.get("client_secret"):
            raise InvalidClient(detail="public client presented a secret")
        return client
    secret = basic[1] if basic and method == "client_secret_basic" else None
    if method == "client_secret_post" and not basic:
        secret = form.get("client_secret")
    if secret is None or client.secret_hash is None:
        raise InvalidClient(detail=f"client must authenticate with {method}")
    if not constant_time_equal(hash_secret(secret), client.secret_hash):
        raise InvalidClient(detail="wrong client secret")
    return client


async def _private_key_jwt(
    store: OidcStore, form: Mapping[str, str], *, endpoints: set[str], now: datetime
) -> Client:
    """RFC 7523 §3: iss = sub = client_id, aud = our token endpoint or issuer, short-lived, single-use."""
    assertion = form.get("client_assertion", "")
    client_id = form.get("client_id") or _peek_issuer(assertion)
    client = await store.get_client(client_id) if client_id else None
    if client is None or client.token_endpoint_auth_method != "private_key_jwt" or not client.jwks:  # noqa: S105
        raise InvalidClient(detail="unknown client or not registered for private_key_jwt")
    try:
        token = jwt.decode(
            assertion,
            KeySet.import_key_set(cast(KeySetSerialization, client.jwks)),
            algorithms=["ES256", "RS256", "EdDSA", "PS256"],
        )
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidClient(detail=f"client assertion: {exc!r}") from exc
    claims = token.claims
    aud = claims.get("aud")
    audiences = {aud} if isinstance(aud, str) else set(aud or [])
    exp, jti = claims.get("exp"), claims.get("jti")
    if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
        raise InvalidClient(detail="assertion iss/sub is not the client id")
    if not audiences & endpoints:
        raise InvalidClient(detail=f"assertion aud {aud!r} is not this server")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or not isinstance(jti, str) or not jti:
        raise InvalidClient(detail="assertion needs exp (a NumericDate) and jti")
    expires = datetime.fromtimestamp(exp, UTC)
    if expires <= now or expires - now > _MAX_ASSERTION_LIFETIME:
        raise InvalidClient(detail="assertion expired or lives too long")
    if not await store.remember_client_assertion(client.client_id, jti, expires_at=expires):
        raise InvalidClient(detail="client assertion replayed")
    return client


def _peek_issuer(assertion: str) -> str:
    """The unverified `iss`, only to find which client's keys to verify with."""
    try:
        payload = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return ""
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else ""
