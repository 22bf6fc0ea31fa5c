"""Account recovery ("Can't sign in?"): an email proves the address, then the account gets one
new way to sign in, and that sign-in is the session.

1. `request_recovery`: the same work whatever the address (throttled per address and per IP):
   a code row, a queued message and an event, in one transaction. A known address gets a
   link and a 6-digit code (`recovery` mail, `scpr`); an unknown one a message saying there
   is no account for it (`recovery_unknown`, `fcpr`). The page shown is the same.
2. `use_code` (typed on that page) or `use_link` (a POST from the confirm page the link's GET
   shows, in the browser that asked) accepts it once, and opens a `recovered` flow: it
   allows one thing only, adding a way to sign in (a passkey, offered first, or a password).
3. `complete_recovery`: the new credential, the end of the recovery (once), the sign-out of
   every other session and the revocation of the user's grants and refresh tokens (when
   asked, the default), the notification, and the new session are one transaction; the
   session's `amr` is what was created.

The flow knows no method: what it adds is any `EnrollmentMethod` of the registry.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from keyturn.context import Context
from keyturn.domain.email import normalize_email
from keyturn.domain.email_code import EmailCode, EmailCodePurpose
from keyturn.domain.events import EventType
from keyturn.domain.flow import Flow
from keyturn.domain.identity import User
from keyturn.errors import KeyturnError
from keyturn.flows.email_codes import issue_code, throttle_sending, use_code, use_link
from keyturn.flows.notices import notify_recovered
from keyturn.flows.second_factor import SecondFactorStep, after_first_factor
from keyturn.flows.sessions import SignedIn, complete_sign_in
from keyturn.mail.outbox import send_later
from keyturn.mail.render import link
from keyturn.methods.base import Authenticated, Payload, require_enabled
from keyturn.methods.passkey import creation_options, passkeys_below_limit
from keyturn.methods.registry import PASSKEY, enrollment_method, offered_enrollment
from keyturn.store.protocols import WriteTx

PURPOSE: EmailCodePurpose = "recovery"


def require_recovery(ctx: Context) -> None:
    if not ctx.tenant.recovery.enabled:
        raise KeyturnError(code="recovery_disabled", status=403)


async def _throttle(ctx: Context, address: str) -> None:
    refused = EventType.FAILED_CHANGE_PASSWORD_REQUEST
    await throttle_sending(ctx, address, endpoint="recovery.request", refused=refused)


async def request_recovery(ctx: Context, flow: Flow, *, email: object) -> Flow:
    """Queue the recovery message (or the no-account one); the flow of the page that waits for
    its code. Known and unknown addresses cost the same statements and get the same page."""
    require_recovery(ctx)
    address = normalize_email(email)
    await _throttle(ctx, address)
    user = await (await ctx.read()).find_user_by_email(address)
    lifetime = ctx.tenant.recovery.lifetime_seconds
    async with ctx.writing() as tx:
        issued = await issue_code(
            ctx,
            tx,
            purpose=PURPOSE,
            email=address,
            user_id=user.id if user else None,
            binding=flow.binding_hash,
            lifetime_seconds=lifetime,
        )
        if user is not None:
            await send_later(
                ctx,
                tx,
                "recovery",
                to_address=address,
                user_id=user.id,
                code=issued.secret,
                link=link(ctx, f"/recovery/link?token={issued.link_token}"),
                minutes=lifetime // 60,
            )
            ctx.record(
                EventType.SUCCESS_CHANGE_PASSWORD_REQUEST,
                user_id=user.id,
                user_name=address,
                details={"code_id": issued.code.id},
            )
        else:
            await send_later(
                ctx,
                tx,
                "recovery_unknown",
                to_address=address,
                signup=link(ctx, "/signup"),
                minutes=lifetime // 60,
            )
            ctx.record(
                EventType.FAILED_CHANGE_PASSWORD_REQUEST,
                user_name=address,
                details={"error": "unknown_email", "code_id": issued.code.id},
            )
    return replace(flow, id=issued.code.id)


def _recovered(ctx: Context, code: EmailCode) -> Flow:
    assert code.user_id is not None
    return Flow(
        id=code.id,
        kind="recovered",
        binding_hash=code.binding_hash,
        created_at=ctx.now().replace(microsecond=0),
        expires_at=code.expires_at,
        methods=offered_enrollment(ctx.tenant),
        user_id=code.user_id,
    )


def _refused(ctx: Context, error: KeyturnError, *, code_id: str) -> KeyturnError:
    ctx.record(EventType.FAILED_CHANGE_PASSWORD_REQUEST, details={"error": error.code, "code_id": code_id})
    return error


async def recover_with_code(ctx: Context, flow: Flow, *, code: object) -> Flow:
    """The code typed on the waiting page (`flow` is that page's): the recovered flow."""
    require_recovery(ctx)
    lifetime = ctx.tenant.recovery.lifetime_seconds
    try:
        used = await use_code(ctx, flow.id, code, purpose=PURPOSE, then_seconds=lifetime)
    except KeyturnError as error:
        raise _refused(ctx, error, code_id=flow.id) from None
    if used.user_id is None:  # a code no message carried (the address has no account)
        raise _refused(ctx, KeyturnError(code="email_code_expired", status=410), code_id=flow.id)
    return _recovered(ctx, used)


async def recover_with_link(ctx: Context, *, token: object, binding_token: str | None) -> Flow:
    """The link's token, posted from its confirm page in the browser that asked."""
    require_recovery(ctx)
    lifetime = ctx.tenant.recovery.lifetime_seconds
    try:
        used = await use_link(ctx, token, binding_token=binding_token, purpose=PURPOSE, then_seconds=lifetime)
    except KeyturnError as error:
        ctx.record(EventType.FAILED_CHANGE_PASSWORD_REQUEST, details={"error": error.code})
        raise
    if used.user_id is None:
        raise KeyturnError(code="email_link_invalid", status=410)
    return _recovered(ctx, used)


async def recovered_user(ctx: Context, flow: Flow) -> User:
    """The account a recovered flow is for, while its one change is still to be made."""
    reader = await ctx.read()
    code = await reader.get_email_code(flow.id)
    user = await reader.get_user(flow.user_id or "")
    if code is None or code.used_at is None or code.completed_at is not None or code.expires_at <= ctx.now():
        raise KeyturnError(code="recovery_done", status=410)
    if user is None or code.user_id != user.id:
        raise KeyturnError(code="recovery_done", status=410)
    return user


async def passkey_options(ctx: Context, flow: Flow) -> dict[str, Any]:
    """Creation options for the recovered account's new passkey (its others excluded)."""
    user = await recovered_user(ctx, flow)
    require_enabled(ctx.tenant, PASSKEY)
    existing = await passkeys_below_limit(ctx, user)
    return creation_options(
        ctx,
        flow,
        user_handle=user.user_handle,
        email=user.email,
        existing=existing,
        user_id=user.id,
        traits=user.traits,
    )


async def complete_recovery(
    ctx: Context, flow: Flow, payload: Payload, *, binding_token: str | None, previous_session: str | None
) -> SignedIn | SecondFactorStep:
    """Add the chosen way to sign in, end the recovery, and sign in with it (through the
    second-factor step first when MFA policy asks for one)."""
    user = await recovered_user(ctx, flow)
    method = enrollment_method(payload.get("method"), flow, ctx.tenant)
    enrolled = await method.enroll(ctx, flow, user=user, payload=payload, purpose=PURPOSE)
    sign_out_others = payload.get("sign_out_others", True) is not False

    async def complete(tx: WriteTx) -> None:
        now = ctx.now()
        if not await tx.complete_email_code(flow.id, now=now):
            raise KeyturnError(code="recovery_done", status=410)
        await enrolled.complete(tx)
        if sign_out_others:
            await tx.delete_user_sessions(user.id)
            await tx.revoke_user_grants(user.id, now=now)
        await notify_recovered(ctx, tx, user, added=enrolled.method, signed_out_others=sign_out_others)

    # What was proved is the mailbox, and a credential made a moment ago: never two factors
    # (user_verified=False), so a recovery cannot skip the second factor MFA policy asks for.
    proof = Authenticated(user=user, method=enrolled.method, user_verified=False)
    second = await after_first_factor(ctx, flow, proof, binding_token=binding_token)
    if second is not None:
        async with ctx.writing() as tx:
            await complete(tx)  # the recovery is done and the credential added; no session yet
        return second
    authenticated = Authenticated(user=user, method=enrolled.method, complete=complete)
    return await complete_sign_in(
        ctx, flow, authenticated, binding_token=binding_token, previous_session=previous_session
    )
