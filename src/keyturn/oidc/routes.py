"""The provider's HTTP surface: parse, call the protocol modules, shape the answer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from keyturn import i18n
from keyturn.context import Context
from keyturn.domain.identity import User
from keyturn.domain.oidc import Client
from keyturn.domain.session import Session
from keyturn.errors import KeyturnError, RateLimited
from keyturn.flows.base import check_csrf
from keyturn.flows.parked import Parked, load_parked
from keyturn.flows.rate_limits import limit
from keyturn.flows.sessions import end_session
from keyturn.http.context import ContextDep, ContextRoute, SessionDep
from keyturn.http.errors import error_headers
from keyturn.http.input import read_form, read_form_items
from keyturn.http.json import JSONResponse
from keyturn.http.security import (
    BINDING_COOKIE,
    SESSION_COOKIE,
    binding_token,
    check_same_origin,
    clear_cookie,
    csp_source,
    set_cookie,
)
from keyturn.http.templates import render
from keyturn.i18n import N_
from keyturn.ids import hash_token
from keyturn.keys import JWKS_MAX_AGE_SECONDS, InvalidToken
from keyturn.oidc import discovery, endpoints
from keyturn.oidc.authorization import (
    RedirectError,
    client_redirect,
    consent_given,
    consent_refused,
    continue_authorization,
    error_redirect,
    start_authorization,
)
from keyturn.oidc.client_auth import authenticate_client, claimed_client_id
from keyturn.oidc.clients import redirect_uri_matches
from keyturn.oidc.errors import InvalidClient, InvalidRequest, OAuthError, UnregisteredRedirect
from keyturn.oidc.grants import record_unauthenticated_exchange, token_response

router = APIRouter(route_class=ContextRoute)
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
SCOPE_DESCRIPTIONS = {  # translated on the consent page
    "openid": N_("Know who you are"),
    "profile": N_("See your name"),
    "email": N_("See your email address"),
    "phone": N_("See your phone number"),
    "address": N_("See your postal address"),
    "offline_access": N_("Stay signed in when you are away"),
}


def _json(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={**NO_STORE, **(headers or {})})


def _error_page(request: Request, ctx: Context, error: KeyturnError) -> Response:
    """For errors that must not redirect (unknown client, unregistered redirect URI)."""
    return render(request, "oidc_error.html", {"error": error, "tenant": ctx.tenant, "page": {}}, status=400)


def _expired_page(request: Request, ctx: Context) -> Response:
    return _error_page(request, ctx, InvalidRequest(message="invalid_request.expired_authorization"))


# --- discovery and well-known documents ------------------------------------------------


@router.get("/.well-known/openid-configuration")
async def openid_configuration(ctx: ContextDep) -> Response:
    return JSONResponse(
        discovery.provider_metadata(
            ctx.settings.issuer_url, base_url=ctx.settings.base_url, ui_locales=list(ctx.tenant.ui.locales)
        )
    )


@router.get("/.well-known/jwks.json")
async def jwks(ctx: ContextDep) -> Response:
    ring = await ctx.rt.keys.ring(now=ctx.now())
    return JSONResponse(ring.jwks(), headers={"cache-control": f"public, max-age={JWKS_MAX_AGE_SECONDS}"})


@router.get("/.well-known/apple-app-site-association")
async def apple_app_site_association(ctx: ContextDep) -> Response:
    return JSONResponse(discovery.apple_app_site_association(ctx.tenant))


@router.get("/.well-known/assetlinks.json")
async def assetlinks(ctx: ContextDep) -> Response:
    return JSONResponse(discovery.asset_links(ctx.tenant))


@router.get("/.well-known/webauthn")
async def webauthn_related_origins(ctx: ContextDep) -> Response:
    return JSONResponse(discovery.related_origins(ctx.tenant))


# --- authorization -------------------------------------------------------------------


async def _authorize(
    request: Request, ctx: Context, session: tuple[Session, User] | None, items: list[tuple[str, str]]
) -> Response:
    counts = Counter(name for name, _ in items)
    token, new = binding_token(request)
    try:
        url = await start_authorization(
            ctx,
            dict(items),
            repeated=frozenset(name for name, n in counts.items() if n > 1),
            signed_in=session,
            binding_hash=hash_token(token),
        )
    except UnregisteredRedirect as error:
        return _error_page(request, ctx, error)
    except RedirectError as error:
        url = error_redirect(ctx, error)
    response = RedirectResponse(url, status_code=303)
    if new:
        set_cookie(response, ctx.settings, BINDING_COOKIE, token, max_age=None)
    return response


@router.get("/oauth2/authorize")
async def authorize_get(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    return await _authorize(request, ctx, session, list(request.query_params.multi_items()))


@router.post("/oauth2/authorize")
async def authorize_post(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    return await _authorize(request, ctx, session, await read_form_items(request))


async def _parked(request: Request, ctx: Context, request_id: str) -> Parked | None:
    return await load_parked(ctx, request_id, binding_token=request.cookies.get(BINDING_COOKIE))


@router.get("/oauth2/authorize/resume/{request_id}")
async def authorize_resume(
    request: Request, ctx: ContextDep, session: SessionDep, request_id: str
) -> Response:
    found = await _parked(request, ctx, request_id)
    if found is None:
        return _expired_page(request, ctx)
    try:
        url = await continue_authorization(ctx, found.request, found.client, signed_in=session, parked=True)
    except RedirectError as error:
        url = error_redirect(ctx, error)
    return RedirectResponse(url, status_code=303)


@router.get("/oauth2/consent/{request_id}")
async def consent_page(request: Request, ctx: ContextDep, session: SessionDep, request_id: str) -> Response:
    found = await _parked(request, ctx, request_id)
    if found is None or session is None:
        return _expired_page(request, ctx)
    if "ui_locales" not in request.query_params:
        i18n.prefer(found.request.ui_locales)
    # A custom scope (the identity schema's) is shown by its name.
    scopes = [(scope, SCOPE_DESCRIPTIONS.get(scope, scope)) for scope in found.request.scope]
    context = {
        "client": found.client,
        "scopes": scopes,
        "csrf": session[0].csrf_token,
        "request_id": request_id,
    }
    # Allow and Deny both end at the client's redirect URI (already validated).
    return render(
        request,
        "consent.html",
        {**context, "user": session[1], "tenant": ctx.tenant, "page": {}},
        form_targets=(csp_source(found.request.redirect_uri),),
    )


@router.post("/oauth2/consent/{request_id}")
async def consent_decision(
    request: Request, ctx: ContextDep, session: SessionDep, request_id: str
) -> Response:
    found = await _parked(request, ctx, request_id)
    if found is None or session is None:
        return _expired_page(request, ctx)
    current, user = session
    check_same_origin(request, ctx.tenant, ctx.settings)
    form = await read_form(request)
    check_csrf(current.csrf_token, form.get("csrf"))
    try:
        if form.get("decision") != "allow":
            url = await consent_refused(ctx, found.request)
        else:
            url = await consent_given(ctx, found.request, found.client, session=current, user=user)
    except RedirectError as error:
        url = error_redirect(ctx, error)
    return RedirectResponse(url, status_code=303)


# --- token, userinfo, revocation, introspection --------------------------------------


async def _client_call(
    request: Request,
    ctx: Context,
    work: Callable[[Client, dict[str, str]], Awaitable[Response]],
    *,
    exchange: bool = False,
    rate_limited: str | None = None,
) -> Response:
    """Authenticate the calling client, run `work`, and render OAuth errors as JSON (RFC 6749 §5.2).
    At the token endpoint (`exchange`), a client that fails to authenticate is logged as a
    failed exchange of the grant it asked for, naming the client id it claimed. An endpoint
    that is `rate_limited` counts the client it names first (429 with Retry-After past it)."""
    form = await read_form(request)
    authorization = request.headers.get("authorization")
    if rate_limited is not None:
        claimed = claimed_client_id(form, authorization=authorization)
        try:
            await limit(ctx, rate_limited, client=claimed)
        except RateLimited as error:
            return _json(error.to_json(), status=error.status, headers=error_headers(error))
    try:
        try:
            client = await authenticate_client(ctx, form, authorization=authorization)
        except OAuthError as error:
            if exchange:
                record_unauthenticated_exchange(ctx, form, error)
            raise
        return await work(client, form)
    except InvalidClient as error:
        challenge = {"www-authenticate": 'Basic realm="keyturn"'} if authorization else {}
        return _json(error.to_json(), status=401, headers=challenge)
    except OAuthError as error:
        return _json(error.to_json(), status=error.status)


@router.post("/oauth2/token")
async def token(request: Request, ctx: ContextDep) -> Response:
    async def work(client: Client, form: dict[str, str]) -> Response:
        ring = await ctx.rt.keys.ring(now=ctx.now())
        return _json(await token_response(ctx, ring, client, form))

    return await _client_call(request, ctx, work, exchange=True, rate_limited="oauth2.token")


@router.post("/oauth2/revoke")
async def revoke(request: Request, ctx: ContextDep) -> Response:
    async def work(client: Client, form: dict[str, str]) -> Response:
        if not form.get("token"):
            raise InvalidRequest(message="invalid_request.missing_parameter", name="token")
        await endpoints.revoke(ctx, client, form["token"])
        return _json({})

    return await _client_call(request, ctx, work)


@router.post("/oauth2/introspect")
async def introspect(request: Request, ctx: ContextDep) -> Response:
    async def work(client: Client, form: dict[str, str]) -> Response:
        if not form.get("token"):
            raise InvalidRequest(message="invalid_request.missing_parameter", name="token")
        return _json(await endpoints.introspect(ctx, client, form["token"]))

    return await _client_call(request, ctx, work)


async def _userinfo(request: Request, ctx: Context, form_token: str | None) -> Response:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    bearer = value.strip() if scheme.lower() == "bearer" else form_token
    try:
        if not bearer:  # RFC 6750 §3.1: no error code when no credentials were sent
            error = InvalidToken(message="invalid_token.bearer_required")
            return _json(error.to_json(), status=401, headers={"www-authenticate": 'Bearer realm="keyturn"'})
        claims = await endpoints.userinfo(ctx, bearer)
    except InvalidToken as error:
        challenge = f'Bearer realm="keyturn", error="{error.code}", error_description="{error.description}"'
        return _json(error.to_json(), status=error.status, headers={"www-authenticate": challenge})
    return _json(claims)


@router.get("/oauth2/userinfo")
async def userinfo_get(request: Request, ctx: ContextDep) -> Response:
    return await _userinfo(request, ctx, None)


@router.post("/oauth2/userinfo")
async def userinfo_post(request: Request, ctx: ContextDep) -> Response:
    return await _userinfo(request, ctx, (await read_form(request)).get("access_token"))


# --- RP-initiated logout (OIDC RP-Initiated Logout 1.0) -------------------------------


async def _logout_target(ctx: Context, params: dict[str, str]) -> tuple[str | None, str | None]:
    """(validated post-logout redirect, sid named by id_token_hint); bad redirects raise."""
    sid = client_id = None
    if hint := params.get("id_token_hint"):
        claims = await ctx.rt.keys.verify(hint, now=ctx.now(), allow_expired=True)
        sid, client_id = claims.get("sid"), claims.get("aud")
        if params.get("client_id") not in (None, client_id):  # RP-Initiated Logout 1.0 §2: must match
            raise UnregisteredRedirect(message="invalid_request.logout_client_mismatch")
    client_id = params.get("client_id") or client_id
    target = params.get("post_logout_redirect_uri")
    if target is None:
        return None, sid
    client = await ctx.rt.config.client(await ctx.read(), client_id) if isinstance(client_id, str) else None
    if client is None or not redirect_uri_matches(client.post_logout_redirect_uris, target):
        raise UnregisteredRedirect(message="invalid_request.logout_redirect_unregistered")
    return client_redirect(target, {"state": params.get("state")}), sid


@router.api_route("/oauth2/logout", methods=["GET", "POST"])
async def end_session_endpoint(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    params = dict(request.query_params) if request.method == "GET" else await read_form(request)
    try:
        target, hinted_sid = await _logout_target(ctx, params)
    except (UnregisteredRedirect, InvalidToken) as error:
        return _error_page(request, ctx, error)
    if request.method == "POST":
        check_same_origin(request, ctx.tenant, ctx.settings)
    confirmed = False
    if request.method == "POST" and session is not None:
        try:
            check_csrf(session[0].csrf_token, params.get("csrf"))
            confirmed = True
        except KeyturnError:
            confirmed = False
    if session is not None and not confirmed and hinted_sid != session[0].id:
        context = {"params": params, "csrf": session[0].csrf_token, "user": session[1]}
        return render(
            request,
            "logout.html",
            {**context, "tenant": ctx.tenant, "page": {}},
            form_targets=(csp_source(target),) if target is not None else (),
        )
    response = RedirectResponse(target or "/login", status_code=303)
    if session is not None:
        await end_session(ctx, *session)
    clear_cookie(response, ctx.settings, SESSION_COOKIE)
    return response
