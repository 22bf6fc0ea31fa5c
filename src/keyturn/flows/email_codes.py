"""Codes and links sent by email: issued in the transaction that queues their message, used
once, dead after expiry or `MAX_WRONG_CODES` wrong tries (`keyturn.domain.email_code`).

Recovery uses them now; verification and the change of email share them. Every check runs
with the code's row locked, so concurrent tries are counted one by one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from keyturn.context import Context
from keyturn.domain.email_code import CODE_DIGITS, MAX_WRONG_CODES, EmailCode, EmailCodePurpose
from keyturn.domain.events import EventType
from keyturn.errors import KeyturnError, RateLimited
from keyturn.flows.base import binding_hash
from keyturn.flows.rate_limits import limit
from keyturn.ids import constant_time_equal, hash_token, new_id, new_token
from keyturn.store.protocols import WriteTx

MAX_LINK_TOKEN = 128
Then = Callable[[WriteTx, EmailCode], Awaitable[None]]  # what an accepted code does, in its transaction


@dataclass(frozen=True)
class Issued:
    code: EmailCode
    secret: str  # the 6-digit code the message shows
    link_token: str  # what the message's link carries


async def throttle_sending(ctx: Context, address: str, *, endpoint: str, refused: EventType) -> None:
    """Count a message asked for (per IP and per address, by the endpoint's rate limits);
    refuse, and record `refused`, over a rate."""
    try:
        await limit(ctx, endpoint, identifier=address)
    except RateLimited:
        ctx.record(refused, user_name=address, details={"error": "too_many_requests", "limit": endpoint})
        raise


def _code_hash(ctx: Context, code_id: str, code: str) -> str:
    """HMAC under a key derived from the KEK (outside the database), bound to the row."""
    key = hmac.new(ctx.rt.kek, b"keyturn email code", hashlib.sha256).digest()
    return hmac.new(key, f"{code_id}:{code}".encode(), hashlib.sha256).hexdigest()


async def issue_code(
    ctx: Context,
    tx: WriteTx,
    *,
    purpose: EmailCodePurpose,
    email: str,
    user_id: str | None,
    binding: str,
    lifetime_seconds: int,
) -> Issued:
    """A new code and link for `email`, stored in `tx` (the caller queues the message there)."""
    now = ctx.now()
    code_id = new_id()
    secret = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    link_token = new_token()
    code = EmailCode(
        id=code_id,
        purpose=purpose,
        user_id=user_id,
        email=email,
        code_hash=_code_hash(ctx, code_id, secret),
        link_hash=hash_token(link_token),
        binding_hash=binding,
        attempts=0,
        created_at=now,
        expires_at=now + timedelta(seconds=lifetime_seconds),
    )
    await tx.create_email_code(code)
    return Issued(code=code, secret=secret, link_token=link_token)


def _typed(code: object) -> str:
    return "".join(code.split()) if isinstance(code, str) else ""


async def use_code(
    ctx: Context,
    code_id: str,
    typed: object,
    *,
    purpose: EmailCodePurpose,
    then_seconds: int,
    then: Then | None = None,
) -> EmailCode:
    """Accept the typed code for `code_id`, or count a wrong try (kept) and refuse. What the
    code allows must then be done within `then_seconds`. Tries are rate-limited (the `email_code`
    group: per client address across every code, and per code)."""
    await limit(ctx, "email_code.submit", identifier=code_id)
    now = ctx.now()
    attempts = 0
    async with ctx.writing() as tx:
        stored = await tx.lock_email_code(code_id)
        if stored is None or stored.purpose != purpose or not stored.usable(now):
            outcome = "expired"
        elif not constant_time_equal(_code_hash(ctx, stored.id, _typed(typed)), stored.code_hash):
            attempts = await tx.count_wrong_code(stored.id)
            outcome = "wrong" if attempts < MAX_WRONG_CODES else "expired"
        else:
            return await _accept(tx, stored, now=now, then_seconds=then_seconds, then=then)
    if outcome == "wrong":
        raise KeyturnError(code="email_code_wrong", left=MAX_WRONG_CODES - attempts)
    raise KeyturnError(code="email_code_expired", status=410)


async def _accept(
    tx: WriteTx, stored: EmailCode, *, now: datetime, then_seconds: int, then: Then | None
) -> EmailCode:
    """The code or link is good: mark it used (what it allows must be done within
    `then_seconds`) and run `then` in the same transaction."""
    until = now + timedelta(seconds=then_seconds)
    await tx.use_email_code(stored.id, now=now, expires_at=until)
    used = replace(stored, used_at=now, expires_at=until)
    if then is not None:
        await then(tx, used)
    return used


async def use_link(
    ctx: Context,
    token: object,
    *,
    binding_token: str | None,
    purpose: EmailCodePurpose,
    then_seconds: int,
    bound: bool = True,
    then: Then | None = None,
) -> EmailCode:
    """Accept a link's token, when `bound` in the browser that asked for it only (others are
    told to type the code there); nothing changes when it is refused."""
    now = ctx.now()
    if not isinstance(token, str) or not token or len(token) > MAX_LINK_TOKEN:
        raise KeyturnError(code="email_link_invalid", status=410)
    async with ctx.writing() as tx:
        stored = await tx.lock_email_code_by_link(hash_token(token))
        if stored is None or stored.purpose != purpose or not stored.usable(now):
            outcome = "invalid"
        elif bound and (
            binding_token is None or not constant_time_equal(binding_hash(binding_token), stored.binding_hash)
        ):
            outcome = "other_browser"
        else:
            return await _accept(tx, stored, now=now, then_seconds=then_seconds, then=then)
    if outcome == "other_browser":
        raise KeyturnError(code="email_link_other_browser", status=403)
    raise KeyturnError(code="email_link_invalid", status=410)
