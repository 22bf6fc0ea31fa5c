"""/account: the signed-in user's passkeys, password and email; and signing out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from webauthn.helpers import bytes_to_base64url

from keyturn.context import Context
from keyturn.domain.flow import Flow
from keyturn.domain.identity import Passkey, User
from keyturn.domain.methods import MethodId
from keyturn.domain.session import Session, device_parts
from keyturn.domain.traits import IdentitySchema, TraitsInvalid
from keyturn.errors import Forbidden, KeyturnError, Unauthenticated, Unavailable
from keyturn.flows import account as account_flow
from keyturn.flows import factors as factor_flow
from keyturn.flows import reauth, verification
from keyturn.flows.base import binding_hash, check_csrf, csrf_token, flow_token, load_flow, start_flow
from keyturn.flows.reauth import ReauthenticationRequired, require_recent_sign_in
from keyturn.flows.sessions import end_session, list_sessions, revoke_other_sessions, revoke_session
from keyturn.http.context import ContextDep, ContextRoute, SessionDep
from keyturn.http.errors import error_headers, localized_fields
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
from keyturn.http.templates import page_translator, render
from keyturn.i18n import N_, Translator
from keyturn.methods import security_key
from keyturn.methods.registry import offered

router = APIRouter(route_class=ContextRoute)
SIGN_IN_FIRST = "/login?return_to=/account"

NOTICES = {
    "passkey_added": N_("Passkey added."),
    "passkey_renamed": N_("Passkey renamed."),
    "passkey_removed": N_("Passkey removed."),
    "password_set": N_("Password saved."),
    "password_removed": N_("Password removed. You sign in with your passkeys now."),
    "email_changed": N_("Email changed."),
    "profile_saved": N_("Profile saved."),
    "display_name_changed": N_("Profile saved."),
    "session_revoked": N_("Session signed out."),
    "other_sessions_revoked": N_("Signed out of all other sessions."),
    "email_code_sent": N_("We sent a code to your new address. Type it below to change your email."),
    "email_verified": N_("Email verified."),
    "verification_sent": N_("We sent you a new code."),
    "totp_added": N_("Authenticator app added."),
    "totp_removed": N_("Authenticator app removed."),
    "recovery_codes_removed": N_("Recovery codes removed."),
    "security_key_added": N_("Security key added."),
    "security_key_removed": N_("Security key removed."),
}
BROWSER_ON_SYSTEM = N_("%(browser)s on %(system)s")
UNKNOWN_DEVICE = N_("Unknown device")


def security_key_shown(key: Passkey, translator: Translator) -> Passkey:
    """A security key as /account lists it: the name it was given by default, translated."""
    if key.name == security_key.DEFAULT_NAME:
        return replace(key, name=translator.gettext(security_key.DEFAULT_NAME))
    return key


def device_label(user_agent: str, translator: Translator) -> str:
    """ "Chrome on macOS" in the page's language (the browser and system names stay as they are)."""
    browser, system = device_parts(user_agent)
    if browser and system:
        try:
            return translator.gettext(BROWSER_ON_SYSTEM) % {"browser": browser, "system": system}
        except (KeyError, ValueError, TypeError):  # an operator's override with other placeholders
            return BROWSER_ON_SYSTEM % {"browser": browser, "system": system}
    return browser or user_agent[:40] or translator.gettext(UNKNOWN_DEVICE)


FormAction = Callable[[User, dict[str, str]], Awaitable[str]]


@dataclass(frozen=True)
class SessionRow:
    """One line of the Sessions list, formatted here once: up to 50 rows render per page view,
    and Jinja calling helpers per row cost more than the rest of the page."""

    id: str
    device: str
    current: bool
    created_iso: str
    created: str
    last_active_iso: str
    last_active: str

    @classmethod
    def of(cls, session: Session, *, current: str, translator: Translator) -> SessionRow:
        return cls(
            id=session.id,
            device=device_label(session.user_agent, translator),
            current=session.id == current,
            created_iso=session.created_at.isoformat(),
            created=translator.datetime(session.created_at),
            last_active_iso=session.last_active.isoformat(),
            last_active=translator.datetime(session.last_active),
        )


