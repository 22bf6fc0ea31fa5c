"""Email verification, as `verification.mode` says:

- `after_signup` (the default): the account works at once; the sign-up's transaction also
  queues a message with a link and a 6-digit code (`svr`). Typing the code on /account
  (**Verification code**) or pressing the button behind the link sets `email_verified`
  (`sv`; a refusal `fv`). The link is not bound to a browser: any that can read the mail may.
- `before_signup`: sign-up first asks for the email and sends a code (`start_signup`); the
  passkey or password is created only on a flow the code proved (`prove_signup`), and the
  account is created verified. An address that has an account gets a "you already have an
  account" message instead of a code, after the same work and with the same answer, so
  sign-up no longer tells whether an address is taken.
- `off`: nothing is sent; `email_verified` stays what operators set.
"""

from __future__ import annotations

from dataclasses import replace

from keyturn.context import Context
from keyturn.domain.email import normalize_email
from keyturn.domain.email_code import EmailCode, EmailCodePurpose
from keyturn.domain.events import EventType
from keyturn.domain.flow import Flow
from keyturn.domain.identity import User
from keyturn.errors import KeyturnError
from keyturn.flows.email_codes import Then, issue_code, throttle_sending, use_code, use_link
from keyturn.flows.notices import notify_email_changed
from keyturn.mail.outbox import send_later
from keyturn.mail.render import link
from keyturn.store.protocols import WriteTx

VERIFY: EmailCodePurpose = "verify"
SIGNUP: EmailCodePurpose = "signup"


def _lifetime(ctx: Context) -> int:
    return ctx.tenant.verification.lifetime_seconds


async def _throttle(ctx: Context, address: str) -> None:
    refused = EventType.FAILED_VERIFICATION_EMAIL
    await throttle_sending(ctx, address, endpoint="verification.request", refused=refused)


# --- after sign-up -----------------------------------------------------------------------


async def send_verification(ctx: Context, tx: WriteTx, user: User, *, binding: str) -> None:
    """Queue a verification message in `tx` (a sign-up's, or a resend's); older codes end."""
    await tx.retire_email_codes(user.id, VERIFY, now=ctx.now())
    issued = await issue_code(
        ctx,
        tx,
        purpose=VERIFY,
        email=user.email,
        user_id=user.id,
        binding=binding,
        lifetime_seconds=_lifetime(ctx),
    )
    await send_later(
        ctx,
        tx,
        "verify_email",
        to_address=user.email,
        user_id=user.id,
        code=issued.secret,
        link=link(ctx, f"/verify?token={issued.link_token}"),
        minutes=_lifetime(ctx) // 60,
    )
    ctx.record(
        EventType.SUCCESS_VERIFICATION_EMAIL_REQUEST,
        user_id=user.id,
        user_name=user.email,
        details={"code_id": issued.code.id},
    )


async def resend_verification(ctx: Context, user: User, *, binding: str) -> None:
    """/account's **Send a new code** (throttled like every message asked for)."""
    if user.email_verified or ctx.tenant.verification.mode == "off":
        return
    await _throttle(ctx, user.email)
    async with ctx.writing() as tx:
        await send_verification(ctx, tx, user, binding=binding)


def _mark_verified(ctx: Context) -> Then:
    async def then(tx: WriteTx, code: EmailCode) -> None:
        owner = await tx.get_user(code.user_id or "")
        if owner is None or owner.email != code.email:  # the email changed since it was sent
            raise KeyturnError(code="email_link_invalid", status=410)
        await tx.update_profile(owner.id, name=None, email_verified=True, now=ctx.now())
        ctx.record(EventType.SUCCESS_VERIFICATION_EMAIL, user_id=owner.id, user_name=owner.email)

    return then


async def verify_with_code(ctx: Context, user: User, *, code: object) -> None:
    live = await (await ctx.read()).live_email_code(user.id, VERIFY, now=ctx.now())
    try:
        if live is None:
            raise KeyturnError(code="email_code_expired", status=410)
        await use_code(ctx, live.id, code, purpose=VERIFY, then_seconds=0, then=_mark_verified(ctx))
    except KeyturnError as error:
        ctx.record(
            EventType.FAILED_VERIFICATION_EMAIL,
            user_id=user.id,
            user_name=user.email,
            details={"error": error.code},
        )
        raise


async def verify_with_link(ctx: Context, *, token: object) -> None:
    """The link's POST, in any browser (it proves the mailbox, not the browser)."""
    try:
        await use_link(
            ctx,
            token,
            binding_token=None,
            purpose=VERIFY,
            then_seconds=0,
            bound=False,
            then=_mark_verified(ctx),
        )
    except KeyturnError as error:
        ctx.record(EventType.FAILED_VERIFICATION_EMAIL, details={"error": error.code})
        raise


# --- a change of email ---------------------------------------------------------------------

CHANGE: EmailCodePurpose = "change_email"


