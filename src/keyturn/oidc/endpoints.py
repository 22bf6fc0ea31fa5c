"""Userinfo, revocation and introspection: what a client or API does with a token."""

from __future__ import annotations

from typing import Any

from keyturn.domain.oidc import Client, StoredToken
from keyturn.oidc.errors import InvalidClient
from keyturn.oidc.keys import InvalidToken
from keyturn.oidc.tokens import resolve_token, user_claims
from keyturn.runtime import Runtime


async def userinfo(rt: Runtime, access_token: str) -> dict[str, Any]:
    """OIDC Core §5.3: claims about the token's user, by the token's scope."""
    token = await resolve_token(rt, access_token)
    if token.user_id is None or "openid" not in token.scope:
        raise InvalidToken(
            "This token does not grant access to user information.", code="insufficient_scope", status=403
        )
    user = await rt.store.get_user(token.user_id)
    if user is None:
        raise InvalidToken()
    return user_claims(user, token.scope)


async def _find_any(rt: Runtime, token: str) -> StoredToken | None:
    for kind in ("refresh", "access"):
        try:
            return await resolve_token(rt, token, kind=kind)
        except InvalidToken:
            continue
    return None


async def revoke(rt: Runtime, client: Client, token: str) -> None:
    """RFC 7009: revoking a refresh token revokes its whole grant; unknown tokens are fine (200)."""
    found = await _find_any(rt, token)
    if found is None or found.client_id != client.client_id:
        return
    if found.kind == "refresh":
        await rt.store.revoke_grant(found.grant_id, now=rt.clock.now())
    else:
        await rt.store.revoke_token(found.id, now=rt.clock.now())


async def introspect(rt: Runtime, client: Client, token: str) -> dict[str, Any]:
    """RFC 7662, for confidential clients only: `active` and, when active, what the token says."""
    if client.is_public:
        raise InvalidClient("Public clients cannot introspect tokens.")
    found = await _find_any(rt, token)
    if found is None:
        return {"active": False}
    body: dict[str, Any] = {
        "active": True,
        "scope": " ".join(found.scope),
        "client_id": found.client_id,
        "token_type": "refresh_token" if found.kind == "refresh" else "access_token",
        "exp": int(found.expires_at.timestamp()),
        "iat": int(found.created_at.timestamp()),
        "iss": rt.settings.issuer_url,
        "sub": found.user_id or found.client_id,
    }
    if found.audience:
        body["aud"] = found.audience
    for claim in ("auth_time", "amr", "acr"):
        if found.claims.get(claim) is not None:
            body[claim] = found.claims[claim]
    return body
