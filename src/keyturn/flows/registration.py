"""The registration flow: a passkey-only account, or an account with a password."""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from keyturn import metrics
from keyturn.context import Context
from keyturn.domain.email import normalize_email
from keyturn.domain.events import EventType
from keyturn.domain.flow import Flow
from keyturn.domain.identity import USER_HANDLE_BYTES
from keyturn.domain.session import AuthEvent
from keyturn.domain.traits import from_form, require_valid
from keyturn.errors import KeyturnError
from keyturn.flows import protection
from keyturn.flows.parked import load_parked
from keyturn.flows.sessions import SignedIn, complete_sign_in
from keyturn.flows.verification import require_proven, send_verification
from keyturn.hooks.executor import run_pre_user_registration
from keyturn.methods.base import Authenticated, Payload, Registered
from keyturn.methods.passkey import creation_options
from keyturn.methods.registry import PASSKEY, registration_method


def signup_traits(ctx: Context, email: str, payload: Payload) -> dict[str, Any]:
    """The sign-up's traits (only those the schema asks for at sign-up), checked against the
    identity schema: a TraitsInvalid names each field that fails, and nothing is stored."""
    schema = ctx.tenant.identity
    raw = payload.get("traits")
    traits = from_form(schema.signup_traits(), raw if isinstance(raw, dict) else {})
    require_valid(schema, email, traits)
    return traits


def passkey_options(ctx: Context, flow: Flow, *, email: object, payload: Payload) -> dict[str, Any]:
    """Creation options for a new account; the email and a fresh random user handle ride in
    the sealed challenge until the passkey is verified. The traits are checked first (the
    page shows what is wrong before any passkey is made) and name the passkey."""
    registration_method(PASSKEY.id, flow, ctx.tenant)
    address = require_proven(ctx, flow) or normalize_email(email)  # before_signup: the proven one
    traits = signup_traits(ctx, address, payload)
    options = creation_options(
        ctx,
        flow,
        user_handle=secrets.token_bytes(USER_HANDLE_BYTES),
        email=address,
        existing=[],
        traits=traits,
    )
    ctx.record(EventType.PASSKEY_CHALLENGE_STARTED, user_name=address, details={"mode": "registration"})
    return options


class SignUpDenied(KeyturnError):
    """A pre-user-registration hook refused the sign-up; nothing was stored."""

    status = 403
    code = "access_denied"


async def _pre_user_registration(
    ctx: Context, flow: Flow, registered: Registered, *, binding_token: str | None
) -> None:
    parked = await load_parked(ctx, flow.authorization_request_id, binding_token=binding_token)
    methods = (AuthEvent(method=registered.method, at=ctx.now()),)
    outcome = await run_pre_user_registration(
        ctx, registered.user, client=parked.client if parked else None, methods=methods
    )
    if not outcome.allowed:
        raise SignUpDenied(message="access_denied.hook_message", text=outcome.message or "")


async def submit_registration(
    ctx: Context, flow: Flow, payload: Payload, *, binding_token: str | None, previous_session: str | None
) -> SignedIn:
    """Create the account (nothing is stored unless every check passed, pre-user-registration
    hooks included), then sign in.

    The account exists before the post-login hooks run (as in Auth0): a post-login denial
    refuses the session, not the sign-up; refusing sign-ups is pre-user-registration's job.
    """
    method = registration_method(payload.get("method"), flow, ctx.tenant)
    await protection.before_signup(ctx)  # suspicious-IP throttling: every method, passkeys included
    passed_captcha = None
    if method.id == "password":  # a passkey is never asked; a refusal records its own `fs`
        passed_captcha = await protection.check_captcha(ctx, payload, action="signup", user_name=None)
    try:
        if method.id == "password":  # before the argon2 work; a passkey's were checked at its options
            signup_traits(ctx, normalize_email(payload.get("email")), payload)
        registered = await method.register(ctx, flow, payload)
        traits = signup_traits(ctx, registered.user.email, payload)
        registered = replace(registered, user=replace(registered.user, traits=traits))
        if require_proven(ctx, flow, registered.user.email) is not None:
            registered = replace(registered, user=replace(registered.user, email_verified=True))
        await _pre_user_registration(ctx, flow, registered, binding_token=binding_token)
        async with ctx.writing() as tx:
            if registered.complete is not None:
                await registered.complete(tx)
            if flow.email is not None and not await tx.complete_email_code(flow.id, now=ctx.now()):
                raise KeyturnError(code="email_code_expired", status=410)  # this proof made an account
            await tx.create_user(registered.user, passkey=registered.passkey)
            if ctx.tenant.verification.mode == "after_signup":
                await send_verification(ctx, tx, registered.user, binding=flow.binding_hash)
            ctx.record(
                EventType.SUCCESS_SIGNUP,
                user_id=registered.user.id,
                user_name=registered.user.email,
                details={"authentication_method": method.id, **(passed_captcha or {})},
            )
    except KeyturnError as error:
        ctx.record(EventType.FAILED_SIGNUP, details={"error": error.code, "authentication_method": method.id})
        metrics.SIGN_UPS.labels(method=method.id, result="failure").inc()
        if method.id == "passkey":
            metrics.CEREMONY_FAILURES.labels(code=error.code).inc()
        raise
    metrics.SIGN_UPS.labels(method=method.id, result="success").inc()
    authenticated = Authenticated(user=registered.user, method=registered.method)
    return await complete_sign_in(
        ctx, flow, authenticated, binding_token=binding_token, previous_session=previous_session
    )