async def request_email_change(ctx: Context, user: User, *, new_email: str, binding: str) -> None:
    """A code to the new address (any earlier one ends); nothing changes until it is typed."""
    await _throttle(ctx, new_email)
    async with ctx.writing() as tx:
        await tx.retire_email_codes(user.id, CHANGE, now=ctx.now())
        issued = await issue_code(
            ctx,
            tx,
            purpose=CHANGE,
            email=new_email,
            user_id=user.id,
            binding=binding,
            lifetime_seconds=_lifetime(ctx),
        )
        await send_later(
            ctx,
            tx,
            "change_email_code",
            to_address=new_email,
            user_id=user.id,
            code=issued.secret,
            minutes=_lifetime(ctx) // 60,
        )
        ctx.record(
            EventType.SUCCESS_VERIFICATION_EMAIL_REQUEST,
            user_id=user.id,
            user_name=new_email,
            details={"code_id": issued.code.id, "purpose": "change_email"},
        )


async def pending_email_change(ctx: Context, user: User) -> str | None:
    live = await (await ctx.read()).live_email_code(user.id, CHANGE, now=ctx.now())
    return live.email if live else None


async def confirm_email_change(ctx: Context, user: User, *, code: object) -> str:
    """The typed code: the email changes (verified), and the old address is told."""
    live = await (await ctx.read()).live_email_code(user.id, CHANGE, now=ctx.now())

    async def then(tx: WriteTx, used: EmailCode) -> None:
        await tx.update_email(user.id, used.email, now=ctx.now())
        await tx.update_profile(user.id, name=None, email_verified=True, now=ctx.now())
        ctx.record(
            EventType.SUCCESS_CHANGE_EMAIL,
            user_id=user.id,
            user_name=used.email,
            details={"previous": user.email},
        )
        await notify_email_changed(ctx, tx, user, new_email=used.email)

    try:
        if live is None:
            raise KeyturnError(code="email_code_expired", status=410)
        used = await use_code(ctx, live.id, code, purpose=CHANGE, then_seconds=0, then=then)
    except KeyturnError as error:
        ctx.record(
            EventType.FAILED_VERIFICATION_EMAIL,
            user_id=user.id,
            user_name=user.email,
            details={"error": error.code, "purpose": "change_email"},
        )
        raise
    return used.email


# --- before sign-up ----------------------------------------------------------------------


def require_proven(ctx: Context, flow: Flow, address: str | None = None) -> str | None:
    """Under before_signup, the address the flow's code proved (and `address` must be it)."""
    if ctx.tenant.verification.mode != "before_signup":
        return None
    if flow.email is None or (address is not None and address != flow.email):
        raise KeyturnError(code="email_not_verified", status=403)
    return flow.email


async def start_signup(ctx: Context, flow: Flow, *, email: object) -> Flow:
    """Send the sign-up code (or, to an address with an account, the "you already have an
    account" message): the same statements, the same answer. The flow that waits for it."""
    if ctx.tenant.verification.mode != "before_signup":
        raise KeyturnError(code="invalid_request", detail="verification.mode is not before_signup")
    address = normalize_email(email)
    await _throttle(ctx, address)
    user = await (await ctx.read()).find_user_by_email(address)
    async with ctx.writing() as tx:
        issued = await issue_code(
            ctx,
            tx,
            purpose=SIGNUP,
            email=address,
            user_id=None,
            binding=flow.binding_hash,
            lifetime_seconds=_lifetime(ctx),
        )
        if user is None:
            await send_later(
                ctx, tx, "signup_code", to_address=address, code=issued.secret, minutes=_lifetime(ctx) // 60
            )
            ctx.record(
                EventType.SUCCESS_VERIFICATION_EMAIL_REQUEST,
                user_name=address,
                details={"code_id": issued.code.id, "mode": "before_signup"},
            )
        else:
            await send_later(
                ctx,
                tx,
                "account_exists",
                to_address=address,
                user_id=user.id,
                login=link(ctx, "/login"),
                recover=link(ctx, "/recovery"),
            )
            ctx.record(
                EventType.FAILED_SIGNUP,
                user_id=user.id,
                user_name=address,
                details={"error": "account_exists", "code_id": issued.code.id, "mode": "before_signup"},
            )
    return replace(flow, id=issued.code.id, email=None)


async def prove_signup(ctx: Context, flow: Flow, *, code: object) -> Flow:
    """The typed code: the flow the passkey or password may now be created on."""
    try:
        used = await use_code(
            ctx, flow.id, code, purpose=SIGNUP, then_seconds=ctx.settings.flow_lifespan_seconds
        )
    except KeyturnError as error:
        ctx.record(
            EventType.FAILED_VERIFICATION_EMAIL, details={"error": error.code, "mode": "before_signup"}
        )
        raise
    ctx.record(EventType.SUCCESS_VERIFICATION_EMAIL, user_name=used.email, details={"mode": "before_signup"})
    return replace(flow, email=used.email)
