"""The login flow: identifier-first, a discoverable passkey (button or autofill), or a password."""

from __future__ import annotations

from typing import Any

from keyturn import metrics
from keyturn.context import Context
from keyturn.domain.assurance import ACR_MFA
from keyturn.domain.email import normalize_email
from keyturn.domain.flow import Flow
from keyturn.errors import KeyturnError
from keyturn.flows import enrollment, protection, step_up
from keyturn.flows.second_factor import SecondFactorStep, after_first_factor
from keyturn.flows.sessions import SignedIn, complete_sign_in
from keyturn.methods.base import Payload
from keyturn.methods.passkey import request_options
from keyturn.methods.registry import LOGIN_METHODS, PASSKEY, login_method


def discoverable_options(ctx: Context, flow: Flow) -> dict[str, Any]:
    """For the passkey button and for autofill: no allowCredentials, the browser chooses.

    Every /login view asks for these (autofill), so they are counted in the metrics, not
    logged as events: the view costs no write, and the sign-in's own `s` or
    `passkey_challenge_failed` event records what the challenge was used for.
    """
    login_method(PASSKEY.id, flow, ctx.tenant)
    metrics.PASSKEY_CHALLENGES.labels(mode="discoverable").inc()
    return request_options(ctx, flow)


async def identify(ctx: Context, flow: Flow, *, email: object) -> dict[str, object]:
    """After Continue: what each offered method asks of this account.

    Unless the operator opted in to revealing accounts, every email gets the same shape of
    answer (a passkey request whenever passkeys are on, with a stable stand-in credential
    when the account has none or does not exist, and the password field whenever passwords
    are on), so the answer never tells whether the account exists.
    """
    address = normalize_email(email)
    user = await (await ctx.read()).find_user_by_email(address)
    answer: dict[str, object] = {"passkey": None, "password": False, "unknown_account": False}
    if user is None and ctx.tenant.login.reveal_account_existence:
        return {**answer, "unknown_account": True}
    for offered in flow.methods:
        method = LOGIN_METHODS[offered]
        if method.enabled(ctx.tenant):
            answer |= await method.identify(ctx, flow, address=address, user=user)
    # Whether the password step shows the widget: the address decides, never the account.
    answer["captcha"] = bool(answer["password"]) and await protection.captcha_required(ctx)
    return answer


async def submit_login(
    ctx: Context,
    flow: Flow,
    payload: Payload,
    *,
    binding_token: str | None,
    previous_session: str | None,
    device_choice: str | None = None,
) -> SignedIn | SecondFactorStep:
    """The chosen method verifies (and logs its own failures); the session is the flow's exit.
    Attack protection (`flows.protection`) counts around it: suspicious IPs for every method,
    brute force for passwords. When MFA policy asks for a second factor, the sign-in goes on
    to that step instead (`flows.second_factor`), with no session yet. A passkey may then be
    offered (`flows.enrollment`) when the page says this browser can create one
    (`can_create_passkey`); `device_choice` is this browser's answer to local enrollment."""
    method = login_method(payload.get("method"), flow, ctx.tenant)
    guard = await protection.before_login(ctx, method.id, payload)
    try:
        authenticated = await method.login(ctx, flow, payload)
    except KeyturnError as error:
        metrics.SIGN_INS.labels(method=method.id, result="failure").inc()
        if method.id == "passkey":
            metrics.CEREMONY_FAILURES.labels(code=error.code).inc()
        await protection.after_failure(ctx, guard, error)
        raise
    await protection.after_success(ctx, guard)
    # A step-up adds the proof to the browser's session: a passkey level at once; the MFA acr
    # after the second factor, unless the passkey satisfied it.
    if flow.requires is not None and flow.requires != ACR_MFA:
        return await step_up.complete_step_up(
            ctx, flow, authenticated, session_token=previous_session, binding_token=binding_token
        )
    second = await after_first_factor(ctx, flow, authenticated, binding_token=binding_token)
    if second is not None:
        return second
    if flow.requires is not None:
        return await step_up.complete_step_up(
            ctx, flow, authenticated, session_token=previous_session, binding_token=binding_token
        )
    signed_in = await complete_sign_in(
        ctx,
        flow,
        authenticated,
        binding_token=binding_token,
        previous_session=previous_session,
        details=guard.passed_captcha,
    )
    return await enrollment.offer_after_sign_in(
        ctx,
        flow,
        signed_in,
        authenticated,
        can_create=payload.get("can_create_passkey") is True,
        binding_token=binding_token,
        device_choice=device_choice,
    )