async def _account_page(
    request: Request, ctx: Context, session: Session, user: User, *, error: KeyturnError | None = None
) -> Response:
    tenant = ctx.tenant
    passkeys = await (await ctx.read()).list_passkeys(user.id)
    notice = request.query_params.get("notice", "")
    signal = {
        "rp_id": tenant.rp.id,
        "user_id": bytes_to_base64url(user.user_handle),
        "name": tenant.identity.display_name(user.email, user.traits),
        "credential_ids": [bytes_to_base64url(p.credential_id) for p in passkeys],
        "signal_all": notice == "passkey_removed",
        "signal_user": notice in ("email_changed", "display_name_changed"),
        "csrf": session.csrf_token,
    }
    sessions, more_sessions = await list_sessions(ctx, user, session)
    factors = await factor_flow.factors_of(ctx, user)
    keys = await factor_flow.security_keys_of(ctx, user) if factors.security_keys else []
    translator = page_translator(request)
    context: dict[str, Any] = {
        "user": user,
        "passkeys": passkeys,
        "tenant": tenant,
        "csrf": session.csrf_token,
        "notice": translator.gettext(NOTICES[notice]) if notice in NOTICES else None,
        "error": error,
        "page": signal,
        "at_limit": len(passkeys) >= tenant.passkey_options.max_passkeys_per_user,
        "sessions": [SessionRow.of(s, current=session.id, translator=translator) for s in sessions],
        "more_sessions": more_sessions,
        "verify": not user.email_verified and tenant.verification.mode != "off",
        "pending_email": await verification.pending_email_change(ctx, user),
        "factors": factors,
        "security_keys": [security_key_shown(key, translator) for key in keys],
        **_profile(request, tenant.identity, user, error),
    }
    response = render(request, "account.html", context, status=error.status if error else 200)
    if error is not None:
        response.headers.update(error_headers(error))  # a throttle's Retry-After
    return response


def _profile(
    request: Request, schema: IdentitySchema, user: User, error: KeyturnError | None
) -> dict[str, Any]:
    """What _traits.html needs on /account: the traits shown, their values (what was submitted
    when it failed), the messages by field, and which are shown but not editable."""
    traits = schema.account_traits()
    invalid = error if isinstance(error, TraitsInvalid) else None
    return {
        "traits": traits,
        "trait_values": invalid.values if invalid else user.traits,
        "trait_errors": localized_fields(request, invalid) or {} if invalid else {},
        "trait_readonly": [t.name for t in traits if t.account != "editable"],
        "profile_editable": any(t.account == "editable" for t in traits),
    }


async def _ceremony_options(
    request: Request,
    ctx: Context,
    current: Session,
    *,
    guard: str,
    methods: tuple[MethodId, ...],
    options_of: Callable[[Flow], Awaitable[dict[str, Any]]],
) -> Response:
    """The options of a credential ceremony begun on /account (a passkey, a security key):
    same origin, CSRF and a recent sign-in checked, an account flow opened for this browser."""
    check_same_origin(request, ctx.tenant, ctx.settings)
    check_csrf(current.csrf_token, request.headers.get(CSRF_HEADER))
    require_recent_sign_in(ctx, current, guard)
    token, new = binding_token(request)
    flow = start_flow(ctx, "account", binding_token=token, methods=methods, user_id=current.user_id)
    options = await options_of(flow)
    response = JSONResponse(
        {"flow_id": flow_token(ctx, flow), "csrf": csrf_token(ctx, flow), "options": options}
    )
    if new:
        set_cookie(response, ctx.settings, BINDING_COOKIE, token, max_age=None)
    return response


def _require(session: tuple[Session, User] | None) -> tuple[Session, User]:
    if session is None:
        raise Unauthenticated()
    return session


