"""What the login and sign-up pages share: opening a flow for a page, loading it back for the
page's JSON calls, and turning a sign-in into the session cookie and the next URL."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from keyturn import i18n
from keyturn.context import Context
from keyturn.domain.flow import Flow, FlowKind
from keyturn.domain.identity import User
from keyturn.domain.session import Session
from keyturn.flows.base import csrf_token, flow_token, load_flow, start_flow
from keyturn.flows.parked import load_parked
from keyturn.flows.protection import captcha_required
from keyturn.flows.second_factor import SecondFactorStep
from keyturn.flows.sessions import SignedIn, SignInDenied
from keyturn.flows.step_up import start_step_up
from keyturn.http.json import JSONResponse
from keyturn.http.security import (
    BINDING_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    binding_token,
    check_same_origin,
    safe_return_to,
    set_cookie,
)
from keyturn.http.templates import render
from keyturn.methods.registry import offered
from keyturn.oidc.authorization import AUTHORIZATION_PARAM, RedirectError, error_redirect
from keyturn.oidc.errors import AccessDenied


async def open_flow_page(
    request: Request,
    ctx: Context,
    session: tuple[Session, User] | None,
    kind: FlowKind,
    template: str,
    *,
    extra: dict[str, Any] | None = None,
) -> Response:
    """A login or sign-up page with a new flow bound to this browser. Signed-in people go on
    to `return_to`, unless the page continues an OIDC authorization that asked for a sign-in,
    or `force=1` asks for one (re-authentication)."""
    token, new = binding_token(request)
    parked = await load_parked(ctx, request.query_params.get(AUTHORIZATION_PARAM), binding_token=token)
    if parked is not None and "ui_locales" not in request.query_params:
        i18n.prefer(parked.request.ui_locales)  # the authorization's languages, even without the cookie
    return_to = safe_return_to(request.query_params.get("return_to"))
    if session is not None and parked is None and request.query_params.get("force") != "1":
        return RedirectResponse(return_to or "/account", status_code=303)
    stepping_up = None
    if session is not None and parked is not None and kind == "login":
        stepping_up = start_step_up(
            ctx, parked=parked, session=session[0], binding_token=token, offered=offered(ctx.tenant)
        )
    flow = stepping_up or start_flow(
        ctx,
        kind,
        binding_token=token,
        methods=offered(ctx.tenant),
        authorization_request_id=parked.request.id if parked else None,
        return_to=return_to,
    )
    hint = (parked.request.login_hint if parked else None) or request.query_params.get("login_hint", "")
    if stepping_up is not None and session is not None:
        hint = session[1].email  # a step-up is for the signed-in user only
        extra = {
            **(extra or {}),
            "step_up": stepping_up.requires,
            "client_name": parked.client.name if parked else "",
        }
    page = {"flow_id": flow_token(ctx, flow), "csrf": csrf_token(ctx, flow)}
    page |= await captcha_page_data(ctx, kind)
    response = render(
        request,
        template,
        {"tenant": ctx.tenant, "page": page, "login_hint": hint[:254], **(extra or {})},
        captcha_origins=ctx.tenant.attack_protection.captcha.csp_origins,
    )
    if new:
        set_cookie(response, ctx.settings, BINDING_COOKIE, token, max_age=None)
    return response


async def captcha_page_data(ctx: Context, kind: FlowKind) -> dict[str, Any]:
    """What the page's script needs to show the widget on the password step (public values
    only: the site key, never the secret). The script loads only when a password is chosen."""
    captcha = ctx.tenant.attack_protection.captcha
    protocol = captcha.protocol
    if protocol is None:
        return {}
    action = "login" if kind == "login" else "signup"
    config = {
        "provider": captcha.provider,
        "site_key": captcha.site_key,
        "script": captcha.resolved_script_url,
        "field": protocol.response_field,
        "v3": captcha.provider == "recaptcha" and captcha.recaptcha_version == "v3",
        "action": action,
        # sign-up asks now or never; sign-in learns it from Continue (identify) for the address
        "required": kind != "login" and await captcha_required(ctx),
    }
    return {"captcha": config}


def load_page_flow(request: Request, ctx: Context, token: str, kind: FlowKind) -> Flow:
    """The flow a page's script calls about: same origin, same browser, right CSRF token."""
    check_same_origin(request, ctx.tenant, ctx.settings)
    return load_flow(
        ctx,
        token,
        kind=kind,
        binding_token=request.cookies.get(BINDING_COOKIE),
        csrf=request.headers.get(CSRF_HEADER),
    )


async def signed_in_response(
    ctx: Context, signing_in: Awaitable[SignedIn | SecondFactorStep], *, redirect: bool = False
) -> Response:
    """Set the session cookie and say where to go next (as JSON for the page's script, or a
    303 for a plain form: `redirect`). A sign-in that needs a second factor first goes to
    that step, with no cookie. A hook's denial of an OIDC sign-in goes back to the client as
    access_denied; any other denial is shown on the page."""
    try:
        signed_in = await signing_in
    except SignInDenied as denied:
        if denied.authorization is None:
            raise
        back = RedirectError(
            AccessDenied(message="access_denied.hook_message", text=denied.description),
            redirect_uri=denied.authorization.redirect_uri,
            state=denied.authorization.state,
        )
        target = error_redirect(ctx, back)
        return (
            RedirectResponse(target, status_code=303) if redirect else JSONResponse({"redirect_to": target})
        )
    if isinstance(signed_in, SecondFactorStep):
        return JSONResponse({"redirect_to": signed_in.redirect_to})
    response: Response
    if redirect:
        response = RedirectResponse(signed_in.redirect_to, status_code=303)
    else:
        response = JSONResponse({"redirect_to": signed_in.redirect_to})
    set_cookie(
        response, ctx.settings, SESSION_COOKIE, signed_in.token, max_age=ctx.settings.session_lifespan_seconds
    )
    return response
