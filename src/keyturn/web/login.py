"""/login: the page, and the JSON calls its script makes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from keyturn.context import Context
from keyturn.domain.flow import Flow
from keyturn.errors import FlowError, Forbidden, KeyturnError, Unavailable
from keyturn.flows import factors as factor_flow
from keyturn.flows import login as login_flow
from keyturn.flows import second_factor
from keyturn.flows.base import csrf_token, load_flow, open_flow
from keyturn.flows.rate_limits import limit
from keyturn.flows.sessions import SignedIn
from keyturn.http.context import ContextDep, ContextRoute, SessionDep
from keyturn.http.errors import error_headers
from keyturn.http.input import read_form, read_json
from keyturn.http.json import JSONResponse
from keyturn.http.security import BINDING_COOKIE, CSRF_HEADER, SESSION_COOKIE, check_same_origin
from keyturn.http.templates import render
from keyturn.web.enrollment import DEVICE_CHOICE_COOKIE
from keyturn.web.flow_pages import load_page_flow, open_flow_page, signed_in_response

router = APIRouter(route_class=ContextRoute)


@router.get("/login")
async def login_page(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    return await open_flow_page(request, ctx, session, "login", "login.html")


@router.post("/login/flows/{flow_id}/passkey/options")
async def discoverable_options(request: Request, ctx: ContextDep, flow_id: str) -> Response:
    flow = load_page_flow(request, ctx, flow_id, "login")
    await limit(ctx, "login.passkey_options")
    return JSONResponse(login_flow.discoverable_options(ctx, flow))


@router.post("/login/flows/{flow_id}/identify")
async def identify(request: Request, ctx: ContextDep, flow_id: str) -> Response:
    flow = load_page_flow(request, ctx, flow_id, "login")
    data = await read_json(request)
    await limit(ctx, "login.identify", identifier=data.get("email"))
    return JSONResponse(await login_flow.identify(ctx, flow, email=data.get("email")))


@router.post("/login/flows/{flow_id}")
async def submit_login(request: Request, ctx: ContextDep, flow_id: str) -> Response:
    flow = load_page_flow(request, ctx, flow_id, "login")
    data = await read_json(request)
    signing_in = login_flow.submit_login(
        ctx,
        flow,
        data,
        binding_token=request.cookies.get(BINDING_COOKIE),
        previous_session=request.cookies.get(SESSION_COOKIE),
        device_choice=request.cookies.get(DEVICE_CHOICE_COOKIE),
    )
    return await signed_in_response(ctx, signing_in)


# --- the second-factor step (issue 12): plain forms, no script needed -------------------


async def _second_factor_page(
    request: Request,
    ctx: Context,
    flow: Flow,
    token: str,
    *,
    error: KeyturnError | None = None,
    setup: str = "",
) -> Response:
    user = await (await ctx.read()).get_user(flow.user_id or "")
    if user is None:
        return RedirectResponse("/login", status_code=303)
    enrolling = flow.methods == ("totp",) and not (await factor_flow.factors_of(ctx, user)).enrolled
    totp_setup = None
    if enrolling:
        totp_setup = factor_flow.reopen_totp(ctx, user, setup) if setup else factor_flow.start_totp(ctx, user)
    context: dict[str, Any] = {
        "tenant": ctx.tenant,
        "page": {
            "mode": "second_factor",
            "flow_id": token,
            "csrf": csrf_token(ctx, flow),
            "security_key": "security_key" in flow.methods and not enrolling,
        },
        "flow_id": token,
        "csrf": csrf_token(ctx, flow),
        "enrolling": enrolling,
        "setup": totp_setup,
        "offers_code": any(m in flow.methods for m in ("totp", "recovery_code")),
        "offers_recovery": "recovery_code" in flow.methods,
        "offers_security_key": "security_key" in flow.methods and not enrolling,
        "error": error,
    }
    response = render(request, "second_factor.html", context, status=error.status if error else 200)
    if error is not None:
        response.headers.update(error_headers(error))
    return response


def _second_factor_flow(request: Request, ctx: Context, token: str, csrf: object) -> Flow:
    check_same_origin(request, ctx.tenant, ctx.settings)
    return load_flow(
        ctx, token, kind="second_factor", binding_token=request.cookies.get(BINDING_COOKIE), csrf=csrf
    )


@router.get("/login/second-factor/{token}")
async def second_factor_page(request: Request, ctx: ContextDep, token: str) -> Response:
    try:
        flow = open_flow(ctx, token, kind="second_factor", binding_token=request.cookies.get(BINDING_COOKIE))
    except KeyturnError:
        return RedirectResponse("/login", status_code=303)
    return await _second_factor_page(request, ctx, flow, token)


async def _second_factor_answer(
    request: Request, ctx: Context, token: str, answer: Callable[[Flow, dict[str, str]], Awaitable[SignedIn]]
) -> Response:
    form = await read_form(request)
    flow = _second_factor_flow(request, ctx, token, form.get("csrf"))
    try:
        return await signed_in_response(ctx, answer(flow, form), redirect=True)
    except KeyturnError as error:
        if isinstance(error, Forbidden | Unavailable | FlowError):
            raise
        return await _second_factor_page(request, ctx, flow, token, error=error, setup=form.get("setup", ""))


@router.post("/login/second-factor/{token}")
async def submit_second_factor(request: Request, ctx: ContextDep, token: str) -> Response:
    """The **Code** field: an authenticator app's code or a recovery code."""

    async def answer(flow: Flow, form: dict[str, str]) -> SignedIn:
        return await second_factor.submit_code(
            ctx,
            flow,
            code=form.get("code"),
            binding_token=request.cookies.get(BINDING_COOKIE),
            previous_session=request.cookies.get(SESSION_COOKIE),
        )

    return await _second_factor_answer(request, ctx, token, answer)


@router.post("/login/second-factor/{token}/enroll")
async def enroll_second_factor(request: Request, ctx: ContextDep, token: str) -> Response:
    """mfa.policy=required, no second factor yet: the new authenticator app's first code."""

    async def answer(flow: Flow, form: dict[str, str]) -> SignedIn:
        return await second_factor.enroll_and_finish(
            ctx,
            flow,
            token=form.get("setup"),
            code=form.get("code"),
            binding_token=request.cookies.get(BINDING_COOKIE),
            previous_session=request.cookies.get(SESSION_COOKIE),
        )

    return await _second_factor_answer(request, ctx, token, answer)


@router.post("/login/second-factor/{token}/security-key/options")
async def security_key_options(request: Request, ctx: ContextDep, token: str) -> Response:
    flow = _second_factor_flow(request, ctx, token, request.headers.get(CSRF_HEADER))
    return JSONResponse(await second_factor.security_key_options(ctx, flow))


@router.post("/login/second-factor/{token}/security-key")
async def submit_security_key(request: Request, ctx: ContextDep, token: str) -> Response:
    flow = _second_factor_flow(request, ctx, token, request.headers.get(CSRF_HEADER))
    data = await read_json(request)
    signing_in = second_factor.submit_security_key(
        ctx,
        flow,
        credential=data.get("credential"),
        binding_token=request.cookies.get(BINDING_COOKIE),
        previous_session=request.cookies.get(SESSION_COOKIE),
    )
    return await signed_in_response(ctx, signing_in)
