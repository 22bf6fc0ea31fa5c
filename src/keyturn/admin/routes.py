"""/admin: the operators' dashboard, server-rendered (issue 13).

Every path passes the gate first (`admin.enabled`, `admin.allowed_ips`): outside it the
answer is a bare 403 (or 404 when the dashboard is off) and nothing else. Pages other than
sign-in and enrollment need an operator's session (`keyturn_admin`, a cookie of its own
scoped to /admin); without one, 403. Owners change things; a viewer's POST is 403 before
anything is read. Every form carries the session's CSRF token. Changes go through
`operations.admins` and `operations.tenant_config`: the routes hold no rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from keyturn.admin import applications, logs, relying_party, users
from keyturn.admin.common import (
    ADMIN_COOKIE,
    NOTICES,
    AdminRoute,
    ChangeDep,
    OperatorDep,
    layout,
    set_admin_cookie,
)
from keyturn.admin.templates import render
from keyturn.context import Context
from keyturn.domain.operators import Operator, OperatorSession
from keyturn.errors import KeyturnError, NotFound
from keyturn.flows.base import check_csrf, csrf_token, flow_token, load_flow, start_flow
from keyturn.http.context import ContextDep
from keyturn.http.input import read_form, read_json
from keyturn.http.json import JSONResponse
from keyturn.http.security import BINDING_COOKIE, CSRF_HEADER, binding_token, check_same_origin, set_cookie
from keyturn.operations import admins

STATIC_DIR = Path(__file__).parent / "static"
STATIC_FILES = {"admin.css": "text/css", "admin.js": "text/javascript", "admin-tail.js": "text/javascript"}
router = APIRouter(prefix="/admin", route_class=AdminRoute)


# --- static files (behind the gate too) ---------------------------------------------------


@router.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in STATIC_FILES:
        raise NotFound()
    return FileResponse(STATIC_DIR / name, media_type=STATIC_FILES[name])


# --- sign-in and enrollment (the passkey ceremonies: the only JavaScript) -----------------


def _ceremony_page(
    request: Request, ctx: Context, template: str, extra: dict[str, Any], *, status: int = 200
) -> Response:
    binding, new = binding_token(request)
    flow = start_flow(ctx, "admin", binding_token=binding, methods=("passkey",))
    page = {"flow": flow_token(ctx, flow), "csrf": csrf_token(ctx, flow), **extra.pop("page", {})}
    response = render(request, template, {"tenant": ctx.tenant, "page": page, **extra}, status=status)
    if new:
        set_cookie(response, ctx.settings, BINDING_COOKIE, binding, max_age=None)
    return response


async def _ceremony_body(request: Request, ctx: Context) -> tuple[Any, dict[str, Any]]:
    check_same_origin(request, ctx.tenant, ctx.settings)
    body = await read_json(request)
    flow = load_flow(
        ctx,
        str(body.get("flow", "")),
        kind="admin",
        binding_token=request.cookies.get(BINDING_COOKIE),
        csrf=request.headers.get(CSRF_HEADER),
    )
    return flow, body


@router.get("/login")
async def login_page(request: Request, ctx: ContextDep) -> Response:
    notice = NOTICES.get(request.query_params.get("notice", ""))
    return _ceremony_page(request, ctx, "admin_login.html", {"notice": notice})


@router.post("/login/options")
async def login_options(request: Request, ctx: ContextDep) -> Response:
    flow, _ = await _ceremony_body(request, ctx)
    return JSONResponse(admins.login_options(ctx, flow))


@router.post("/login")
async def login(request: Request, ctx: ContextDep) -> Response:
    flow, body = await _ceremony_body(request, ctx)
    signed_in = await admins.sign_in(ctx, flow, body.get("credential"))
    response = JSONResponse({"next": "/admin"})
    set_admin_cookie(response, ctx, signed_in.token)
    return response


@router.get("/enroll")
async def enroll_page(request: Request, ctx: ContextDep) -> Response:
    """The link's token rides in the query string, which the access log never writes."""
    token = request.query_params.get("token", "")
    try:
        operator = await admins.live_enrollment(ctx, token)
    except KeyturnError as error:
        return render(
            request, "admin_enroll.html", {"tenant": ctx.tenant, "error": error, "page": {}}, status=410
        )
    return _ceremony_page(request, ctx, "admin_enroll.html", {"invitee": operator, "page": {"token": token}})


