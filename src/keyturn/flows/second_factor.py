"""MFA policy and the second-factor step of a sign-in (issue 12).

`second_factor_needed` is the one rule for whether a sign-in must prove a second factor: the
tenant's `mfa.policy`, a client's override (`keyturn clients create --mfa`), a flow that
requires Auth0's MFA acr (step-up) (`domain.mfa.effective_policy`), and what the proofs so
far already show (a user-verified
passkey counts as two factors under `mfa.passkey_satisfies`; one without user verification
never does).

When it is needed, no session is issued: the login flow hands on to a flow of kind
"second_factor" (sealed, bound to the browser) carrying the first factor's proof, the OIDC
request it continues and where it goes; the session is made only once the second factor is
proved there (`complete_sign_in` with both proofs), or, for a user who must enroll one first,
once the new authenticator app's first code is right. Five wrong codes in a row block the
codes for that user for a while (`gd_otp_rate_limit_exceed`); a right one clears the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from keyturn.context import Context
from keyturn.domain.events import EventType
from keyturn.domain.flow import Flow
from keyturn.domain.identity import User
from keyturn.domain.mfa import effective_policy, passkey_satisfies
from keyturn.domain.oidc import Client
from keyturn.domain.session import AuthEvent, proves_mfa
from keyturn.domain.tenant import TenantSettings
from keyturn.errors import Forbidden, KeyturnError, RateLimited
from keyturn.flows import factors
from keyturn.flows.base import flow_token, start_flow
from keyturn.flows.parked import load_parked
from keyturn.flows.sessions import SignedIn, auth_event, complete_sign_in
from keyturn.methods import security_key, totp
from keyturn.methods.base import Authenticated
from keyturn.methods.registry import RECOVERY_CODE, SECURITY_KEY, TOTP
from keyturn.throttles import Rate

STEP_PATH = "/login/second-factor/"  # + the flow token
MAX_WRONG_CODES = 5
WRONG_CODES_RATE = Rate(MAX_WRONG_CODES, 15 * 60)  # five in a row, then a 15-minute block
MAX_CODE_CHARS = 64
MfaStep = Literal["verify", "enroll"]


def second_factor_needed(
    tenant: TenantSettings,
    client: Client | None,
    flow: Flow,
    proofs: tuple[AuthEvent, ...],
    *,
    enrolled: bool,
) -> MfaStep | None:
    """Whether this sign-in must still prove a second factor ("verify"), or first enroll one
    ("enroll"), or neither (None)."""
    if proves_mfa(proofs):
        return None
    policy = effective_policy(tenant, client, flow.requires)
    if policy == "never":
        return None
    if enrolled:
        return "verify"
    return "enroll" if policy == "required" else None


@dataclass(frozen=True)
class SecondFactorStep:
    """A sign-in that goes on to the second-factor page: no session yet, no cookie."""

    redirect_to: str


async def after_first_factor(
    ctx: Context, flow: Flow, authenticated: Authenticated, *, binding_token: str | None
) -> SecondFactorStep | None:
    """Where a verified first factor goes when policy asks for a second one (else None)."""
    user = authenticated.user
    parked = await load_parked(ctx, flow.authorization_request_id, binding_token=binding_token)
    client = parked.client if parked else None
    if effective_policy(ctx.tenant, client, flow.requires) == "never":
        return None  # no read of the user's factors on the common path
    satisfies = passkey_satisfies(ctx.tenant, client, flow.requires)
    proof = auth_event(authenticated, at=ctx.now(), passkey_satisfies=satisfies)
    found = await factors.factors_of(ctx, user)
    step = second_factor_needed(ctx.tenant, client, flow, (proof,), enrolled=found.enrolled)
    if step is None or binding_token is None:
        return None
    second = start_flow(
        ctx,
        "second_factor",
        binding_token=binding_token,
        methods=found.methods if step == "verify" else ("totp",),
        user_id=user.id,
        authorization_request_id=flow.authorization_request_id,
        return_to=flow.return_to,
        requires=flow.requires,
        proofs=(proof,),
    )
    if step == "verify":
        details = {"method": "otp" if "totp" in found.methods else "webauthn-roaming"}
        ctx.record(EventType.GD_START_AUTH, user_id=user.id, user_name=user.email, details=details)
    return SecondFactorStep(redirect_to=STEP_PATH + flow_token(ctx, second))


async def _user_of(ctx: Context, flow: Flow) -> User:
    user = await (await ctx.read()).get_user(flow.user_id or "")
    if user is None or not flow.proofs:
        raise Forbidden(code="flow_user_mismatch")
    return user


async def _check_not_blocked(ctx: Context, user: User) -> None:
    verdict = await ctx.rt.throttles.peek(WRONG_CODES_RATE, "mfa-code", user.id, reader=await ctx.read())
    if not verdict.allowed:
        ctx.record(
            EventType.GD_OTP_RATE_LIMIT, user_id=user.id, user_name=user.email, details={"method": "otp"}
        )
        raise RateLimited(code="too_many_second_factor_codes", retry_after=verdict.retry_after)


async def submit_code(
    ctx: Context, flow: Flow, *, code: object, binding_token: str | None, previous_session: str | None
) -> SignedIn:
    """The **Code** field: an authenticator app's six digits, else a recovery code."""
    user = await _user_of(ctx, flow)
    await _check_not_blocked(ctx, user)
    text = code if isinstance(code, str) and len(code) <= MAX_CODE_CHARS else ""
    method = TOTP if totp.looks_like_totp(text) else RECOVERY_CODE
    if method.id not in flow.methods:
        ctx.record(
            EventType.GD_AUTH_FAILED,
            user_id=user.id,
            user_name=user.email,
            details={"method": "otp", "error": "not_enrolled"},
        )
        await ctx.rt.throttles.hit(WRONG_CODES_RATE, "mfa-code", user.id)
        raise KeyturnError(code="invalid_second_factor_code", status=401)
    try:
        authenticated = await method.verify(ctx, flow, user=user, code=text)
    except KeyturnError:
        await ctx.rt.throttles.hit(WRONG_CODES_RATE, "mfa-code", user.id)
        raise
    await ctx.rt.throttles.clear(WRONG_CODES_RATE, "mfa-code", user.id)
    return await _finish(
        ctx, flow, authenticated, binding_token=binding_token, previous_session=previous_session
    )


