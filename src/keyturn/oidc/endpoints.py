"""Userinfo, revocation and introspection: what a client or API does with a token."""

from __future__ import annotations

from typing import Any

from keyturn.context import Context
from keyturn.domain.oidc import Client, StoredToken
from keyturn.keys import InvalidToken
from keyturn.oidc.errors import InvalidClient
from keyturn.oidc.tokens import resolve_token, user_claims


async def userinfo(ctx: Context, access_token: str) -> dict[str, Any]:
    """OIDC Core §5.3: claims about the token's user, by the token's scope."""
    token = await resolve_token(ctx, access_token)
    if token.user_id is None or "openid" not in token.scope:
        raise InvalidToken(code="insufficient_scope", status=403)
    user = await (await ctx.read()).get_user(token.user_id)
    if user is None:
        raise InvalidToken()
    return user_claims(user, token.scope, ctx.tenant.identity)


async def _find_any(ctx: Context, token: str) -> StoredToken | None:
    for kind in ("refresh", "access"):
        try:
            return await resolve_token(ctx, token, kind=kind)
        except InvalidToken:
            continue
    return None


async def revoke(ctx: Context, client: Client, token: str) -> None:
    """RFC 7009: revoking a refresh token revokes its whole grant; unknown tokens are fine (200)."""
    found = await _find_any(ctx, token)
    if found is None or found.client_id != client.client_id:
        return
    async with ctx.writing() as tx:
        if found.kind == "refresh":
            await tx.revoke_grant(found.grant_id, now=ctx.now())
        else:
            await tx.revoke_token(found.id, now=ctx.now())


async def introspect(ctx: Context, client: Client, token: str) -> dict[str, Any]:
    """RFC 7662, for confidential clients only: `active` and, when active, what the token says."""
    if client.is_public:
        raise InvalidClient(message="invalid_client.public_introspection")
    found = await _find_any(ctx, token)
    if found is None:
        return {"active": False}
    body: dict[str, Any] = {
        "active": True,
        "scope": " ".join(found.scope),
        "client_id": found.client_id,
        "token_type": "refresh_token" if found.kind == "refresh" else "access_token",
        "exp": int(found.expires_at.timestamp()),
        "iat": int(found.created_at.timestamp()),
        "iss": ctx.settings.issuer_url,
        "sub": found.user_id or found.client_id,
    }
    if found.audience:
        body["aud"] = found.audience
    for claim in ("auth_time", "amr", "acr"):
        if found.claims.get(claim) is not None:
            body[claim] = found.claims[claim]
    return body
