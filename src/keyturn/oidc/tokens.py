"""Minting and resolving tokens: ID tokens, access tokens (RFC 9068 JWTs for an API
audience, opaque otherwise) and rotating refresh tokens."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from keyturn.context import Context
from keyturn.domain.identity import User
from keyturn.domain.oidc import Client, Grant, StoredToken, TokenKind
from keyturn.domain.traits import IdentitySchema
from keyturn.ids import hash_token, new_id
from keyturn.keys import InvalidToken, KeyRing


@dataclass(frozen=True)
class Authentication:
    """How and when the user signed in: carried from the session into every token."""

    auth_time: datetime
    amr: tuple[str, ...]
    acr: str | None
    sid: str | None
    nonce: str | None = None
    custom_claims: dict[str, Any] = field(default_factory=dict)  # namespaced, from post-login hooks

    def as_claims(self) -> dict[str, Any]:
        """What a refresh token remembers, to mint the same ID and access tokens again."""
        return {
            "auth_time": int(self.auth_time.timestamp()),
            "amr": list(self.amr),
            "acr": self.acr,
            "sid": self.sid,
            "custom_claims": self.custom_claims,
        }

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Authentication:
        return cls(
            auth_time=datetime.fromtimestamp(int(claims["auth_time"]), UTC),
            amr=tuple(claims.get("amr") or ()),
            acr=claims.get("acr"),
            sid=claims.get("sid"),
            custom_claims=dict(claims.get("custom_claims") or {}),
        )


def user_claims(user: User, scope: tuple[str, ...], schema: IdentitySchema) -> dict[str, Any]:
    """Claims by scope (OIDC Core §5.4): the email's, then the traits the identity schema maps
    to claims (standard or namespaced). `name` falls back to the user's `name` field."""
    claims: dict[str, Any] = {"sub": user.id}
    if "email" in scope:
        claims |= {"email": user.email, "email_verified": user.email_verified}
    claims |= schema.claims(user.traits, scope)
    if "profile" in scope and "name" not in claims and user.name:
        claims["name"] = user.name
    return claims


def mint_id_token(
    ctx: Context, ring: KeyRing, client: Client, user: User, *, scope: tuple[str, ...], authn: Authentication
) -> str:
    now = ctx.now()
    claims: dict[str, Any] = {
        "iss": ctx.settings.issuer_url,
        "aud": client.client_id,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + ctx.settings.id_token_ttl_seconds,
        **authn.custom_claims,
        **user_claims(user, scope, ctx.tenant.identity),
        **{k: v for k, v in authn.as_claims().items() if v is not None and k != "custom_claims"},
    }
    if authn.nonce:
        claims["nonce"] = authn.nonce
    return ring.sign(claims, now=now, alg=client.id_token_signed_response_alg)


def _stored(
    grant: Grant,
    token_id: str,
    *,
    kind: TokenKind,
    audience: str | None,
    now: datetime,
    expires: datetime,
    claims: dict[str, Any],
) -> StoredToken:
    """The record of a token issued under `grant` (its client, user and scope)."""
    return StoredToken(
        id=token_id,
        kind=kind,
        grant_id=grant.id,
        client_id=grant.client_id,
        user_id=grant.user_id,
        scope=grant.scope,
        audience=audience,
        created_at=now,
        expires_at=expires,
        claims=claims,
    )


def _opaque() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def mint_access_token(
    ctx: Context,
    ring: KeyRing,
    grant: Grant,
    *,
    subject: str,
    audience: str | None,
    authn: Authentication | None,
) -> tuple[str, StoredToken]:
    """A JWT (RFC 9068, typ at+jwt) when an API audience was asked for, else an opaque token."""
    now = ctx.now()
    expires = now + timedelta(seconds=ctx.settings.access_token_ttl_seconds)
    extra = authn.as_claims() if authn else {}
    if audience:
        jti = new_id()
        claims = {
            "iss": ctx.settings.issuer_url,
            "sub": subject,
            "aud": audience,
            "client_id": grant.client_id,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": jti,
            "scope": " ".join(grant.scope),
            **{k: v for k, v in extra.items() if v is not None and k in ("auth_time", "amr", "acr")},
            **(authn.custom_claims if authn else {}),
        }
        token, token_id = ring.sign(claims, now=now, typ="at+jwt"), jti
    else:
        token, token_id = _opaque()
    return token, _stored(
        grant, token_id, kind="access", audience=audience, now=now, expires=expires, claims=extra
    )


def mint_refresh_token(
    ctx: Context, grant: Grant, *, authn: Authentication, audience: str | None
) -> tuple[str, StoredToken]:
    now = ctx.now()
    token, token_id = _opaque()
    expires = now + timedelta(seconds=ctx.settings.refresh_token_ttl_seconds)
    return token, _stored(
        grant, token_id, kind="refresh", audience=audience, now=now, expires=expires, claims=authn.as_claims()
    )


def _looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


async def resolve_token(ctx: Context, token: str, *, kind: str = "access") -> StoredToken:
    """A live token of `kind`: known, unexpired, not revoked, and its grant not revoked."""
    now = ctx.now()
    if kind == "access" and _looks_like_jwt(token):
        claims = await ctx.rt.keys.verify(token, now=now, typ="at+jwt")
        token_id = str(claims.get("jti", ""))
    else:
        token_id = hash_token(token)
    found = await (await ctx.read()).find_live_token(token_id) if token_id else None
    if found is None:
        raise InvalidToken()
    stored, grant = found
    if stored.kind != kind or stored.expires_at <= now or stored.revoked_at is not None:
        raise InvalidToken()
    if stored.kind == "refresh" and stored.consumed_at is not None:
        raise InvalidToken()  # rotated: using it again would be a replay
    if grant.revoked_at is not None:
        raise InvalidToken()
    return stored


def pkce_s256(verifier: str) -> str:
    """BASE64URL(SHA256(ASCII(code_verifier))) without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
