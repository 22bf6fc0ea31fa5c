"""The token endpoint's grants (RFC 6749 §4.1.3, §6, §4.4), registered by grant_type.

A code or refresh token is burned by any presentation that reaches the checks: a wrong
PKCE verifier or redirect URI uses the code up (the burn is kept even though the exchange
is refused), and a second use is a replay that revokes every token of its grant. Which
call used it first is decided by the database (a conditional update), so two concurrent
exchanges cannot both succeed.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from keyturn.context import Context
from keyturn.domain.events import EventType
from keyturn.domain.oidc import Client, Grant, StoredToken
from keyturn.ids import constant_time_equal, hash_token, new_id
from keyturn.keys import KeyRing
from keyturn.oidc.errors import (
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    OAuthError,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from keyturn.oidc.tokens import (
    Authentication,
    mint_access_token,
    mint_id_token,
    mint_refresh_token,
    pkce_s256,
)
from keyturn.store.protocols import WriteTx

_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
TokenResponse = dict[str, Any]
GrantHandler = Callable[[Context, KeyRing, Client, Mapping[str, str]], Awaitable[TokenResponse]]


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise InvalidRequest(message="invalid_request.missing_parameter", name=name)
    return value


async def _tokens(
    ctx: Context,
    ring: KeyRing,
    client: Client,
    grant: Grant,
    *,
    authn: Authentication | None,
    audience: str | None,
    refresh_expires: datetime | None = None,
    refresh_grant: Grant | None = None,
) -> tuple[TokenResponse, list[StoredToken]]:
    """Access token (and ID token, refresh token) for `grant`, and their records to store. A
    refresh that narrowed the scope passes the unnarrowed `refresh_grant`: the new refresh
    token keeps the scope it had."""
    subject = grant.user_id or client.client_id
    access, access_row = mint_access_token(ctx, ring, grant, subject=subject, audience=audience, authn=authn)
    response: TokenResponse = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ctx.settings.access_token_ttl_seconds,
        "scope": " ".join(grant.scope),
    }
    rows: list[StoredToken] = [access_row]
    if grant.user_id and authn:
        user = await (await ctx.read()).get_user(grant.user_id)
        if user is None:
            raise InvalidGrant(message="invalid_grant.user_gone")
        if "openid" in grant.scope:
            response["id_token"] = mint_id_token(ctx, ring, client, user, scope=grant.scope, authn=authn)
        keeps = refresh_grant or grant
        if "offline_access" in keeps.scope and "refresh_token" in client.grant_types:
            refresh, refresh_row = mint_refresh_token(ctx, keeps, authn=authn, audience=audience)
            if refresh_expires is not None:
                refresh_row = replace(refresh_row, expires_at=refresh_expires)
            response["refresh_token"] = refresh
            rows.append(refresh_row)
    return response, rows


def _burn_code_whatever_happens(ctx: Context, code_hash: str) -> None:
    async def burn(tx: WriteTx) -> None:
        await tx.consume_code(code_hash, now=ctx.now())

    ctx.uow.keep(burn)


def _revoke_whatever_happens(ctx: Context, grant_id: str) -> None:
    async def revoke(tx: WriteTx) -> None:
        await tx.revoke_grant(grant_id, now=ctx.now())

    ctx.uow.keep(revoke)


async def authorization_code(
    ctx: Context, ring: KeyRing, client: Client, form: Mapping[str, str]
) -> TokenResponse:
    now = ctx.now()
    code_hash = hash_token(_required(form, "code"))
    reader = await ctx.read()
    code = await reader.get_code(code_hash)
    if code is None or code.client_id != client.client_id:  # another client cannot burn it
        raise InvalidGrant(detail="unknown code or another client's")
    if code.consumed_at is not None:
        _revoke_whatever_happens(ctx, code.grant_id)
        raise InvalidGrant(message="invalid_grant.code_used", detail="code replay: grant revoked")
    _burn_code_whatever_happens(ctx, code_hash)
    if code.expires_at <= now:
        raise InvalidGrant(message="invalid_grant.code_expired")
    if form.get("redirect_uri") != code.redirect_uri:
        raise InvalidGrant(message="invalid_grant.redirect_uri")
    verifier = form.get("code_verifier")
    if code.code_challenge is None:
        if verifier is not None:
            raise InvalidGrant(detail="code_verifier sent for a code issued without PKCE")
    elif (
        verifier is None
        or not _VERIFIER.match(verifier)
        or not constant_time_equal(pkce_s256(verifier), code.code_challenge)
    ):
        raise InvalidGrant(message="invalid_grant.pkce", detail="PKCE mismatch: code burned")
    grant = await reader.get_grant(code.grant_id)
    if grant is None or grant.revoked_at is not None:
        raise InvalidGrant(detail="grant revoked")
    authn = Authentication(
        auth_time=code.auth_time,
        amr=code.amr,
        acr=code.acr,
        sid=code.session_id,
        nonce=code.nonce,
        custom_claims=code.custom_claims,
    )
    response, rows = await _tokens(ctx, ring, client, grant, authn=authn, audience=code.audience)
    replayed = False
    async with ctx.writing() as tx:
        _, first_use = await tx.consume_code(code_hash, now=now)
        if first_use:
            await tx.save_tokens(*rows)
            _exchanged(ctx, client, "authorization_code", response)
        else:  # a concurrent exchange of the same code got there first
            await tx.revoke_grant(code.grant_id, now=now)
            replayed = True
    if replayed:
        raise InvalidGrant(message="invalid_grant.code_used", detail="concurrent code replay: grant revoked")
    return response


async def refresh_token(
    ctx: Context, ring: KeyRing, client: Client, form: Mapping[str, str]
) -> TokenResponse:
    now = ctx.now()
    token_id = hash_token(_required(form, "refresh_token"))
    found = await (await ctx.read()).find_live_token(token_id)
    if found is None or found[0].kind != "refresh" or found[0].client_id != client.client_id:
        raise InvalidGrant(detail="unknown refresh token or another client's")  # not consumed
    stored, grant = found
    if stored.consumed_at is not None:
        _revoke_whatever_happens(ctx, stored.grant_id)
        raise InvalidGrant(message="invalid_grant.refresh_used", detail="refresh reuse: family revoked")
    if stored.revoked_at is not None or stored.expires_at <= now or grant.revoked_at is not None:
        raise InvalidGrant(detail="refresh token expired or revoked")
    full = replace(grant, scope=stored.scope)
    narrowed = full
    if requested := form.get("scope"):
        asked = tuple(requested.split())
        if not set(asked) <= set(stored.scope):
            raise InvalidScope(message="invalid_scope.narrow_only")
        narrowed = replace(grant, scope=asked)
    response, rows = await _tokens(
        ctx,
        ring,
        client,
        narrowed,
        authn=Authentication.from_claims(stored.claims),
        audience=stored.audience,
        refresh_expires=stored.expires_at,
        refresh_grant=full,
    )
    replayed = False
    async with ctx.writing() as tx:
        _, first_use = await tx.consume_token(token_id, now=now)
        if first_use:
            await tx.save_tokens(*rows)
            _exchanged(ctx, client, "refresh_token", response)
        else:
            await tx.revoke_grant(stored.grant_id, now=now)
            replayed = True
    if replayed:
        raise InvalidGrant(
            message="invalid_grant.refresh_used", detail="concurrent refresh reuse: family revoked"
        )
    return response


async def client_credentials(
    ctx: Context, ring: KeyRing, client: Client, form: Mapping[str, str]
) -> TokenResponse:
    requested = tuple(form.get("scope", "").split()) or client.scopes
    if not set(requested) <= set(client.scopes):
        raise InvalidScope()
    default = client.audiences[0] if len(client.audiences) == 1 else None  # Auth0's default audience
    audience = form.get("audience") or form.get("resource") or default
    if audience is not None and audience not in client.audiences:
        raise InvalidTarget()
    grant = Grant(
        id=new_id(),
        client_id=client.client_id,
        user_id=None,
        session_id=None,
        scope=requested,
        created_at=ctx.now(),
    )
    response, rows = await _tokens(ctx, ring, client, grant, authn=None, audience=audience)
    async with ctx.writing() as tx:
        await tx.create_grant(grant)
        await tx.save_tokens(*rows)
        _exchanged(ctx, client, "client_credentials", response)
    return response


def _exchanged(ctx: Context, client: Client, grant_type: str, response: TokenResponse) -> None:
    """The success event, recorded inside the transaction that stores the tokens."""
    ctx.record(
        EVENTS[grant_type][0], client_id=client.client_id, details={"scope": response.get("scope", "")}
    )


GRANTS: dict[str, GrantHandler] = {
    "authorization_code": authorization_code,
    "refresh_token": refresh_token,
    "client_credentials": client_credentials,
}


EVENTS: dict[str, tuple[EventType, EventType]] = {
    "authorization_code": (EventType.SUCCESS_EXCHANGE_CODE, EventType.FAILED_EXCHANGE_CODE),
    "refresh_token": (EventType.SUCCESS_EXCHANGE_REFRESH, EventType.FAILED_EXCHANGE_REFRESH),
    "client_credentials": (
        EventType.SUCCESS_EXCHANGE_CLIENT_CREDENTIALS,
        EventType.FAILED_EXCHANGE_CLIENT_CREDENTIALS,
    ),
}


def record_unauthenticated_exchange(ctx: Context, form: Mapping[str, str], error: OAuthError) -> None:
    """The failure event of an exchange whose client did not authenticate."""
    events = EVENTS.get(form.get("grant_type", ""))
    if events is not None:
        claimed = (form.get("client_id") or "")[:64] or None
        ctx.record(events[1], client_id=claimed, details={"error": error.code, "authenticated": False})


async def token_response(
    ctx: Context, ring: KeyRing, client: Client, form: Mapping[str, str]
) -> TokenResponse:
    """Run the grant asked for; every exchange, good or bad, is logged (never the tokens)."""
    grant_type = form.get("grant_type", "")
    handler = GRANTS.get(grant_type)
    if handler is None:
        raise UnsupportedGrantType()
    try:
        if grant_type not in client.grant_types:
            raise UnauthorizedClient()
        return await handler(ctx, ring, client, form)
    except OAuthError as error:
        ctx.record(EVENTS[grant_type][1], client_id=client.client_id, details={"error": error.code})
        raise
