"""/recovery: "Can't sign in?" — ask for an email, use its code or link, add a way to sign in.

The request and the code are plain forms; the last step (a passkey needs the browser's
WebAuthn) is JSON calls from keyturn.js. A link's GET only shows a button: the link is
used by its POST, so mail scanners that fetch links use nothing. Between the code (or
link) and the new credential, the recovered flow rides in an HttpOnly cookie.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from keyturn.context import Context
from keyturn.domain.flow import Flow
from keyturn.errors import FlowError, KeyturnError, RateLimited, Unavailable
from keyturn.flows import recovery
from keyturn.flows.base import csrf_token, flow_token, load_flow, open_flow, start_flow
from keyturn.flows.rate_limits import limit
from keyturn.http.context import ContextDep, ContextRoute
from keyturn.http.errors import error_headers
from keyturn.http.input import read_form, read_json
from keyturn.http.json import JSONResponse
from keyturn.http.security import (
    BINDING_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    binding_token,
    check_same_origin,
    clear_cookie,
    set_cookie,
)
from keyturn.http.templates import render
from keyturn.web.flow_pages import signed_in_response

router = APIRouter(route_class=ContextRoute)
RECOVERY_COOKIE = "keyturn_recovery"  # the recovered flow, between the code and the new credential
MAX_EMAIL_SHOWN = 254


def _page(
    request: Request,
    ctx: Context,
    step: str,
    flow: Flow,
    *,
    email: str = "",
    error: KeyturnError | None = None,
    new_binding: str | None = None,
) -> Response:
    context: dict[str, Any] = {
        "tenant": ctx.tenant,
        "page": {"mode": "recovery"},
        "step": step,
        "flow": flow_token(ctx, flow),
        "csrf": csrf_token(ctx, flow),
        "email": email[:MAX_EMAIL_SHOWN],
        "minutes": ctx.tenant.recovery.lifetime_seconds // 60,
        "error": error,
    }
    response = render(request, "recovery.html", context, status=error.status if error else 200)
    if error is not None:
        response.headers.update(error_headers(error))
    if new_binding is not None:
        set_cookie(response, ctx.settings, BINDING_COOKIE, new_binding, max_age=None)
    return response


def _ask_page(
    request: Request, ctx: Context, *, email: str = "", error: KeyturnError | None = None
) -> Response:
    token, new = binding_token(request)
    flow = start_flow(ctx, "recovery", binding_token=token, methods=())
    return _page(request, ctx, "ask", flow, email=email, error=error, new_binding=token if new else None)


def _load(request: Request, ctx: Context, form: dict[str, str]) -> Flow:
    return load_flow(
        ctx,
        form.get("flow", ""),
        kind="recovery",
        binding_token=request.cookies.get(BINDING_COOKIE),
        csrf=form.get("csrf"),
    )


def _to_recovered(ctx: Context, flow: Flow) -> Response:
    response = RedirectResponse("/recovery/new", status_code=303)
    set_cookie(
        response,
        ctx.settings,
        RECOVERY_COOKIE,
        flow_token(ctx, flow),
        max_age=ctx.tenant.recovery.lifetime_seconds,
    )
    return response


@router.get("/recovery")
async def recovery_page(request: Request, ctx: ContextDep) -> Response:
    recovery.require_recovery(ctx)
    return _ask_page(request, ctx, email=request.query_params.get("login_hint", ""))


@router.post("/recovery")
async def request_recovery(request: Request, ctx: ContextDep) -> Response:
    check_same_origin(request, ctx.tenant, ctx.settings)
    form = await read_form(request)
    email = form.get("email", "")
    try:
        flow = _load(request, ctx, form)
        waiting = await recovery.request_recovery(ctx, flow, email=email)
    except Unavailable:
        raise
    except KeyturnError as error:
        return _ask_page(request, ctx, email=email, error=error)
    return _page(request, ctx, "sent", waiting, email=email.strip())


@router.post("/recovery/code")
async def use_code(request: Request, ctx: ContextDep) -> Response:
    check_same_origin(request, ctx.tenant, ctx.settings)
    form = await read_form(request)
    try:
        flow = _load(request, ctx, form)
    except KeyturnError as error:
        return _ask_page(request, ctx, error=error)
    try:
        recovered = await recovery.recover_with_code(ctx, flow, code=form.get("code"))
    except (Unavailable, RateLimited):
        raise
    except KeyturnError as error:
        return _page(request, ctx, "sent", flow, email=form.get("email", ""), error=error)
    return _to_recovered(ctx, recovered)


@router.get("/recovery/link")
async def link_page(request: Request, ctx: ContextDep) -> Response:
    """Only a button: nothing is used until it is pressed."""
    recovery.require_recovery(ctx)
    token = request.query_params.get("token", "")[:256]
    return render(request, "recovery_link.html", {"tenant": ctx.tenant, "page": {}, "token": token})


@router.post("/recovery/link")
async def use_link(request: Request, ctx: ContextDep) -> Response:
    check_same_origin(request, ctx.tenant, ctx.settings)
    form = await read_form(request)
    try:
        recovered = await recovery.recover_with_link(
            ctx, token=form.get("token"), binding_token=request.cookies.get(BINDING_COOKIE)
        )
    except Unavailable:
        raise
    except KeyturnError as error:
        context = {"tenant": ctx.tenant, "page": {}, "token": "", "error": error}
        return render(request, "recovery_link.html", context, status=error.status)
    return _to_recovered(ctx, recovered)


def _recovered_flow(request: Request, ctx: Context, *, csrf: object | None) -> Flow:
    token = request.cookies.get(RECOVERY_COOKIE)
    if not token:
        raise FlowError(detail="no recovered flow")
    binding = request.cookies.get(BINDING_COOKIE)
    if csrf is None:
        return open_flow(ctx, token, kind="recovered", binding_token=binding)
    return load_flow(ctx, token, kind="recovered", binding_token=binding, csrf=csrf)


@router.get("/recovery/new")
async def recovered_page(request: Request, ctx: ContextDep) -> Response:
    if not request.cookies.get(RECOVERY_COOKIE):
        return RedirectResponse("/recovery", status_code=303)
    flow = _recovered_flow(request, ctx, csrf=None)
    user = await recovery.recovered_user(ctx, flow)
    page = {
        "mode": "recovered",
        "csrf": csrf_token(ctx, flow),
        "passkey": "passkey" in flow.methods,
        "password": "password" in flow.methods,
    }
    return render(request, "recovered.html", {"tenant": ctx.tenant, "page": page, "user": user})


@router.post("/recovery/new/passkey/options")
async def passkey_options(request: Request, ctx: ContextDep) -> Response:
    check_same_origin(request, ctx.tenant, ctx.settings)
    flow = _recovered_flow(request, ctx, csrf=request.headers.get(CSRF_HEADER, ""))
    await limit(ctx, "recovery.passkey_options")
    return JSONResponse(await recovery.passkey_options(ctx, flow))


@router.post("/recovery/new")
async def complete(request: Request, ctx: ContextDep) -> Response:
    check_same_origin(request, ctx.tenant, ctx.settings)
    flow = _recovered_flow(request, ctx, csrf=request.headers.get(CSRF_HEADER, ""))
    data = await read_json(request)
    signing_in = recovery.complete_recovery(
        ctx,
        flow,
        data,
        binding_token=request.cookies.get(BINDING_COOKIE),
        previous_session=request.cookies.get(SESSION_COOKIE),
    )
    response = await signed_in_response(ctx, signing_in)
    clear_cookie(response, ctx.settings, RECOVERY_COOKIE)
    return response