@router.get("/account")
async def account_page(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    if session is None:
        return RedirectResponse(SIGN_IN_FIRST, status_code=303)
    return await _account_page(request, ctx, *session)


async def _checked_form(request: Request, ctx: Context, session: Session) -> dict[str, str]:
    """The posted form, after the same-origin and session CSRF checks."""
    check_same_origin(request, ctx.tenant, ctx.settings)
    form = await read_form(request)
    check_csrf(session.csrf_token, form.get("csrf"))
    return form


async def _form_action(
    request: Request,
    ctx: Context,
    session: tuple[Session, User] | None,
    action: FormAction,
    *,
    guard: str | None = None,
) -> Response:
    """Run a form action: redirect with a notice on success, re-render with the error on failure.
    A sensitive one (`guard`) asks to confirm it's you first when the sign-in is too old."""
    if session is None:
        return RedirectResponse(SIGN_IN_FIRST, status_code=303)
    current, user = session
    form = await _checked_form(request, ctx, current)
    if guard is not None:
        try:
            require_recent_sign_in(ctx, current, guard, path=request.url.path, form=form)
        except ReauthenticationRequired as required:
            return await _confirm_page(request, ctx, current, user, required.pending, status=required.status)
    try:
        notice = await action(user, form)
    except KeyturnError as error:
        if isinstance(error, Forbidden | Unavailable):
            raise
        return await _account_page(request, ctx, current, user, error=error)
    return RedirectResponse(f"/account?notice={notice}", status_code=303)


@router.post("/account/profile")
async def update_profile(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    async def action(user: User, form: dict[str, str]) -> str:
        renamed = await account_flow.update_profile(ctx, user=user, form=form)
        return "display_name_changed" if renamed else "profile_saved"

    return await _form_action(request, ctx, session, action)


@router.post("/account/passkeys/{passkey_id}/rename")
async def rename_passkey(request: Request, ctx: ContextDep, session: SessionDep, passkey_id: str) -> Response:
    async def action(user: User, form: dict[str, str]) -> str:
        await account_flow.rename_passkey(ctx, user=user, passkey_id=passkey_id, name=form.get("name"))
        return "passkey_renamed"

    return await _form_action(request, ctx, session, action)


@router.post("/account/passkeys/{passkey_id}/delete")
async def remove_passkey(request: Request, ctx: ContextDep, session: SessionDep, passkey_id: str) -> Response:
    async def action(user: User, form: dict[str, str]) -> str:
        await account_flow.remove_passkey(ctx, user=user, passkey_id=passkey_id)
        return "passkey_removed"

    return await _form_action(request, ctx, session, action, guard="remove_passkey")


@router.post("/account/password")
async def set_password(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    async def action(user: User, form: dict[str, str]) -> str:
        await account_flow.set_password(
            ctx, user=user, current=form.get("current_password"), new=form.get("new_password", "")
        )
        return "password_set"

    return await _form_action(request, ctx, session, action, guard="set_password")


@router.post("/account/password/delete")
async def remove_password(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    async def action(user: User, form: dict[str, str]) -> str:
        await account_flow.remove_password(ctx, user=user)
        return "password_removed"

    return await _form_action(request, ctx, session, action, guard="remove_password")


@router.post("/account/email")
async def change_email(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    async def action(user: User, form: dict[str, str]) -> str:
        token, _ = binding_token(request)
        await account_flow.change_email(ctx, user=user, email=form.get("email"), binding=binding_hash(token))
        return "email_code_sent"

    return await _form_action(request, ctx, session, action, guard="change_email")


@router.post("/account/email/confirm")
async def confirm_email(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    async def action(user: User, form: dict[str, str]) -> str:
        await verification.confirm_email_change(ctx, user, code=form.get("code"))
        return "email_changed"

    return await _form_action(request, ctx, session, action)


@router.post("/account/verify")
async def verify_email(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    async def action(user: User, form: dict[str, str]) -> str:
        await verification.verify_with_code(ctx, user, code=form.get("code"))
        return "email_verified"

    return await _form_action(request, ctx, session, action)


@router.post("/account/verify/resend")
async def resend_verification(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    async def action(user: User, form: dict[str, str]) -> str:
        token, _ = binding_token(request)
        await verification.resend_verification(ctx, user, binding=binding_hash(token))
        return "verification_sent"

    return await _form_action(request, ctx, session, action)


@router.post("/account/passkeys/options")
async def add_passkey_options(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    current, user = _require(session)
    return await _ceremony_options(
        request,
        ctx,
        current,
        guard="add_passkey",
        methods=offered(ctx.tenant),
        options_of=lambda flow: account_flow.add_passkey_options(ctx, flow, user=user),
    )


@router.post("/account/passkeys")
async def add_passkey(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    _, user = _require(session)
    check_same_origin(request, ctx.tenant, ctx.settings)
    data = await read_json(request)
    flow = load_flow(
        ctx,
        str(data.get("flow_id", "")),
        kind="account",
        binding_token=request.cookies.get(BINDING_COOKIE),
        csrf=request.headers.get(CSRF_HEADER),
        user_id=user.id,
    )
    passkey = await account_flow.add_passkey(ctx, flow, user=user, credential=data.get("credential"))
    return JSONResponse(
        {"id": passkey.id, "name": passkey.name, "redirect_to": "/account?notice=passkey_added"}
    )


@router.post("/account/sessions/{session_id}/revoke")
async def revoke_one_session(
    request: Request, ctx: ContextDep, session: SessionDep, session_id: str
) -> Response:
    async def action(user: User, form: dict[str, str]) -> str:
        await revoke_session(ctx, user, session_id)
        return "session_revoked"

    return await _form_action(request, ctx, session, action)


@router.post("/account/sessions/revoke-others")
async def revoke_others(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    async def action(user: User, form: dict[str, str]) -> str:
        assert session is not None
        await revoke_other_sessions(ctx, user, keep=session[0].id)
        return "other_sessions_revoked"

    return await _form_action(request, ctx, session, action)


# --- second factors (issue 12) -------------------------------------------------------------


async def _guarded_form(
    request: Request, ctx: Context, session: tuple[Session, User] | None, guard: str
) -> tuple[Session, User, dict[str, str]] | Response:
    """The posted form of a sensitive change that renders a page (not a redirect): the same
    checks as `_form_action`, and Confirm it's you first when the sign-in is too old."""
    if session is None:
        return RedirectResponse(SIGN_IN_FIRST, status_code=303)
    current, user = session
    form = await _checked_form(request, ctx, current)
    try:
        require_recent_sign_in(ctx, current, guard, path=request.url.path, form=form)
    except ReauthenticationRequired as required:
        return await _confirm_page(request, ctx, current, user, required.pending, status=required.status)
    return current, user, form


def _totp_setup_page(
    request: Request,
    ctx: Context,
    session: Session,
    user: User,
    setup: factor_flow.TotpSetup,
    *,
    error: KeyturnError | None = None,
) -> Response:
    context = {
        "tenant": ctx.tenant,
        "user": user,
        "csrf": session.csrf_token,
        "setup": setup,
        "error": error,
        "page": {"mode": "totp_setup"},
    }
    return render(request, "totp_setup.html", context, status=error.status if error else 200)


@router.post("/account/totp/start")
async def start_totp(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    """**Add an authenticator app**: a new secret, its QR code; nothing stored until the code."""
    checked = await _guarded_form(request, ctx, session, "add_second_factor")
    if isinstance(checked, Response):
        return checked
    current, user, _ = checked
    return _totp_setup_page(request, ctx, current, user, factor_flow.start_totp(ctx, user))


@router.post("/account/totp")
async def confirm_totp(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    checked = await _guarded_form(request, ctx, session, "add_second_factor")
    if isinstance(checked, Response):
        return checked
    current, user, form = checked
    try:
        await factor_flow.confirm_totp(
            ctx, user, token=form.get("setup"), code=form.get("code"), purpose="account"
        )
    except KeyturnError as error:
        if isinstance(error, Forbidden | Unavailable) or error.code == "flow_expired":
            raise
        if error.code == "totp_exists":
            return await _account_page(request, ctx, current, user, error=error)
        setup = factor_flow.reopen_totp(ctx, user, form.get("setup"))
        return _totp_setup_page(request, ctx, current, user, setup, error=error)
    return RedirectResponse("/account?notice=totp_added", status_code=303)


@router.post("/account/totp/delete")
async def remove_totp(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    async def action(user: User, form: dict[str, str]) -> str:
        await factor_flow.remove_totp(ctx, user)
        return "totp_removed"

    return await _form_action(request, ctx, session, action, guard="remove_second_factor")


@router.post("/account/recovery-codes")
async def generate_recovery_codes(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    """**Generate recovery codes**: ten new ones, shown this once; they replace any earlier ones."""
    checked = await _guarded_form(request, ctx, session, "add_second_factor")
    if isinstance(checked, Response):
        return checked
    _, user, _ = checked
    codes = await factor_flow.generate_recovery_codes(ctx, user)
    context = {"tenant": ctx.tenant, "user": user, "codes": codes, "page": {"mode": "recovery_codes"}}
    response = render(request, "recovery_codes.html", context)
    response.headers["cache-control"] = "no-store"
    return response


@router.post("/account/security-keys/options")
async def security_key_options(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    """**Add a security key**: creation options for a non-discoverable credential."""
    current, user = _require(session)
    return await _ceremony_options(
        request,
        ctx,
        current,
        guard="add_second_factor",
        methods=("security_key",),
        options_of=lambda flow: factor_flow.security_key_options(ctx, flow, user),
    )


@router.post("/account/security-keys")
async def add_security_key(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    current, user = _require(session)
    check_same_origin(request, ctx.tenant, ctx.settings)
    require_recent_sign_in(ctx, current, "add_second_factor")
    data = await read_json(request)
    flow = load_flow(
        ctx,
        str(data.get("flow_id", "")),
        kind="account",
        binding_token=request.cookies.get(BINDING_COOKIE),
        csrf=request.headers.get(CSRF_HEADER),
        user_id=user.id,
    )
    key = await factor_flow.add_security_key(ctx, flow, user, data.get("credential"))
    return JSONResponse({"id": key.id, "redirect_to": "/account?notice=security_key_added"})


@router.post("/account/security-keys/{key_id}/delete")
async def remove_security_key(
    request: Request, ctx: ContextDep, session: SessionDep, key_id: str
) -> Response:
    async def action(user: User, form: dict[str, str]) -> str:
        await factor_flow.remove_security_key(ctx, user, key_id)
        return "security_key_removed"

    return await _form_action(request, ctx, session, action, guard="remove_second_factor")


@router.post("/account/recovery-codes/delete")
async def remove_recovery_codes(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    async def action(user: User, form: dict[str, str]) -> str:
        await factor_flow.remove_recovery_codes(ctx, user)
        return "recovery_codes_removed"

    return await _form_action(request, ctx, session, action, guard="remove_second_factor")


# --- Confirm it's you ---------------------------------------------------------------------


async def _confirm_page(
    request: Request, ctx: Context, session: Session, user: User, pending: str, *, status: int = 200
) -> Response:
    """The re-authentication step: a passkey of the user's, or their password; it carries the
    sealed request it interrupted."""
    token, new = binding_token(request)
    flow = start_flow(ctx, "account", binding_token=token, methods=offered(ctx.tenant), user_id=user.id)
    passkeys = await (await ctx.read()).list_passkeys(user.id)
    tenant = ctx.tenant
    data = {
        "mode": "confirm",
        "flow_id": flow_token(ctx, flow),
        "flow_csrf": csrf_token(ctx, flow),
        "csrf": session.csrf_token,
        "pending": pending,
    }
    context: dict[str, Any] = {
        "user": user,
        "tenant": tenant,
        "page": data,
        "offer_passkey": bool(passkeys) and tenant.authentication_methods.passkey.enabled,
        "offer_password": user.has_password and tenant.authentication_methods.password.enabled,
        "error": None,
    }
    response = render(request, "confirm.html", context, status=status)
    if new:
        set_cookie(response, ctx.settings, BINDING_COOKIE, token, max_age=None)
    return response


@router.get("/account/confirm")
async def confirm_page(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    """Reached by the page's script when adding a passkey needs a fresh sign-in."""
    if session is None:
        return RedirectResponse(SIGN_IN_FIRST, status_code=303)
    current, user = session
    if reauth.is_recent(ctx, current):
        return RedirectResponse("/account?resume=add_passkey", status_code=303)
    pending = reauth.seal_pending(ctx, current, "add_passkey")
    return await _confirm_page(request, ctx, current, user, pending)


def _confirm_flow(request: Request, ctx: Context, data: dict[str, Any], user: User) -> Flow:
    return load_flow(
        ctx,
        str(data.get("flow_id", "")),
        kind="account",
        binding_token=request.cookies.get(BINDING_COOKIE),
        csrf=request.headers.get(CSRF_HEADER),
        user_id=user.id,
    )


@router.post("/account/confirm/options")
async def confirm_options(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    _, user = _require(session)
    check_same_origin(request, ctx.tenant, ctx.settings)
    flow = _confirm_flow(request, ctx, await read_json(request), user)
    return JSONResponse({"options": await reauth.confirm_options(ctx, flow, user)})


@router.post("/account/confirm")
async def confirm(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    """Verify the user again, then continue what was asked: the interrupted form is posted again
    by the page (with this session's token), or the passkey ceremony starts again."""
    current, user = _require(session)
    check_same_origin(request, ctx.tenant, ctx.settings)
    data = await read_json(request)
    flow = _confirm_flow(request, ctx, data, user)
    pending = reauth.open_pending(ctx, current, data.get("pending"))
    await reauth.confirm(ctx, flow, session=current, user=user, payload=data)
    if pending.path is None:
        return JSONResponse({"redirect_to": "/account?resume=add_passkey"})
    return JSONResponse(
        {"resubmit": {"action": pending.path, "fields": {**pending.form, "csrf": current.csrf_token}}}
    )


@router.post("/logout")
async def logout(request: Request, ctx: ContextDep, session: SessionDep) -> Response:
    response = RedirectResponse("/login", status_code=303)
    if session is not None:
        await _checked_form(request, ctx, session[0])
        await end_session(ctx, *session)
    clear_cookie(response, ctx.settings, SESSION_COOKIE)
    return response
