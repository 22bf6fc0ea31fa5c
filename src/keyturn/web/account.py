"""/account: the signed-in user's passkeys, password and email; and signing out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from webauthn.helpers import bytes_to_base64url

from keyturn.domain.events import EventType
from keyturn.domain.identity import User
from keyturn.domain.session import Session
from keyturn.errors import Forbidden, KeyturnError, Unauthenticated
from keyturn.flows import settings as settings_flow
from keyturn.flows.base import load_flow, start_flow
from keyturn.ids import constant_time_equal
from keyturn.runtime import Runtime
from keyturn.web.deps import RuntimeDep, SessionDep, read_json, render, request_context, user_agent
from keyturn.web.security import (
    BINDING_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    binding_token,
    check_same_origin,
    clear_cookie,
    set_cookie,
)

router = APIRouter()

NOTICES = {
    "passkey_added": "Passkey added.",
    "passkey_renamed": "Passkey renamed.",
    "passkey_removed": "Passkey removed.",
    "password_set": "Password saved.",
    "password_removed": "Password removed. You sign in with your passkeys now.",
    "email_changed": "Email changed.",
}


async def _account_page(
    request: Request, rt: Runtime, session: Session, user: User, *, error: KeyturnError | None = None
) -> Response:
    tenant = await rt.tenant()
    passkeys = await rt.store.list_passkeys(user.id)
    notice = NOTICES.get(request.query_params.get("notice", ""))
    signal = {
        "rp_id": tenant.rp.id,
        "user_id": bytes_to_base64url(user.user_handle),
        "name": user.email,
        "credential_ids": [bytes_to_base64url(p.credential_id) for p in passkeys],
        "signal_all": request.query_params.get("notice") == "passkey_removed",
        "signal_user": request.query_params.get("notice") == "email_changed",
        "csrf": session.csrf_token,
    }
    context: dict[str, Any] = {
        "user": user,
        "passkeys": passkeys,
        "tenant": tenant,
        "csrf": session.csrf_token,
        "notice": notice,
        "error": error,
        "page": signal,
        "at_limit": len(passkeys) >= tenant.passkey_options.max_passkeys_per_user,
    }
    return render(request, "account.html", context, status=error.status if error else 200)


def _require(session: tuple[Session, User] | None) -> tuple[Session, User]:
    if session is None:
        raise Unauthenticated()
    return session


@router.get("/account")
async def account_page(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    if session is None:
        return RedirectResponse("/login?return_to=/account", status_code=303)
    return await _account_page(request, rt, *session)


async def _form(request: Request, rt: Runtime, session: Session) -> dict[str, str]:
    """The posted form, after the same-origin and session CSRF checks."""
    check_same_origin(request, await rt.tenant(), rt.settings)
    form = await request.form()
    token = form.get("csrf")
    if not isinstance(token, str) or not constant_time_equal(token, session.csrf_token):
        raise Forbidden(
            "The security token of this page is missing or wrong. Reload the page.", code="csrf_failed"
        )
    return {key: value for key, value in form.items() if isinstance(value, str)}


async def _form_action(
    request: Request, rt: Runtime, session: tuple[Session, User] | None, action: Any
) -> Response:
    """Run a form action: redirect with a notice on success, re-render with the error on failure."""
    if session is None:
        return RedirectResponse("/login?return_to=/account", status_code=303)
    current, user = session
    form = await _form(request, rt, current)
    try:
        notice = await action(user, form)
    except KeyturnError as error:
        if isinstance(error, Forbidden):
            raise
        return await _account_page(request, rt, current, user, error=error)
    return RedirectResponse(f"/account?notice={notice}", status_code=303)


@router.post("/account/passkeys/{passkey_id}/rename")
async def rename_passkey(request: Request, rt: RuntimeDep, session: SessionDep, passkey_id: str) -> Response:
    async def action(user: User, form: dict[str, str]) -> str:
        await settings_flow.rename_passkey(rt, user=user, passkey_id=passkey_id, name=form.get("name"))
        return "passkey_renamed"

    return await _form_action(request, rt, session, action)


@router.post("/account/passkeys/{passkey_id}/delete")
async def remove_passkey(request: Request, rt: RuntimeDep, session: SessionDep, passkey_id: str) -> Response:
    async def action(user: User, form: dict[str, str]) -> str:
        await settings_flow.remove_passkey(rt, user=user, passkey_id=passkey_id, ctx=request_context(request))
        return "passkey_removed"

    return await _form_action(request, rt, session, action)


@router.post("/account/password")
async def set_password(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    async def action(user: User, form: dict[str, str]) -> str:
        await settings_flow.set_password(
            rt,
            await rt.tenant(),
            user=user,
            current=form.get("current_password"),
            new=form.get("new_password", ""),
            ctx=request_context(request),
        )
        return "password_set"

    return await _form_action(request, rt, session, action)


@router.post("/account/password/delete")
async def remove_password(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    async def action(user: User, form: dict[str, str]) -> str:
        await settings_flow.remove_password(rt, user=user)
        return "password_removed"

    return await _form_action(request, rt, session, action)


@router.post("/account/email")
async def change_email(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    async def action(user: User, form: dict[str, str]) -> str:
        await settings_flow.change_email(rt, user=user, email=form.get("email"), ctx=request_context(request))
        return "email_changed"

    return await _form_action(request, rt, session, action)


@router.post("/account/passkeys/options")
async def add_passkey_options(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    current, user = _require(session)
    tenant = await rt.tenant()
    check_same_origin(request, tenant, rt.settings)
    if not constant_time_equal(request.headers.get(CSRF_HEADER, ""), current.csrf_token):
        raise Forbidden(
            "The security token of this page is missing or wrong. Reload the page.", code="csrf_failed"
        )
    token, new = binding_token(request)
    flow = await start_flow(rt, "settings", binding_token=token, user_id=user.id)
    options = await settings_flow.add_passkey_options(rt, flow, tenant, user=user)
    response = JSONResponse({"flow_id": flow.id, "csrf": flow.csrf_token, "options": options})
    if new:
        set_cookie(response, rt.settings, BINDING_COOKIE, token, max_age=None)
    return response


@router.post("/account/passkeys")
async def add_passkey(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    _, user = _require(session)
    tenant = await rt.tenant()
    check_same_origin(request, tenant, rt.settings)
    data = await read_json(request)
    flow = await load_flow(
        rt,
        str(data.get("flow_id", "")),
        kind="settings",
        binding_token=request.cookies.get(BINDING_COOKIE),
        csrf_token=request.headers.get(CSRF_HEADER),
    )
    if flow.user_id != user.id:
        raise Forbidden("This page belongs to another account.", code="flow_user_mismatch")
    passkey = await settings_flow.add_passkey(
        rt,
        flow,
        tenant,
        user=user,
        credential=data.get("credential"),
        user_agent=user_agent(request),
        ctx=request_context(request),
    )
    return JSONResponse(
        {"id": passkey.id, "name": passkey.name, "redirect_to": "/account?notice=passkey_added"}
    )


@router.post("/logout")
async def logout(request: Request, rt: RuntimeDep, session: SessionDep) -> Response:
    response = RedirectResponse("/login", status_code=303)
    if session is not None:
        current, _ = session
        await _form(request, rt, current)
        await rt.store.delete_session(current.id)
        rt.events.record(
            EventType.SUCCESS_LOGOUT,
            request_context(request),
            user_id=session[1].id,
            user_name=session[1].email,
        )
    clear_cookie(response, rt.settings, SESSION_COOKIE)
    return response
