"""The provider's HTTP surface: parse, call the protocol modules, shape the answer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from keyturn.domain.events import EventType
from keyturn.domain.identity import User
from keyturn.domain.oidc import Client
from keyturn.domain.session import Session
from keyturn.errors import Forbidden, KeyturnError
from keyturn.ids import constant_time_equal, hash_token
from keyturn.oidc import discovery, endpoints
from keyturn.oidc.authorization import (
    RedirectError,
    client_redirect,
    continue_authorization,
    error_redirect,
    finish_authorization,
    start_authorization,
)
from keyturn.oidc.clients import authenticate_client, redirect_uri_matches
from keyturn.oidc.errors import AccessDenied, InvalidClient, InvalidRequest, OAuthError, UnregisteredRedirect
from keyturn.oidc.grants import token_response
from keyturn.oidc.keys import JWKS_MAX_AGE_SECONDS, InvalidToken
from keyturn.runtime import Runtime
from keyturn.web.deps import RuntimeDep, SessionDep, render, request_context
from keyturn.web.security import (
    BINDING_COOKIE,
    SESSION_COOKIE,
    binding_token,
    check_same_origin,
    clear_cookie,
    content_security_policy,
    csp_source,
    set_cookie,
)

router = APIRouter()
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
SCOPE_DESCRIPTIONS = {
    "openid": "Know who you are",
    "profile": "See your name",
    "email": "See your email address",
    "offline_access": "Stay signed in when you are away",
}


def _json(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={**NO_STORE, **(headers or {})})


async def _error_page(request: Request, rt: Runtime, error: KeyturnError) -> Response:
    """For errors that must not redirect (unknown client, unregistered redirect URI)."""
    context = {"error": error, "tenant": await rt.tenant(), "page": {}}
    return render(request, "oidc_error.html", context, status=400)


async def _form(request: Request) -> dict[str, str]:
    form: FormData = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


# --- discovery and well-known documents ------------------------------------------------


@router.get("/.well-known/openid-configuration")
async def openid_configuration(rt: RuntimeDep) -> Response:
    return JSONResponse(discovery.provider_metadata(rt.settings.issuer_url, base_url=rt.settings.base_url))


@router.get("/.well-known/jwks.json")
async def jwks(rt: RuntimeDep) -> Response:
    ring = await rt.keys.ring(now=rt.clock.now())
    return JSONResponse(ring.jwks(), headers={"cache-control": f"public, max-age={JWKS_MAX_AGE_SECONDS}"})


@router.get("/.well-known/apple-app-site-association")
async def apple_app_site_association(rt: RuntimeDep) -> Response:
    return JSONResponse(discovery.apple_app_site_association(await rt.tenant()))


@router.get("/.well-known/assetlinks.json")
async def assetlinks(rt: RuntimeDep) -> Response:
    return JSONResponse(discovery.asset_links(await rt.tenant()))


@router.get("/.well-known/webauthn")
async def webauthn_related_origins(rt: RuntimeDep) -> Response:
    return JSONResponse(discovery.related_origins(await rt.tenant()))


# --- authorization -------------------------------------------------------------------


async def _authorize(
    request: Request, rt: Runtime, session: tuple[Session, User] | None, items: list[tuple[str, str]]
) -> Response:
    counts = Counter(name for name, _ in items)
    params = dict(items)
    token, new = binding_token(request)
    try:
        url = await start_authorization(
            rt,
            params,
            repeated=frozenset(name for name, n in counts.items() if n > 1),
            signed_in=session,
            binding_hash=hash_token(token),
            ctx=request_context(request),
        )
    except UnregisteredRedirect as error:
        return await _error_page(request, rt, error)
    except RedirectError as error:
        url = error_redirect(rt, error)
    response = RedirectResponse(url, status_code=303)
    if new:
        set_cookie(response, rt.settings, BINDING_COOKIE, token, max_age=None)
    return response


@router.get("/oauth2/authorize")
async def authorize_get(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    return await _authorize(request, rt, session, list(request.query_params.multi_items()))


@router.post("/oauth2/authorize")
async def authorize_post(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    form = await request.form()
    items = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    return await _authorize(request, rt, session, items)


async def _parked(request: Request, rt: Runtime, request_id: str) -> tuple[Any, Client] | None:
    parked = await rt.store.get_authorization_request(request_id, now=rt.clock.now())
    binding = request.cookies.get(BINDING_COOKIE)
    if (
        parked is None
        or binding is None
        or not constant_time_equal(hash_token(binding), parked.browser_binding)
    ):
        return None
    client = await rt.store.get_client(parked.client_id)
    return (parked, client) if client else None


async def _expired_page(request: Request, rt: Runtime) -> Response:
    error = InvalidRequest("This sign-in request has expired. Go back to the application and try again.")
    return await _error_page(request, rt, error)


@router.get("/oauth2/authorize/resume/{request_id}")
async def authorize_resume(
    request: Request, rt: RuntimeDep, session: SessionDep, request_id: str
) -> Response:
    found = await _parked(request, rt, request_id)
    if found is None:
        return await _expired_page(request, rt)
    parked, client = found
    try:
        url = await continue_authorization(
            rt, parked, client, signed_in=session, parked=True, ctx=request_context(request)
        )
    except RedirectError as error:
        url = error_redirect(rt, error)
    return RedirectResponse(url, status_code=303)


@router.get("/oauth2/consent/{request_id}")
async def consent_page(request: Request, rt: RuntimeDep, session: SessionDep, request_id: str) -> Response:
    found = await _parked(request, rt, request_id)
    if found is None or session is None:
        return await _expired_page(request, rt)
    parked, client = found
    scopes = [(scope, SCOPE_DESCRIPTIONS[scope]) for scope in parked.scope]
    context = {"client": client, "scopes": scopes, "csrf": session[0].csrf_token, "request_id": request_id}
    page = render(
        request, "consent.html", {**context, "user": session[1], "tenant": await rt.tenant(), "page": {}}
    )
    # Allow and Deny both end at the client's redirect URI (already validated).
    page.headers["content-security-policy"] = content_security_policy(
        form_targets=(csp_source(parked.redirect_uri),)
    )
    return page


@router.post("/oauth2/consent/{request_id}")
async def consent_decision(
    request: Request, rt: RuntimeDep, session: SessionDep, request_id: str
) -> Response:
    found = await _parked(request, rt, request_id)
    if found is None or session is None:
        return await _expired_page(request, rt)
    current, user = session
    check_same_origin(request, await rt.tenant(), rt.settings)
    form = await _form(request)
    if not constant_time_equal(form.get("csrf", ""), current.csrf_token):
        raise Forbidden(
            "The security token of this page is missing or wrong. Reload the page.", code="csrf_failed"
        )
    parked, client = found
    if form.get("decision") != "allow":
        await rt.store.delete_authorization_request(parked.id)
        denied = RedirectError(AccessDenied(), redirect_uri=parked.redirect_uri, state=parked.state)
        return RedirectResponse(error_redirect(rt, denied), status_code=303)
    earlier = await rt.store.get_consent(user.id, client.client_id)
    granted = tuple(dict.fromkeys((*earlier, *parked.scope)))  # consent accumulates
    await rt.store.save_consent(user.id, client.client_id, granted, now=rt.clock.now())
    try:
        url = await finish_authorization(
            rt, parked, client, session=current, user=user, parked=True, ctx=request_context(request)
        )
    except RedirectError as error:
        url = error_redirect(rt, error)
    return RedirectResponse(url, status_code=303)


# --- token, userinfo, revocation, introspection --------------------------------------


async def _client_call(
    request: Request, rt: Runtime, work: Callable[[Client, dict[str, str]], Awaitable[Response]]
) -> Response:
    """Authenticate the calling client, run `work`, and render OAuth errors as JSON (RFC 6749 §5.2)."""
    form = await _form(request)
    authorization = request.headers.get("authorization")
    try:
        client = await authenticate_client(
            rt.store,
            form,
            authorization=authorization,
            token_endpoint=f"{rt.settings.base_url}/oauth2/token",
            issuer=rt.settings.issuer_url,
            now=rt.clock.now(),
        )
        return await work(client, form)
    except InvalidClient as error:
        challenge = {"www-authenticate": 'Basic realm="keyturn"'} if authorization else {}
        return _json(error.to_json(), status=401, headers=challenge)
    except OAuthError as error:
        return _json(error.to_json(), status=error.status)


@router.post("/oauth2/token")
async def token(request: Request, rt: RuntimeDep) -> Response:
    async def work(client: Client, form: dict[str, str]) -> Response:
        ring = await rt.keys.ring(now=rt.clock.now())
        ctx = request_context(request)
        return _json(await token_response(rt, ring, client, form, ctx=ctx))

    return await _client_call(request, rt, work)


@router.post("/oauth2/revoke")
async def revoke(request: Request, rt: RuntimeDep) -> Response:
    async def work(client: Client, form: dict[str, str]) -> Response:
        if not form.get("token"):
            raise InvalidRequest("The parameter token is required.")
        await endpoints.revoke(rt, client, form["token"])
        return _json({})

    return await _client_call(request, rt, work)


@router.post("/oauth2/introspect")
async def introspect(request: Request, rt: RuntimeDep) -> Response:
    async def work(client: Client, form: dict[str, str]) -> Response:
        if not form.get("token"):
            raise InvalidRequest("The parameter token is required.")
        return _json(await endpoints.introspect(rt, client, form["token"]))

    return await _client_call(request, rt, work)


async def _userinfo(request: Request, rt: Runtime, form_token: str | None) -> Response:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    bearer = value.strip() if scheme.lower() == "bearer" else form_token
    try:
        if not bearer:  # RFC 6750 §3.1: no error code when no credentials were sent
            error = InvalidToken("A bearer access token is required.")
            return _json(error.to_json(), status=401, headers={"www-authenticate": 'Bearer realm="keyturn"'})
        claims = await endpoints.userinfo(rt, bearer)
    except InvalidToken as error:
        challenge = f'Bearer realm="keyturn", error="{error.code}", error_description="{error.description}"'
        return _json(error.to_json(), status=error.status, headers={"www-authenticate": challenge})
    return _json(claims)


@router.get("/oauth2/userinfo")
async def userinfo_get(request: Request, rt: RuntimeDep) -> Response:
    return await _userinfo(request, rt, None)


@router.post("/oauth2/userinfo")
async def userinfo_post(request: Request, rt: RuntimeDep) -> Response:
    return await _userinfo(request, rt, (await _form(request)).get("access_token"))


# --- RP-initiated logout (OIDC RP-Initiated Logout 1.0) -------------------------------


async def _logout_target(rt: Runtime, params: dict[str, str]) -> tuple[str | None, str | None]:
    """(validated post-logout redirect, sid named by id_token_hint); bad redirects raise."""
    sid = client_id = None
    if hint := params.get("id_token_hint"):
        claims = await rt.keys.verify(hint, now=rt.clock.now(), allow_expired=True)
        sid, client_id = claims.get("sid"), claims.get("aud")
        if params.get("client_id") not in (None, client_id):  # RP-Initiated Logout 1.0 §2: must match
            raise UnregisteredRedirect("This sign-out link's client does not match its ID token.")
    client_id = params.get("client_id") or client_id
    target = params.get("post_logout_redirect_uri")
    if target is None:
        return None, sid
    client = await rt.store.get_client(client_id) if isinstance(client_id, str) else None
    if client is None or not redirect_uri_matches(client.post_logout_redirect_uris, target):
        raise UnregisteredRedirect("This sign-out link's return address is not registered.")
    return client_redirect(target, {"state": params.get("state")}), sid


@router.api_route("/oauth2/logout", methods=["GET", "POST"])
async def end_session(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    params = dict(request.query_params) if request.method == "GET" else await _form(request)
    try:
        target, hinted_sid = await _logout_target(rt, params)
    except (UnregisteredRedirect, InvalidToken) as error:
        return await _error_page(request, rt, error)
    if request.method == "POST":
        check_same_origin(request, await rt.tenant(), rt.settings)
    confirmed = (
        request.method == "POST"
        and session is not None
        and constant_time_equal(params.get("csrf", ""), session[0].csrf_token)
    )
    if session is not None and not confirmed and hinted_sid != session[0].id:
        context = {"params": params, "csrf": session[0].csrf_token, "user": session[1]}
        page = render(request, "logout.html", {**context, "tenant": await rt.tenant(), "page": {}})
        if target is not None:
            page.headers["content-security-policy"] = content_security_policy(
                form_targets=(csp_source(target),)
            )
        return page
    response = RedirectResponse(target or "/login", status_code=303)
    if session is not None:
        await rt.store.delete_session(session[0].id)
        ctx = request_context(request)
        rt.events.record(EventType.SUCCESS_LOGOUT, ctx, user_id=session[1].id, user_name=session[1].email)
    clear_cookie(response, rt.settings, SESSION_COOKIE)
    return response
