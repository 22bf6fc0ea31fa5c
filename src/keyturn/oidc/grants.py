"""The token endpoint's grants (RFC 6749 §4.1.3, §6, §4.4), registered by grant_type.

Codes and refresh tokens are consumed before anything else is checked, so a code
presented with a wrong PKCE verifier is burned, and a second use of either is a replay
that revokes every token of its grant.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from keyturn.domain.events import EventType, RequestContext
from keyturn.domain.oidc import Client, Grant, StoredToken
from keyturn.ids import constant_time_equal, hash_token, new_id
from keyturn.oidc.errors import (
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    OAuthError,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from keyturn.oidc.keys import KeyRing
from keyturn.oidc.tokens import (
    Authentication,
    mint_access_token,
    mint_id_token,
    mint_refresh_token,
    pkce_s256,
)
from keyturn.runtime import Runtime

_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
TokenResponse = dict[str, Any]
GrantHandler = Callable[[Runtime, KeyRing, Client, Mapping[str, str]], Awaitable[TokenResponse]]


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise InvalidRequest(f"The parameter {name} is required.")
    return value


async def _issue(
    rt: Runtime,
    ring: KeyRing,
    client: Client,
    grant: Grant,
    *,
    authn: Authentication | None,
    audience: str | None,
    refresh_expires: Any = None,
    refresh_grant: Grant | None = None,
) -> TokenResponse:
    """Access token (and ID token, refresh token) for `grant`. A refresh that narrowed the scope
    passes the unnarrowed `refresh_grant`: the new refresh token keeps the scope it had."""
    subject = grant.user_id or client.client_id
    access, access_row = mint_access_token(rt, ring, grant, subject=subject, audience=audience, authn=authn)
    response: TokenResponse = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": rt.settings.access_token_ttl_seconds,
        "scope": " ".join(grant.scope),
    }
    rows: list[StoredToken] = [access_row]
    if grant.user_id and authn:
        user = await rt.store.get_user(grant.user_id)
        if user is None:
            raise InvalidGrant("The user no longer exists.")
        if "openid" in grant.scope:
            response["id_token"] = mint_id_token(rt, ring, client, user, scope=grant.scope, authn=authn)
        keeps = refresh_grant or grant
        if "offline_access" in keeps.scope and "refresh_token" in client.grant_types:
            refresh, refresh_row = mint_refresh_token(rt, keeps, authn=authn, audience=audience)
            if refresh_expires is not None:
                refresh_row = replace(refresh_row, expires_at=refresh_expires)
            response["refresh_token"] = refresh
            rows.append(refresh_row)
    await rt.store.save_tokens(*rows)
    return response


async def authorization_code(
    rt: Runtime, ring: KeyRing, client: Client, form: Mapping[str, str]
) -> TokenResponse:
    now = rt.clock.now()
    code_hash = hash_token(_required(form, "code"))
    known = await rt.store.get_code(code_hash)
    if known is None or known.client_id != client.client_id:  # another client cannot burn it
        raise InvalidGrant(detail="unknown code or another client's")
    code, first_use = await rt.store.consume_code(code_hash, now=now)
    if code is None:
        raise InvalidGrant(detail="code vanished")
    if not first_use:
        await rt.store.revoke_grant(code.grant_id, now=now)
        raise InvalidGrant("The authorization code was already used.", detail="code replay: grant revoked")
    if code.expires_at <= now:
        raise InvalidGrant("The authorization code has expired.")
    if form.get("redirect_uri") != code.redirect_uri:
        raise InvalidGrant("redirect_uri does not match the authorization request.")
    verifier = form.get("code_verifier")
    if code.code_challenge is None:
        if verifier is not None:
            raise InvalidGrant(detail="code_verifier sent for a code issued without PKCE")
    elif (
        verifier is None
        or not _VERIFIER.match(verifier)
        or not constant_time_equal(pkce_s256(verifier), code.code_challenge)
    ):
        raise InvalidGrant("The PKCE code_verifier is wrong.", detail="PKCE mismatch: code burned")
    grant = await rt.store.get_grant(code.grant_id)
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
    return await _issue(rt, ring, client, grant, authn=authn, audience=code.audience)


async def refresh_token(rt: Runtime, ring: KeyRing, client: Client, form: Mapping[str, str]) -> TokenResponse:
    now = rt.clock.now()
    token_id = hash_token(_required(form, "refresh_token"))
    known = await rt.store.find_token(token_id)
    if known is None or known.kind != "refresh" or known.client_id != client.client_id:
        raise InvalidGrant(detail="unknown refresh token or another client's")  # not consumed
    stored, first_use = await rt.store.consume_token(token_id, now=now)
    if stored is None:
        raise InvalidGrant(detail="refresh token vanished")
    if not first_use:
        await rt.store.revoke_grant(stored.grant_id, now=now)
        raise InvalidGrant("The refresh token was already used.", detail="refresh reuse: family revoked")
    grant = await rt.store.get_grant(stored.grant_id)
    if (
        stored.revoked_at is not None
        or stored.expires_at <= now
        or grant is None
        or grant.revoked_at is not None
    ):
        raise InvalidGrant(detail="refresh token expired or revoked")
    full = replace(grant, scope=stored.scope)
    if requested := form.get("scope"):
        narrowed = tuple(requested.split())
        if not set(narrowed) <= set(stored.scope):
            raise InvalidScope("A refresh can only narrow the scope.")
        grant = replace(grant, scope=narrowed)
    else:
        grant = full
    authn = Authentication.from_claims(stored.claims)
    return await _issue(
        rt,
        ring,
        client,
        grant,
        authn=authn,
        audience=stored.audience,
        refresh_expires=stored.expires_at,
        refresh_grant=full,
    )


async def client_credentials(
    rt: Runtime, ring: KeyRing, client: Client, form: Mapping[str, str]
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
        created_at=rt.clock.now(),
    )
    await rt.store.create_grant(grant)
    return await _issue(rt, ring, client, grant, authn=None, audience=audience)


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


async def token_response(
    rt: Runtime, ring: KeyRing, client: Client, form: Mapping[str, str], *, ctx: RequestContext
) -> TokenResponse:
    """Run the grant asked for; every exchange, good or bad, is logged (never the tokens)."""
    grant_type = form.get("grant_type", "")
    handler = GRANTS.get(grant_type)
    if handler is None:
        raise UnsupportedGrantType()
    success, failure = EVENTS[grant_type]
    try:
        if grant_type not in client.grant_types:
            raise UnauthorizedClient()
        response = await handler(rt, ring, client, form)
    except OAuthError as error:
        rt.events.record(failure, ctx, client_id=client.client_id, details={"error": error.code})
        raise
    rt.events.record(success, ctx, client_id=client.client_id, details={"scope": response.get("scope", "")})
    return response