@router.post("/enroll/options")
async def enroll_options(request: Request, ctx: ContextDep) -> Response:
    flow, body = await _ceremony_body(request, ctx)
    operator = await admins.live_enrollment(ctx, str(body.get("token", "")))
    return JSONResponse(await admins.enrollment_options(ctx, flow, operator))


@router.post("/enroll")
async def enroll(request: Request, ctx: ContextDep) -> Response:
    flow, body = await _ceremony_body(request, ctx)
    await admins.finish_enrollment(ctx, flow, str(body.get("token", "")), body.get("credential"))
    return JSONResponse({"next": "/admin/login?notice=enrolled"})


@router.post("/logout")
async def logout(request: Request, ctx: ContextDep, signed_in: OperatorDep) -> Response:
    session, _ = signed_in
    check_same_origin(request, ctx.tenant, ctx.settings)
    check_csrf(session.csrf_token, (await read_form(request)).get("csrf"))
    await admins.sign_out(ctx, request.cookies.get(ADMIN_COOKIE))
    response = RedirectResponse("/admin/login?notice=signed_out", status_code=303)
    response.delete_cookie(
        ADMIN_COOKIE, path="/admin", secure=ctx.settings.secure_cookies, httponly=True, samesite="strict"
    )
    return response


# --- pages ----------------------------------------------------------------------------------


@router.get("")
async def overview(request: Request, ctx: ContextDep, signed_in: OperatorDep) -> Response:
    figures = await admins.overview(ctx)
    return render(request, "admin_overview.html", {**layout(ctx, *signed_in, request), "figures": figures})


async def _authentication_page(
    request: Request,
    ctx: Context,
    signed_in: tuple[OperatorSession, Operator],
    *,
    error: KeyturnError | None = None,
    field_errors: dict[str, str] | None = None,
    submitted: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = {
        **layout(ctx, *signed_in, request),
        "checklist": admins.passkey_checklist(ctx),
        "error": error,
        "field_errors": field_errors or {},
        "options": ctx.tenant.passkey_options,
        "submitted": submitted,
    }
    return render(request, "admin_authentication.html", context, status=status)


@router.get("/authentication")
async def authentication(request: Request, ctx: ContextDep, signed_in: OperatorDep) -> Response:
    return await _authentication_page(request, ctx, signed_in)


@router.post("/authentication/methods")
async def switch_method(
    request: Request, ctx: ContextDep, signed_in: OperatorDep, actor: ChangeDep
) -> Response:
    form: dict[str, str] = request.state.form
    method, enabled = form.get("method", ""), form.get("enabled") == "true"
    try:
        await admins.switch_method(ctx, method, enabled, actor=actor)
    except KeyturnError as error:
        return await _authentication_page(request, ctx, signed_in, error=error, status=error.status)
    notice = f"{method}_{'on' if enabled else 'off'}"
    return RedirectResponse(f"/admin/authentication?notice={notice}", status_code=303)


def _passkey_option_values(form: dict[str, str]) -> dict[str, Any]:
    """The form's fields as the settings' values: checkboxes are present or not, lists one per line."""

    def lines(name: str) -> list[str]:
        return [line.strip() for line in form.get(name, "").splitlines() if line.strip()]

    return {
        "challenge_ui": form.get("challenge_ui", ""),
        "progressive_enrollment_enabled": "progressive_enrollment_enabled" in form,
        "local_enrollment_enabled": "local_enrollment_enabled" in form,
        "max_passkeys_per_user": form.get("max_passkeys_per_user", "").strip(),
        "user_verification": form.get("user_verification", ""),
        "allowed_credential_types": form.get("allowed_credential_types", ""),
        "aaguid_allowlist": lines("aaguid_allowlist"),
        "aaguid_denylist": lines("aaguid_denylist"),
    }


@router.post("/authentication/passkey-options")
async def passkey_options(
    request: Request, ctx: ContextDep, signed_in: OperatorDep, actor: ChangeDep
) -> Response:
    form: dict[str, str] = request.state.form
    try:
        await admins.update_passkey_options(ctx, _passkey_option_values(form), actor=actor)
    except admins.FieldErrors as error:
        return await _authentication_page(
            request, ctx, signed_in, error=error, field_errors=error.fields, submitted=form, status=400
        )
    return RedirectResponse("/admin/authentication?notice=options_saved#passkey-options", status_code=303)


for page in (users, logs, applications, relying_party):
    router.include_router(page.router)


@router.api_route("/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
async def unknown(signed_in: OperatorDep) -> Response:
    """Any other /admin path passes the same gate and operator check before it is a 404."""
    raise NotFound()