async def security_key_options(ctx: Context, flow: Flow) -> dict[str, object]:
    """Request options naming only this user's security keys."""
    user = await _user_of(ctx, flow)
    if "security_key" not in flow.methods:
        raise KeyturnError(code="unknown_method")
    return await security_key.request_options(ctx, flow, user=user)


async def submit_security_key(
    ctx: Context, flow: Flow, *, credential: object, binding_token: str | None, previous_session: str | None
) -> SignedIn:
    user = await _user_of(ctx, flow)
    if "security_key" not in flow.methods:
        raise KeyturnError(code="unknown_method")
    authenticated = await SECURITY_KEY.verify(ctx, flow, user=user, credential=credential)
    return await _finish(
        ctx, flow, authenticated, binding_token=binding_token, previous_session=previous_session
    )


async def enroll_and_finish(
    ctx: Context,
    flow: Flow,
    *,
    token: object,
    code: object,
    binding_token: str | None,
    previous_session: str | None,
) -> SignedIn:
    """mfa.policy=required, a user without a second factor: the new app's first code both
    enrolls it and proves it, then the session is issued."""
    user = await _user_of(ctx, flow)
    found = await factors.factors_of(ctx, user)
    if found.enrolled:
        raise KeyturnError(code="totp_exists", status=409)
    await factors.confirm_totp(ctx, user, token=token, code=code, purpose="sign_in")
    authenticated = Authenticated(user=user, method="totp")
    return await _finish(
        ctx, flow, authenticated, binding_token=binding_token, previous_session=previous_session
    )


async def _finish(
    ctx: Context,
    flow: Flow,
    authenticated: Authenticated,
    *,
    binding_token: str | None,
    previous_session: str | None,
) -> SignedIn:
    user = authenticated.user
    method = "recovery-code" if authenticated.method == "recovery_code" else "otp"
    if authenticated.method == "security_key":
        method = "webauthn-roaming"
    ctx.record(EventType.GD_AUTH_SUCCEED, user_id=user.id, user_name=user.email, details={"method": method})
    return await complete_sign_in(
        ctx,
        flow,
        authenticated,
        binding_token=binding_token,
        previous_session=previous_session,
        earlier=flow.proofs,
    )
