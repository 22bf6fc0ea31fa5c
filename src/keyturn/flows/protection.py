"""Attack protection around the sign-in and sign-up flows, on the one throttles core.

- **Brute-force protection** (passwords only): failed passwords for one identifier from one
  address are counted (`bf`); the `max_attempts`-th failure blocks that pair (a
  `user_blocks` row, `limit_wc`, and an unblock link emailed to the account's owner). Unknown
  identifiers are counted and blocked the same way, with no email, so the answers never
  tell whether an account exists. A success clears the count. A passkey never meets it.
- **Captcha** (passwords only: password sign-up and sign-in, `always` or after N failed
  sign-ins from the address): the token is verified with the provider before anything is
  counted or checked, so a failure changes nothing; a provider that is down fails closed.
  A passkey never meets it.
- **Suspicious-IP throttling** (every method): per address, failed sign-ins across any
  accounts (`sip-login`) and sign-up attempts (`sip-signup`); over the limit, 429 with
  Retry-After. `limit_mu` / `limit_sul` are recorded once, when an address reaches its limit.

Counting is atomic across workers and instances (the throttles increment, then compare, in
one database transaction or one Redis script). An attempt is counted *before* the password
is verified, so concurrent guesses never get more than `max_attempts` verifications; and
the block row is written before the count is cleared, so a guess racing a new block sees
one or the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from keyturn.context import Context
from keyturn.defences import captcha as captcha_check
from keyturn.domain.blocks import UserBlock
from keyturn.domain.email import loose_identifier
from keyturn.domain.events import EventType
from keyturn.domain.tenant import CAPTCHA_SECRET_BINDING, AfterFailures, TenantSettings, in_allowlist
from keyturn.errors import KeyturnError, RateLimited, Unavailable
from keyturn.mail.outbox import send_later
from keyturn.mail.render import link
from keyturn.methods.base import Payload
from keyturn.sealing import b64, open_fields, seal_fields, to_seconds, unb64, unseal
from keyturn.throttles import Rate

BRUTE_FORCE_WINDOW_SECONDS = 24 * 3600  # failed passwords are counted over a sliding day
UNBLOCK_PURPOSE = "unblock"


def login_rate(tenant: TenantSettings) -> Rate:
    ip = tenant.attack_protection.suspicious_ip
    return Rate(ip.max_attempts, max(1, round(ip.max_attempts * ip.attempts_refill_seconds)))


def signup_rate(tenant: TenantSettings) -> Rate:
    ip = tenant.attack_protection.suspicious_ip
    return Rate(ip.max_signups, max(1, round(ip.max_signups * ip.signups_refill_seconds)))


def brute_force_rate(tenant: TenantSettings) -> Rate:
    return Rate(tenant.attack_protection.brute_force.max_attempts, BRUTE_FORCE_WINDOW_SECONDS)


def identifier_of(payload: Payload) -> str | None:
    """What brute-force protection counts: the normalised email, else the text as typed."""
    return loose_identifier(payload.get("email"))


def _throttled(ctx: Context) -> bool:
    ip = ctx.tenant.attack_protection.suspicious_ip
    return ip.enabled and not in_allowlist(ctx.requester.ip, ip.allowlist)


def _counts_for_captcha(ctx: Context) -> bool:
    return isinstance(ctx.tenant.attack_protection.captcha.when, AfterFailures)


def _blocked(block: UserBlock | None, ctx: Context) -> RateLimited:
    retry = None
    if block is not None and block.expires_at is not None:
        retry = max(1, int((block.expires_at - ctx.now()).total_seconds()))
    return RateLimited(code="too_many_attempts", retry_after=retry)


@dataclass(frozen=True)
class LoginGuard:
    """What `before_login` counted, for `after_failure` / `after_success`."""

    identifier: str | None = None  # counted by brute-force protection (passwords only)
    remaining: int = 0
    passed_captcha: dict[str, object] | None = None  # for the success event's details


async def before_login(ctx: Context, method_id: str, payload: Payload) -> LoginGuard:
    """Refuse an address over its failed-attempt limit, a blocked identifier and a missing or
    failed captcha (both passwords only)."""
    throttles = ctx.rt.throttles
    if _throttled(ctx):
        reader = await ctx.read()  # the sign-in reads in it next anyway
        verdict = await throttles.peek(login_rate(ctx.tenant), "sip-login", ctx.requester.ip, reader=reader)
        if not verdict.allowed:
            raise RateLimited(code="too_many_requests", retry_after=verdict.retry_after)
    if method_id != "password":
        return LoginGuard()
    brute = ctx.tenant.attack_protection.brute_force
    identifier = identifier_of(payload)
    counted = identifier is not None and brute.enabled and not in_allowlist(ctx.requester.ip, brute.allowlist)
    ip = ctx.requester.ip
    if counted and (block := await (await ctx.read()).find_block(identifier or "", ip, now=ctx.now())):
        raise _blocked(block, ctx)
    passed = await check_captcha(ctx, payload, action="login", user_name=identifier)
    if identifier is None or not counted:
        return LoginGuard(passed_captcha=passed)
    verdict = await throttles.hit(brute_force_rate(ctx.tenant), "bf", identifier, ip)
    if not verdict.allowed:  # a concurrent guess took the last attempt
        raise _blocked(await _block(ctx, identifier), ctx)
    if block := await (await ctx.read()).find_block(identifier, ip, now=ctx.now()):
        raise _blocked(block, ctx)  # blocked while this guess was being counted
    return LoginGuard(identifier=identifier, remaining=verdict.remaining, passed_captcha=passed)


async def after_failure(ctx: Context, guard: LoginGuard, error: KeyturnError) -> None:
    """Count the failure against the address; the last allowed wrong password blocks the pair."""
    if _throttled(ctx) or _counts_for_captcha(ctx):  # captcha after N failures counts here too
        rate = login_rate(ctx.tenant)
        verdict = await ctx.rt.throttles.hit(rate, "sip-login", ctx.requester.ip)
        if verdict.allowed and verdict.remaining == 0 and _throttled(ctx):
            ctx.record(EventType.BLOCKED_IP_LOGIN, details={"max_attempts": rate.limit})
    if guard.identifier is not None and error.code == "invalid_credentials" and guard.remaining == 0:
        raise _blocked(await _block(ctx, guard.identifier), ctx) from error


async def after_success(ctx: Context, guard: LoginGuard) -> None:
    if guard.identifier is not None:
        await ctx.rt.throttles.clear(brute_force_rate(ctx.tenant), "bf", guard.identifier, ctx.requester.ip)


async def before_signup(ctx: Context) -> None:
    """Count a sign-up attempt from this address (every method); refuse one over the limit."""
    if not _throttled(ctx):
        return
    rate = signup_rate(ctx.tenant)
    verdict = await ctx.rt.throttles.hit(rate, "sip-signup", ctx.requester.ip)
    if not verdict.allowed:
        raise RateLimited(code="too_many_requests", retry_after=verdict.retry_after)
    if verdict.remaining == 0:
        ctx.record(EventType.BLOCKED_IP_SIGNUP, details={"max_signups": rate.limit})


# --- captcha (passwords only) ------------------------------------------------------------


async def captcha_required(ctx: Context) -> bool:
    """Whether a password sign-in or sign-up from this address must pass the captcha now:
    `always`, or once the address has `after_failures` failed sign-ins (the suspicious-IP
    counter, which every failed sign-in hits)."""
    captcha = ctx.tenant.attack_protection.captcha
    if not captcha.on:
        return False
    if not isinstance(captcha.when, AfterFailures):
        return True
    rate = login_rate(ctx.tenant)
    verdict = await ctx.rt.throttles.peek(rate, "sip-login", ctx.requester.ip, reader=await ctx.read())
    return rate.limit - verdict.remaining >= captcha.when.after_failures


async def check_captcha(
    ctx: Context, payload: Payload, *, action: str, user_name: str | None
) -> dict[str, object] | None:
    """Verify the widget's token (`captcha` in the submission) with the provider, when one is
    required. A refusal is recorded (`f` at sign-in, `fs` at sign-up, with `details.captcha`)
    and raised before anything is counted or stored; a provider that does not answer fails closed.
    A pass returns what the success event records (`details.captcha`: provider, v3 score)."""
    if not await captcha_required(ctx):
        return None
    captcha = ctx.tenant.attack_protection.captcha
    token = payload.get("captcha")
    details: dict[str, object] = {"captcha": {"provider": captcha.provider}}
    try:
        if not isinstance(token, str) or not token:
            raise KeyturnError(code="captcha_required")
        try:
            secret = unseal(ctx.rt.kek, unb64(captcha.secret_sealed or ""), bound_to=CAPTCHA_SECRET_BINDING)
        except Exception:  # sealed under another KEK, or damaged: no verdict is possible
            raise Unavailable(code="captcha_unavailable", detail="captcha secret unsealable") from None
        try:
            verdict = await captcha_check.verify(
                captcha, secret=secret.decode(), token=token, remote_ip=ctx.requester.ip, action=action
            )
        except captcha_check.CaptchaUnavailable as down:
            details["captcha"] = {"provider": captcha.provider, "reason": "unavailable"}
            raise Unavailable(code="captcha_unavailable", detail=down.reason) from None
        details["captcha"] = {"provider": captcha.provider, "reason": verdict.reason, "score": verdict.score}
        if not verdict.passed:
            raise KeyturnError(code="captcha_failed", detail=verdict.reason)
        return details
    except KeyturnError as error:
        ctx.record(
            EventType.FAILED_LOGIN if action == "login" else EventType.FAILED_SIGNUP,
            user_name=user_name,
            details={"error": error.code, "authentication_method": "password", **details},
        )
        raise


# --- blocks ------------------------------------------------------------------------------


def unblock_token(ctx: Context, block: UserBlock) -> str:
    fields = {"i": block.identifier, "a": block.ip, "t": to_seconds(block.blocked_at)}
    return b64(seal_fields(ctx.rt.secrets.flow_key, fields, purpose=UNBLOCK_PURPOSE))


async def _block(ctx: Context, identifier: str) -> UserBlock:
    """Block the pair (once: concurrent callers agree on one block, one event, one email),
    then clear its count, so the attempts start afresh when the block ends."""
    ip, now = ctx.requester.ip, ctx.now()
    minutes = ctx.tenant.attack_protection.brute_force.block_minutes
    user = await (await ctx.read()).find_user_by_email(identifier)
    block = UserBlock(
        identifier=identifier,
        ip=ip,
        user_id=user.id if user else None,
        blocked_at=now,
        expires_at=now + timedelta(minutes=minutes) if minutes else None,
    )
    async with ctx.writing() as tx:
        if await tx.add_block(block):
            ctx.record(
                EventType.BLOCKED_ACCOUNT,
                user_id=block.user_id,
                user_name=identifier,
                details={"max_attempts": ctx.tenant.attack_protection.brute_force.max_attempts},
            )
            if user is not None:
                token = unblock_token(ctx, block)
                await send_later(
                    ctx,
                    tx,
                    "unblock",
                    to_address=user.email,
                    user_id=user.id,
                    link=link(ctx, f"/unblock?token={token}"),
                    ip=ip,
                    minutes=minutes,
                )
        else:
            block = await tx.find_block(identifier, ip, now=now) or block
    await ctx.rt.throttles.clear(brute_force_rate(ctx.tenant), "bf", identifier, ip)
    return block


async def check_unblock_link(ctx: Context, token: str) -> UserBlock:
    """The block an emailed link was sent for, while that very block lasts."""
    try:
        fields = open_fields(ctx.rt.secrets.flow_key, unb64(token), purpose=UNBLOCK_PURPOSE)
        identifier, ip, at = str(fields["i"]), str(fields["a"]), int(fields["t"])
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyturnError(code="unblock_link_invalid") from exc
    block = await (await ctx.read()).find_block(identifier, ip, now=ctx.now())
    if block is None or to_seconds(block.blocked_at) != at:
        raise KeyturnError(code="unblock_link_invalid")
    return block


async def unblock_with_link(ctx: Context, token: str) -> UserBlock:
    """The emailed link's button: remove the block it was sent for."""
    block = await check_unblock_link(ctx, token)
    await remove_block(ctx, block)
    return block


async def remove_block(ctx: Context, block: UserBlock) -> None:
    async with ctx.writing() as tx:
        await tx.remove_blocks(identifier=block.identifier, ip=block.ip)
    await ctx.rt.throttles.clear(brute_force_rate(ctx.tenant), "bf", block.identifier, block.ip)
