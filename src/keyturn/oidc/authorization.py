"""From a checked authorization request to a redirect: sign-in first if needed (reusing a
live session unless prompt=login or max_age says otherwise), consent for third-party
clients, then a single-use code (OIDC Core §3.1.2.3–§3.1.2.5)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from keyturn.domain.events import RequestContext
from keyturn.domain.identity import User
from keyturn.domain.oidc import AuthorizationCode, AuthorizationRequest, Client, Grant
from keyturn.domain.session import Session
from keyturn.hooks.executor import HookOutcome, run_post_login
from keyturn.ids import hash_token, new_id
from keyturn.oidc.authorize_checks import Checked, run_checks
from keyturn.oidc.errors import AccessDenied, ConsentRequired, LoginRequired, OAuthError, UnregisteredRedirect
from keyturn.runtime import Runtime

CODE_TTL = timedelta(seconds=60)
REQUEST_TTL = timedelta(minutes=30)


class RedirectError(Exception):
    """An OAuthError that must travel back to a validated redirect URI."""

    def __init__(self, error: OAuthError, *, redirect_uri: str, state: str | None) -> None:
        super().__init__(error.code)
        self.error, self.redirect_uri, self.state = error, redirect_uri, state


def client_redirect(redirect_uri: str, params: Mapping[str, str | None]) -> str:
    """redirect_uri with params added to its query (RFC 6749 §3.1.2: keep its own query)."""
    parts = urlsplit(redirect_uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def error_redirect(rt: Runtime, error: RedirectError) -> str:
    return client_redirect(
        error.redirect_uri,
        {
            "error": error.error.code,
            "error_description": error.error.description,
            "state": error.state,
            "iss": rt.settings.issuer_url,
        },
    )


def _request_from(checked: Checked, *, binding_hash: str, rt: Runtime) -> AuthorizationRequest:
    now = rt.clock.now()
    params = checked.params
    return AuthorizationRequest(
        id=new_id(),
        client_id=checked.client.client_id,
        redirect_uri=checked.redirect_uri,
        scope=checked.scope,
        state=params.get("state"),
        nonce=params.get("nonce"),
        code_challenge=checked.code_challenge,
        prompt=checked.prompt,
        max_age=checked.max_age,
        login_hint=params.get("login_hint"),
        acr_values=tuple(params.get("acr_values", "").split()),
        audience=checked.audience,
        browser_binding=binding_hash,
        created_at=now,
        expires_at=now + REQUEST_TTL,
    )


async def start_authorization(
    rt: Runtime,
    params: Mapping[str, str],
    *,
    repeated: frozenset[str],
    signed_in: tuple[Session, User] | None,
    binding_hash: str,
    ctx: RequestContext,
) -> str:
    """The URL to send the browser to next. Raises UnregisteredRedirect for the error page."""
    client = await rt.store.get_client(params.get("client_id", ""))
    try:
        checked = run_checks(params, client, repeated=repeated)
    except UnregisteredRedirect:
        raise
    except OAuthError as error:
        raise RedirectError(
            error, redirect_uri=params.get("redirect_uri", ""), state=params.get("state")
        ) from error
    request = _request_from(checked, binding_hash=binding_hash, rt=rt)
    return await continue_authorization(
        rt, request, checked.client, signed_in=signed_in, parked=False, ctx=ctx
    )


def _needs_login(rt: Runtime, request: AuthorizationRequest, session: Session | None) -> bool:
    if session is None:
        return True
    if session.auth_time >= request.created_at:
        return False  # signed in for this very request
    if ("login" in request.prompt or "create" in request.prompt) and session.auth_time < request.created_at:
        return True
    age = (rt.clock.now() - session.auth_time).total_seconds()
    return request.max_age is not None and age > request.max_age


async def continue_authorization(
    rt: Runtime,
    request: AuthorizationRequest,
    client: Client,
    *,
    signed_in: tuple[Session, User] | None,
    parked: bool,
    ctx: RequestContext,
) -> str:
    try:
        session = signed_in[0] if signed_in else None
        if _needs_login(rt, request, session):
            if "none" in request.prompt:
                raise LoginRequired()
            if not parked:
                await rt.store.save_authorization_request(request)
            return _login_url(request)
        assert signed_in is not None
        session, user = signed_in
        if not client.first_party:
            granted = await rt.store.get_consent(user.id, client.client_id)
            if "consent" in request.prompt or not set(request.scope) <= set(granted):
                if "none" in request.prompt:
                    raise ConsentRequired()
                if not parked:
                    await rt.store.save_authorization_request(request)
                return f"/oauth2/consent/{request.id}"
    except OAuthError as error:
        raise RedirectError(error, redirect_uri=request.redirect_uri, state=request.state) from error
    return await finish_authorization(rt, request, client, session=session, user=user, parked=parked, ctx=ctx)


def _login_url(request: AuthorizationRequest) -> str:
    resume = f"/oauth2/authorize/resume/{request.id}"
    page = "/signup" if "create" in request.prompt else "/login"
    query = {"return_to": resume, "force": "1"}
    if request.login_hint:
        query["login_hint"] = request.login_hint
    return f"{page}?{urlencode(query)}"


async def finish_authorization(
    rt: Runtime,
    request: AuthorizationRequest,
    client: Client,
    *,
    session: Session,
    user: User,
    parked: bool,
    ctx: RequestContext,
) -> str:
    """Run the post-login hooks, issue the code, and send the browser back to the client with
    it (and `iss`, RFC 9207). A hook's denial goes back as access_denied with its message."""
    if request.hook_claims is not None and session.auth_time >= request.created_at:
        outcome = HookOutcome(claims=request.hook_claims)  # this sign-in already passed the hooks
    else:
        outcome = await run_post_login(rt, user, client=client, ctx=ctx, methods=session.authenticated)
    if not outcome.allowed:
        if parked:
            await rt.store.delete_authorization_request(request.id)
        denied = AccessDenied(outcome.message)
        raise RedirectError(denied, redirect_uri=request.redirect_uri, state=request.state)
    now = rt.clock.now()
    code = secrets.token_urlsafe(32)
    grant = Grant(
        id=new_id(),
        client_id=request.client_id,
        user_id=user.id,
        session_id=session.id,
        scope=request.scope,
        created_at=now,
    )
    amr = tuple(session.amr)
    acr = "phr" if "phr" in request.acr_values and "phr" in amr else None
    await rt.store.create_grant_with_code(
        grant,
        AuthorizationCode(
            code_hash=hash_token(code),
            grant_id=grant.id,
            client_id=request.client_id,
            user_id=user.id,
            session_id=session.id,
            redirect_uri=request.redirect_uri,
            scope=request.scope,
            nonce=request.nonce,
            code_challenge=request.code_challenge,
            auth_time=session.auth_time,
            amr=amr,
            acr=acr,
            audience=request.audience,
            expires_at=now + CODE_TTL,
            custom_claims=outcome.claims,
        ),
    )
    if parked:
        await rt.store.delete_authorization_request(request.id)
    return client_redirect(
        request.redirect_uri, {"code": code, "state": request.state, "iss": rt.settings.issuer_url}
    )
